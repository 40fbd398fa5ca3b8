/* test_json_schema.c — the JSON Schema subset evaluator (common/json_schema.c) and the error
 * record helpers (common/of_error.c). */
#include <stdlib.h>

#include "json_schema.h"
#include "of_test.h"

#define TEST_ID "https://orderflow.test/schemas/t.json"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fprintf(stderr, "test JSON does not parse: %s: %s\n", text, jerr.text);
    return v;
}

/* Adds schema_text (given TEST_ID as $id when it has none) to a fresh registry and validates
 * inst_text against it. Returns "ok", the validation message, or "ADD: " + the add error. */
static const char *run(const char *schema_text, const char *inst_text)
{
    static char out[OF_ERROR_MAX + 8];
    json_t *schema = parse(schema_text);
    json_t *inst = parse(inst_text);
    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    if (!schema || !inst || !reg) {
        snprintf(out, sizeof out, "setup failed");
    } else {
        if (json_is_object(schema) && !json_object_get(schema, "$id"))
            json_object_set_new(schema, "$id", json_string(TEST_ID));
        if (of_schema_registry_add(reg, schema, &err) != 0)
            snprintf(out, sizeof out, "ADD: %s", err.msg);
        else if (of_schema_validate(reg, schema, inst, &err))
            snprintf(out, sizeof out, "ok");
        else
            snprintf(out, sizeof out, "%s", err.msg);
    }
    of_schema_registry_free(reg);
    json_decref(schema);
    json_decref(inst);
    return out;
}

/* The add error for schema_text, or "added". */
static const char *add_error(const char *schema_text)
{
    static char out[OF_ERROR_MAX];
    json_t *schema = parse(schema_text);
    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    if (!schema || !reg)
        snprintf(out, sizeof out, "setup failed");
    else if (of_schema_registry_add(reg, schema, &err) != 0)
        snprintf(out, sizeof out, "%s", err.msg);
    else
        snprintf(out, sizeof out, "added");
    of_schema_registry_free(reg);
    json_decref(schema);
    return out;
}

static void test_of_error(void)
{
    of_error err = {{0}};
    CHECK(of_error_set(&err, "x=%d", 5) == -1);
    CHECK_STR(err.msg, "x=5");
    of_error_prefix(&err, "ctx %s", "a");
    CHECK_STR(err.msg, "ctx a: x=5");
    CHECK(of_error_set(NULL, "nothing %d", 1) == -1);
    of_error_prefix(NULL, "nothing");

    char big[OF_ERROR_MAX * 2];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    of_error_set(&err, "%s", big);
    CHECK(strlen(err.msg) == OF_ERROR_MAX - 1);
    of_error_prefix(&err, "p");
    CHECK(strlen(err.msg) == OF_ERROR_MAX - 1);
    CHECK(strncmp(err.msg, "p: zzz", 6) == 0);
}

static void test_type(void)
{
    CHECK_STR(run("{\"type\":\"string\"}", "\"a\""), "ok");
    CHECK_STR(run("{\"type\":\"string\"}", "1"), "(event): must be a string");
    CHECK_STR(run("{\"type\":\"object\"}", "{}"), "ok");
    CHECK_STR(run("{\"type\":\"object\"}", "[]"), "(event): must be an object");
    CHECK_STR(run("{\"type\":\"array\"}", "[]"), "ok");
    CHECK_STR(run("{\"type\":\"array\"}", "{}"), "(event): must be an array");
    CHECK_STR(run("{\"type\":\"boolean\"}", "false"), "ok");
    CHECK_STR(run("{\"type\":\"boolean\"}", "0"), "(event): must be a boolean");
    CHECK_STR(run("{\"type\":\"null\"}", "null"), "ok");
    CHECK_STR(run("{\"type\":\"null\"}", "false"), "(event): must be null");
    CHECK_STR(run("{\"type\":[\"string\",\"null\"]}", "null"), "ok");
    CHECK_STR(run("{\"type\":[\"string\",\"null\"]}", "\"x\""), "ok");
    CHECK_STR(run("{\"type\":[\"string\",\"null\"]}", "3"), "(event): must be a string or null");
}

static void test_integer_and_number(void)
{
    CHECK_STR(run("{\"type\":\"integer\"}", "3"), "ok");
    CHECK_STR(run("{\"type\":\"integer\"}", "-3"), "ok");
    CHECK_STR(run("{\"type\":\"integer\"}", "3.0"), "ok"); /* like ajv */
    CHECK_STR(run("{\"type\":\"integer\"}", "1e300"), "ok");
    CHECK_STR(run("{\"type\":\"integer\"}", "3.5"), "(event): must be an integer");
    CHECK_STR(run("{\"type\":\"integer\"}", "-0.25"), "(event): must be an integer");
    CHECK_STR(run("{\"type\":\"integer\"}", "\"3\""), "(event): must be an integer");
    CHECK_STR(run("{\"type\":\"number\"}", "3"), "ok");
    CHECK_STR(run("{\"type\":\"number\"}", "3.25"), "ok");
    CHECK_STR(run("{\"type\":\"number\"}", "\"3\""), "(event): must be a number");
    CHECK_STR(run("{\"type\":\"number\"}", "true"), "(event): must be a number");
}

/* keys with an embedded NUL (jansson's parser refuses them, but its API allows them) are not
 * confused with their prefix */
static void test_nul_keys(void)
{
    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    json_t *schema = parse("{\"$id\":\"nul.json\",\"required\":[\"a\"],"
                           "\"properties\":{\"a\":{}},\"additionalProperties\":false}");
    CHECK(of_schema_registry_add(reg, schema, &err) == 0);
    json_t *inst = json_object();
    json_object_setn_new(inst, "a\0b", 3, json_integer(1));
    CHECK(!of_schema_validate(reg, schema, inst, &err));
    CHECK_STR(err.msg, "(event): missing required field 'a'");
    json_object_set_new(inst, "a", json_integer(1));
    CHECK(!of_schema_validate(reg, schema, inst, &err));
    CHECK_STR(err.msg, "(event): unexpected field 'a\\u0000b'");
    json_decref(inst);
    json_decref(schema);
    of_schema_registry_free(reg);
}

static void test_properties_required_additional(void)
{
    const char *s = "{\"type\":\"object\",\"required\":[\"order_id\",\"amount\"],"
                    "\"properties\":{\"order_id\":{\"type\":\"string\"},"
                    "\"amount\":{\"type\":\"integer\"}},\"additionalProperties\":false}";
    CHECK_STR(run(s, "{\"order_id\":\"o1\",\"amount\":5}"), "ok");
    CHECK_STR(run(s, "{\"amount\":5}"), "(event): missing required field 'order_id'");
    /* required is reported before a neighbour's details */
    CHECK_STR(run(s, "{\"order_id\":1}"), "(event): missing required field 'amount'");
    CHECK_STR(run(s, "{\"order_id\":1,\"amount\":5}"), "order_id: must be a string");
    CHECK_STR(run(s, "{\"order_id\":\"o\",\"amount\":5,\"ammount\":5}"),
              "(event): unexpected field 'ammount'");
    /* properties and required do not apply to non-objects (type does) */
    CHECK_STR(run("{\"required\":[\"a\"],\"properties\":{\"a\":false}}", "[1]"), "ok");
    /* absent optional property is fine; present false-schema property is not */
    CHECK_STR(run("{\"properties\":{\"a\":false}}", "{}"), "ok");
    CHECK_STR(run("{\"properties\":{\"a\":false}}", "{\"a\":1}"), "a: is not allowed");
    CHECK_STR(run("{\"properties\":{\"a\":true}}", "{\"a\":1}"), "ok");

    /* additionalProperties as a schema */
    const char *m = "{\"properties\":{\"id\":{\"type\":\"string\"}},"
                    "\"additionalProperties\":{\"type\":\"integer\"}}";
    CHECK_STR(run(m, "{\"id\":\"x\",\"a\":1,\"b\":2}"), "ok");
    CHECK_STR(run(m, "{\"id\":\"x\",\"a\":1,\"b\":\"2\"}"), "b: must be an integer");
    CHECK_STR(run("{\"additionalProperties\":true}", "{\"x\":1}"), "ok");
    CHECK_STR(run("{\"additionalProperties\":false}", "{}"), "ok");
    CHECK_STR(run("{\"additionalProperties\":false}", "{\"x\":1}"),
              "(event): unexpected field 'x'");

    test_nul_keys();
}

static void test_paths(void)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"data\":{\"type\":\"object\","
                    "\"required\":[\"order_id\"],\"properties\":{\"items\":{\"type\":\"array\","
                    "\"items\":{\"type\":\"object\",\"properties\":{\"qty\":{\"type\":"
                    "\"integer\",\"minimum\":1}}}}}}}}";
    CHECK_STR(run(s, "{\"data\":{\"order_id\":\"o\",\"items\":[{\"qty\":1},{\"qty\":0}]}}"),
              "data.items[1].qty: must be >= 1");
    CHECK_STR(run(s, "{\"data\":{\"items\":[]}}"), "data: missing required field 'order_id'");
    CHECK_STR(run(s, "{\"data\":{\"order_id\":\"o\",\"items\":[{\"qty\":\"1\"}]}}"),
              "data.items[0].qty: must be an integer");
    CHECK_STR(run("{\"items\":{\"type\":\"integer\"}}", "[1,\"x\"]"), "[1]: must be an integer");
    CHECK_STR(run("{\"items\":{\"items\":{\"type\":\"string\"}}}", "[[\"a\"],[\"b\",2]]"),
              "[1][1]: must be a string");
    /* control characters in an instance key are escaped in the path */
    CHECK_STR(run("{\"additionalProperties\":{\"type\":\"string\"}}", "{\"a\\nb\":1}"),
              "a\\nb: must be a string");
}

static void test_items(void)
{
    const char *s = "{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"
                    "\"items\":{\"type\":\"string\"}}";
    CHECK_STR(run(s, "[\"a\"]"), "ok");
    CHECK_STR(run(s, "[\"a\",\"b\",\"c\"]"), "ok");
    CHECK_STR(run(s, "[]"), "(event): must have at least 1 item(s)");
    CHECK_STR(run(s, "[\"a\",\"b\",\"c\",\"d\"]"), "(event): must have at most 3 item(s)");
    CHECK_STR(run(s, "[\"a\",5]"), "[1]: must be a string");
    CHECK_STR(run("{\"items\":false}", "[]"), "ok");
    CHECK_STR(run("{\"items\":false}", "[1]"), "[0]: is not allowed");
    CHECK_STR(run("{\"minItems\":2}", "\"not an array\""), "ok");
}

static void test_enum_const(void)
{
    const char *s = "{\"enum\":[\"alipay\",\"bank\",\"balance\"]}";
    CHECK_STR(run(s, "\"bank\""), "ok");
    CHECK_STR(run(s, "\"cash\""), "(event): must be one of: alipay, bank, balance (got \"cash\")");
    CHECK_STR(run(s, "3"), "(event): must be one of: alipay, bank, balance (got 3)");
    CHECK_STR(run("{\"enum\":[1,\"a\",null]}", "null"), "ok");
    CHECK_STR(run("{\"enum\":[1,\"a\",null]}", "1.0"), "ok");
    CHECK_STR(run("{\"enum\":[1,\"a\",null]}", "false"),
              "(event): must be one of: 1, a, null (got false)");
    CHECK_STR(run("{\"enum\":[{\"a\":[1,2]}]}", "{\"a\":[1,2.0]}"), "ok");
    CHECK_STR(run("{\"enum\":[{\"a\":[1,2]}]}", "{\"a\":[1,2],\"b\":1}"),
              "(event): must be one of: {\"a\":[1,2]} (got {\"a\":[1,2],\"b\":1})");

    CHECK_STR(run("{\"const\":\"1.0\"}", "\"1.0\""), "ok");
    CHECK_STR(run("{\"const\":\"1.0\"}", "\"1.1\""), "(event): must be \"1.0\"");
    CHECK_STR(run("{\"const\":\"1.0\"}", "1.0"), "(event): must be \"1.0\"");
    CHECK_STR(run("{\"const\":1}", "1.0"), "ok"); /* like ajv */
    CHECK_STR(run("{\"const\":1.0}", "1"), "ok");
    CHECK_STR(run("{\"const\":1}", "2"), "(event): must be 1");
    CHECK_STR(run("{\"const\":0.1}", "0.2"), "(event): must be 0.1");
    CHECK_STR(run("{\"const\":null}", "null"), "ok");
    CHECK_STR(run("{\"const\":true}", "false"), "(event): must be true");
    CHECK_STR(run("{\"const\":[1,{\"x\":\"y\"}]}", "[1.0,{\"x\":\"y\"}]"), "ok");
    CHECK_STR(run("{\"const\":[1,{\"x\":\"y\"}]}", "[1,{\"x\":\"z\"}]"),
              "(event): must be [1,{\"x\":\"y\"}]");
    CHECK_STR(run("{\"const\":[1,2]}", "[1]"), "(event): must be [1,2]");
    CHECK_STR(run("{\"const\":\"a\\u0000b\"}", "\"a\\u0000c\""), "(event): must be \"a\\u0000b\"");
    CHECK_STR(run("{\"const\":\"a\\u0000b\"}", "\"a\\u0000b\""), "ok");
}

static void test_string_lengths(void)
{
    const char *s = "{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}";
    CHECK_STR(run(s, "\"x\""), "ok");
    CHECK_STR(run(s, "\"\""), "(event): must be at least 1 character(s) long");
    char inst[80];
    memset(inst, 'a', sizeof inst);
    inst[0] = '"';
    inst[66] = '"';
    inst[67] = '\0';
    CHECK_STR(run(s, inst), "(event): must be at most 64 characters long");
    inst[65] = '"';
    inst[66] = '\0';
    CHECK_STR(run(s, inst), "ok");
    /* code points, not bytes: "支付宝" is 3 code points in 9 bytes; U+1F600 is 4 bytes */
    CHECK_STR(run("{\"maxLength\":3}", "\"\xe6\x94\xaf\xe4\xbb\x98\xe5\xae\x9d\""), "ok");
    CHECK_STR(run("{\"minLength\":4}", "\"\xe6\x94\xaf\xe4\xbb\x98\xe5\xae\x9d\""),
              "(event): must be at least 4 character(s) long");
    CHECK_STR(run("{\"maxLength\":2}", "\"\\ud83d\\ude00\xc3\xa9\""), "ok");
    CHECK_STR(run("{\"maxLength\":1}", "\"\\ud83d\\ude00\xc3\xa9\""),
              "(event): must be at most 1 characters long");
    CHECK_STR(run("{\"minLength\":5}", "5"), "ok");
}

static void test_numbers(void)
{
    CHECK_STR(run("{\"minimum\":1}", "1"), "ok");
    CHECK_STR(run("{\"minimum\":1}", "0.5"), "(event): must be >= 1");
    CHECK_STR(run("{\"minimum\":0.01}", "0.001"), "(event): must be >= 0.01");
    CHECK_STR(run("{\"maximum\":10}", "10.0"), "ok");
    CHECK_STR(run("{\"maximum\":10}", "11"), "(event): must be <= 10");
    CHECK_STR(run("{\"maximum\":2.5}", "3"), "(event): must be <= 2.5");
    CHECK_STR(run("{\"exclusiveMinimum\":0}", "0.0001"), "ok");
    CHECK_STR(run("{\"exclusiveMinimum\":0}", "0"), "(event): must be > 0");
    CHECK_STR(run("{\"exclusiveMinimum\":0}", "-1.5"), "(event): must be > 0");
    CHECK_STR(run("{\"minimum\":1}", "\"0\""), "ok");
}

static void test_patterns(void)
{
    const char *s = "{\"type\":\"string\",\"pattern\":\"^[0-9]+[.][0-9]{2}$\"}";
    CHECK_STR(run(s, "\"15.00\""), "ok");
    CHECK_STR(run(s, "\"abc\""),
              "(event): does not match pattern ^[0-9]+[.][0-9]{2}$ (got \"abc\")");
    CHECK_STR(run(s, "\"15.00\\u0000\""),
              "(event): does not match pattern ^[0-9]+[.][0-9]{2}$ (got \"15.00\\u0000\")");
    /* unanchored patterns search, as in ECMA-262 */
    CHECK_STR(run("{\"pattern\":\"b+\"}", "\"abbc\""), "ok");
    CHECK_STR(run("{\"pattern\":\"^(ab|cd)*x?$\"}", "\"abcdab\""), "ok");
    CHECK_STR(run("{\"pattern\":\"^(ab|cd)*x?$\"}", "\"abc\""),
              "(event): does not match pattern ^(ab|cd)*x?$ (got \"abc\")");
    CHECK_STR(run("{\"pattern\":\"^a\\\\.b\\\\/c$\"}", "\"a.b/c\""), "ok");
    CHECK_STR(run("{\"pattern\":\"^a\\\\.b$\"}", "\"axb\""),
              "(event): does not match pattern ^a\\.b$ (got \"axb\")");
    CHECK_STR(run("{\"pattern\":\"^x$\"}", "5"), "ok");
    /* a class consumes one code point (ajv's unicode RegExp), not one byte */
    CHECK_STR(run("{\"pattern\":\"^[^,]{1,3}$\"}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\""), "ok");
    CHECK_STR(
        run("{\"pattern\":\"^[^,]{1,3}$\"}", "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\""),
        "(event): does not match pattern ^[^,]{1,3}$ (got \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\")");

    /* long values are cut in the echo */
    char inst[120];
    memset(inst, 'q', sizeof inst);
    inst[0] = '"';
    inst[101] = '"';
    inst[102] = '\0';
    CHECK_STR(run("{\"pattern\":\"^a\"}", inst),
              "(event): does not match pattern ^a (got "
              "\"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...\")");
    /* quotes and control characters in the echo are escaped */
    CHECK_STR(run("{\"pattern\":\"^a\"}", "\"x\\\"y\\n\""),
              "(event): does not match pattern ^a (got \"x\\\"y\\n\")");
}

static void test_pattern_titles(void)
{
    const char *doc = "{\"$defs\":{\"amount\":{\"title\":\"decimal amount like 15.00\","
                      "\"type\":\"string\",\"pattern\":\"^[0-9]+[.][0-9]{2}$\"},"
                      "\"plain\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}},"
                      "\"properties\":{\"data\":{\"properties\":{"
                      "\"amount\":{\"$ref\":\"#/$defs/amount\"},"
                      "\"code\":{\"title\":\"lower-case code\",\"$ref\":\"#/$defs/plain\"},"
                      "\"raw\":{\"$ref\":\"#/$defs/plain\"},"
                      "\"an\":{\"title\":\"an upper-case code\",\"pattern\":\"^[A-Z]+$\"}}}}}";
    CHECK_STR(run(doc, "{\"data\":{\"amount\":\"abc\"}}"),
              "data.amount: must be a decimal amount like 15.00 (got \"abc\")");
    CHECK_STR(run(doc, "{\"data\":{\"amount\":\"15.00\"}}"), "ok");
    /* the title of the schema that $ref'd the pattern's def */
    CHECK_STR(run(doc, "{\"data\":{\"code\":\"ABC\"}}"),
              "data.code: must be a lower-case code (got \"ABC\")");
    CHECK_STR(run(doc, "{\"data\":{\"raw\":\"ABC\"}}"),
              "data.raw: does not match pattern ^[a-z]+$ (got \"ABC\")");
    /* a title that brings its own article */
    CHECK_STR(run(doc, "{\"data\":{\"an\":\"abc\"}}"),
              "data.an: must be an upper-case code (got \"abc\")");
    /* a title is not inherited by properties */
    CHECK_STR(
        run("{\"title\":\"thing\",\"properties\":{\"a\":{\"pattern\":\"^x$\"}}}", "{\"a\":\"y\"}"),
        "a: does not match pattern ^x$ (got \"y\")");
}

static void test_bad_patterns(void)
{
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^\\\\d+$\"}"),
              "uses \\d, which POSIX regular expressions do not read like ECMA-262; write [0-9]");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^\\\\w+$\"}"), "uses \\w");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^\\\\s$\"}"), "uses \\s");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a\\\\nb$\"}"), "uses \\n");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a.b$\"}"),
              "uses '.' outside a bracket expression");
    CHECK_STR(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a[.]b$\"}"), "added");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^[\\\\-a]$\"}"),
              "backslash inside a bracket expression");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^[[:alpha:]]$\"}"),
              "POSIX class syntax");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^[]a]$\"}"), "']' first");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^[a-z$\"}"), "unterminated");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^(?=a)a$\"}"), "(?...) group");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a+?$\"}"),
              "quantifier after a quantifier");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^*a$\"}"),
              "nothing to repeat");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a{x}$\"}"),
              "'{' that is not a quantifier");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a}$\"}"), "unescaped '}'");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^a\\\\\"}"), "lone backslash");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^(a$\"}"), "does not compile");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"a\\u0000b\"}"), "NUL");
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":5}"),
              "pattern must be a string");
    /* the message names the document and the schema's location */
    CHECK_HAS(add_error("{\"$id\":\"https://x/p.json\",\"properties\":{\"a/b\":{\"items\":"
                        "{\"pattern\":\"\\\\d\"}}}}"),
              "p.json#/properties/a~1b/items: pattern \\d uses \\d");
    CHECK_STR(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^[A-Za-z0-9_-]{1,64}$\"}"),
              "added");
    CHECK_STR(add_error("{\"$id\":\"https://x/p.json\",\"pattern\":\"^(a|b)+\\\\+[x]*$\"}"),
              "added");
}

static void test_unsupported_keywords(void)
{
    CHECK_STR(add_error("{\"$id\":\"https://x/u.json\",\"minProperties\":1}"),
              "u.json: unsupported keyword 'minProperties'");
    CHECK_STR(add_error("{\"$id\":\"https://x/u.json\",\"properties\":{\"a\":{\"multipleOf\":2}}}"),
              "u.json#/properties/a: unsupported keyword 'multipleOf'");
    /* keys of properties and $defs are names, not keywords */
    CHECK_STR(add_error("{\"$id\":\"https://x/u.json\",\"properties\":{\"minProperties\":{},"
                        "\"uniqueItems\":true},\"$defs\":{\"contains\":{\"type\":\"string\"}}}"),
              "added");
    /* ...but their values are schemas */
    CHECK_HAS(add_error("{\"$id\":\"https://x/u.json\",\"$defs\":{\"d\":{\"uniqueItems\":true}}}"),
              "u.json#/$defs/d: unsupported keyword 'uniqueItems'");
    const char *positions[] = {
        "{\"items\":{\"X\":1}}",      "{\"additionalProperties\":{\"X\":1}}",
        "{\"allOf\":[{},{\"X\":1}]}", "{\"anyOf\":[{\"X\":1}]}",
        "{\"oneOf\":[{\"X\":1}]}",    "{\"not\":{\"X\":1}}",
        "{\"if\":{\"X\":1}}",         "{\"then\":{\"X\":1}}",
        "{\"else\":{\"X\":1}}",       "{\"properties\":{\"p\":{\"properties\":{\"q\":{\"X\":1}}}}}",
    };
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++)
        CHECK_HAS(run(positions[i], "null"), "unsupported keyword 'X'");
    CHECK_HAS(run("{\"allOf\":[{},{\"X\":1}]}", "null"), "t.json#/allOf/1: unsupported");
    /* format is an annotation */
    CHECK_STR(run("{\"type\":\"string\",\"format\":\"date-time\"}", "\"not a date\""), "ok");
    CHECK_STR(run("{\"title\":\"t\",\"description\":\"d\",\"$schema\":"
                  "\"https://json-schema.org/draft/2020-12/schema\"}",
                  "1"),
              "ok");

    /* malformed keyword values */
    CHECK_HAS(run("{\"type\":\"int\"}", "1"), "type must be a type name");
    CHECK_HAS(run("{\"type\":[\"string\",\"string\"]}", "1"), "type lists 'string' twice");
    CHECK_HAS(run("{\"required\":\"a\"}", "1"), "required must be an array");
    CHECK_HAS(run("{\"properties\":[]}", "1"), "properties must be an object");
    CHECK_HAS(run("{\"items\":[{}]}", "1"), "items must be a single schema");
    CHECK_HAS(run("{\"minLength\":-1}", "1"), "minLength must be a non-negative integer");
    CHECK_HAS(run("{\"maxItems\":1.5}", "1"), "maxItems must be a non-negative integer");
    CHECK_HAS(run("{\"enum\":[]}", "1"), "enum must be a non-empty array");
    CHECK_HAS(run("{\"minimum\":\"1\"}", "1"), "minimum must be a number");
    CHECK_HAS(run("{\"anyOf\":[]}", "1"), "anyOf must be a non-empty array of schemas");
    CHECK_HAS(run("{\"not\":1}", "1"), "a schema must be an object or a boolean");
    CHECK_HAS(run("{\"title\":1}", "1"), "title must be a string");
    CHECK_HAS(run("{\"$schema\":\"http://json-schema.org/draft-07/schema#\"}", "1"),
              "$schema must be");
    CHECK_HAS(run("{\"properties\":{\"a\":{\"$id\":\"x.json\"}}}", "1"),
              "$id is only supported at the document root");
}

static void test_combinators(void)
{
    const char *all = "{\"allOf\":[{\"type\":\"string\"},{\"minLength\":2}]}";
    CHECK_STR(run(all, "\"ab\""), "ok");
    CHECK_STR(run(all, "1"), "(event): must be a string");
    CHECK_STR(run(all, "\"a\""), "(event): must be at least 2 character(s) long");

    const char *any = "{\"properties\":{\"p\":{\"anyOf\":[{\"type\":\"string\",\"minLength\":3},"
                      "{\"type\":\"integer\"}]}}}";
    CHECK_STR(run(any, "{\"p\":\"abc\"}"), "ok");
    CHECK_STR(run(any, "{\"p\":7}"), "ok");
    CHECK_STR(run(any, "{\"p\":\"ab\"}"),
              "p: must match one of the allowed forms (p: must be at least 3 character(s) long)");
    CHECK_STR(run(any, "{\"p\":true}"),
              "p: must match one of the allowed forms (p: must be a string)");

    const char *one = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":10}]}";
    CHECK_STR(run(one, "5"), "ok");
    CHECK_STR(run(one, "10.5"), "ok");
    CHECK_STR(run(one, "10"),
              "(event): must match exactly one of the allowed forms (matches more than one)");
    CHECK_STR(run(one, "2.5"),
              "(event): must match exactly one of the allowed forms ((event): must be an "
              "integer)");

    CHECK_STR(run("{\"not\":{\"type\":\"null\"}}", "1"), "ok");
    CHECK_STR(run("{\"not\":{\"type\":\"null\"}}", "null"),
              "(event): must not match the schema under 'not'");

    const char *cond = "{\"if\":{\"properties\":{\"method\":{\"const\":\"bank\"}}},"
                       "\"then\":{\"required\":[\"bank_code\"]},"
                       "\"else\":{\"properties\":{\"bank_code\":false}}}";
    CHECK_STR(run(cond, "{\"method\":\"bank\",\"bank_code\":\"x\"}"), "ok");
    CHECK_STR(run(cond, "{\"method\":\"bank\"}"), "(event): missing required field 'bank_code'");
    CHECK_STR(run(cond, "{\"method\":\"alipay\"}"), "ok");
    CHECK_STR(run(cond, "{\"method\":\"alipay\",\"bank_code\":\"x\"}"),
              "bank_code: is not allowed");
    /* if without then/else asserts nothing */
    CHECK_STR(run("{\"if\":{\"type\":\"string\"}}", "1"), "ok");
    CHECK_STR(run("{\"if\":{\"type\":\"string\"},\"then\":{\"minLength\":2}}", "1"), "ok");
    CHECK_STR(run("{\"if\":{\"type\":\"string\"},\"else\":{\"minimum\":2}}", "1"),
              "(event): must be >= 2");
    /* boolean schemas at the root */
    CHECK_STR(run("true", "1"), "ADD: schema has no $id");
}

static void test_refs(void)
{
    const char *s = "{\"$defs\":{\"id\":{\"type\":\"string\",\"minLength\":1},"
                    "\"a~b\":{\"type\":\"integer\"},\"list\":{\"type\":\"array\","
                    "\"items\":{\"$ref\":\"#/$defs/id\"}}},"
                    "\"properties\":{\"x\":{\"$ref\":\"#/$defs/id\"},"
                    "\"y\":{\"$ref\":\"#/$defs/a~0b\"},\"z\":{\"$ref\":\"#/%24defs/list\"},"
                    "\"w\":{\"$ref\":\"#/properties/x\"}}}";
    CHECK_STR(run(s, "{\"x\":\"a\",\"y\":1,\"z\":[\"a\"],\"w\":\"b\"}"), "ok");
    CHECK_STR(run(s, "{\"x\":\"\"}"), "x: must be at least 1 character(s) long");
    CHECK_STR(run(s, "{\"y\":\"1\"}"), "y: must be an integer");
    CHECK_STR(run(s, "{\"z\":[\"a\",\"\"]}"), "z[1]: must be at least 1 character(s) long");
    CHECK_STR(run(s, "{\"w\":1}"), "w: must be a string");
    /* $ref with siblings: both apply */
    CHECK_STR(run("{\"$defs\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/s\","
                  "\"maxLength\":1}",
                  "\"ab\""),
              "(event): must be at most 1 characters long");
    /* unresolvable local refs are refused when the document is added */
    CHECK_HAS(run("{\"$ref\":\"#/$defs/nope\"}", "1"),
              "ADD: t.json: $ref '#/$defs/nope' does not resolve");
    CHECK_HAS(run("{\"$ref\":\"#anchor\"}", "1"), "only JSON-pointer fragments");
    CHECK_HAS(run("{\"required\":[],\"$ref\":\"#/required\"}", "1"), "does not point at a schema");
    CHECK_HAS(run("{\"$ref\":\"#/$defs/%zz\",\"$defs\":{}}", "1"), "does not resolve");
    /* a recursive schema */
    const char *tree = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                       "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}";
    CHECK_STR(run(tree, "{\"name\":\"a\",\"children\":[{\"name\":\"b\",\"children\":[]}]}"), "ok");
    CHECK_STR(run(tree, "{\"children\":[{\"children\":[{\"name\":5}]}]}"),
              "children[0].children[0].name: must be a string");
}

static void test_cross_document_refs(void)
{
    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    json_t *common =
        parse("{\"$id\":\"https://orderflow.test/schemas/events/common.json\","
              "\"$defs\":{\"amount\":{\"title\":\"decimal amount like 15.00\",\"type\":\"string\","
              "\"pattern\":\"^[0-9]+[.][0-9]{2}$\"},"
              "\"money\":{\"type\":\"object\",\"required\":[\"amount\"],"
              "\"properties\":{\"amount\":{\"$ref\":\"#/$defs/amount\"}}}}}");
    json_t *envelope = parse("{\"$id\":\"https://orderflow.test/schemas/events/envelope.json\","
                             "\"type\":\"object\",\"required\":[\"type\",\"data\"],"
                             "\"properties\":{\"type\":{\"type\":\"string\"},"
                             "\"data\":{\"type\":\"object\"}}}");
    json_t *paid = parse("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                         "\"$id\":\"https://orderflow.test/schemas/events/order.paid.json\","
                         "\"allOf\":[{\"$ref\":\"envelope.json\"}],"
                         "\"properties\":{\"type\":{\"const\":\"order.paid\"},"
                         "\"data\":{\"$ref\":\"#/$defs/data\"}},"
                         "\"$defs\":{\"data\":{\"type\":\"object\",\"required\":[\"order_id\"],"
                         "\"properties\":{\"order_id\":{\"type\":\"string\"},"
                         "\"amount\":{\"$ref\":\"common.json#/$defs/amount\"},"
                         "\"total\":{\"$ref\":\"./common.json#/$defs/money\"}},"
                         "\"additionalProperties\":false}}}");
    CHECK(reg && common && envelope && paid);
    /* a reference to a document not yet added is resolved when validating */
    CHECK(of_schema_registry_add(reg, paid, &err) == 0);
    CHECK(of_schema_registry_add(reg, common, &err) == 0);
    CHECK(of_schema_registry_add(reg, envelope, &err) == 0);

    CHECK(of_schema_registry_find(reg, "order.paid.json") == paid);
    CHECK(of_schema_registry_find(reg, "common.json") == common);
    CHECK(of_schema_registry_find(reg, "events/common.json") == NULL);
    CHECK(of_schema_registry_find(reg, "nope.json") == NULL);
    CHECK(of_schema_registry_find(NULL, "common.json") == NULL);

    /* the registry holds its own references */
    json_decref(common);
    json_decref(envelope);
    json_decref(paid);
    const json_t *schema = of_schema_registry_find(reg, "order.paid.json");

    struct {
        const char *event, *want;
    } cases[] = {
        {"{\"type\":\"order.paid\",\"data\":{\"order_id\":\"o1\",\"amount\":\"15.00\","
         "\"total\":{\"amount\":\"1.50\"}}}",
         NULL},
        {"{\"data\":{}}", "(event): missing required field 'type'"},
        {"{\"type\":\"order.paid\",\"data\":[]}", "data: must be an object"},
        {"{\"type\":\"order.shipped\",\"data\":{\"order_id\":\"o1\"}}",
         "type: must be \"order.paid\""},
        {"{\"type\":\"order.paid\",\"data\":{\"amount\":\"1.00\"}}",
         "data: missing required field 'order_id'"},
        {"{\"type\":\"order.paid\",\"data\":{\"order_id\":\"o1\",\"amount\":\"abc\"}}",
         "data.amount: must be a decimal amount like 15.00 (got \"abc\")"},
        {"{\"type\":\"order.paid\",\"data\":{\"order_id\":\"o1\",\"total\":{\"amount\":\"1\"}}}",
         "data.total.amount: must be a decimal amount like 15.00 (got \"1\")"},
        {"{\"type\":\"order.paid\",\"data\":{\"order_id\":\"o1\",\"ammount\":\"1.00\"}}",
         "data: unexpected field 'ammount'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *ev = parse(cases[i].event);
        err.msg[0] = '\0';
        bool ok = of_schema_validate(reg, schema, ev, &err);
        if (cases[i].want) {
            CHECK(!ok);
            CHECK_STR(err.msg, cases[i].want);
        } else {
            CHECK(ok);
            if (!ok)
                fprintf(stderr, "  unexpected failure: %s\n", err.msg);
        }
        /* a NULL error record gives the same verdict */
        CHECK(of_schema_validate(reg, schema, ev, NULL) == ok);
        json_decref(ev);
    }

    /* of_schema_validate_given: the envelope, known to pass for this very instance, is not
     * evaluated again through the allOf $ref (an instance the envelope refuses shows it);
     * the rest of the schema still is, and the envelope still counts for other instances */
    const json_t *env = of_schema_registry_find(reg, "envelope.json");
    json_t *no_type = parse("{\"data\":{\"order_id\":\"o1\"}}");
    CHECK(!of_schema_validate(reg, schema, no_type, NULL));
    CHECK(of_schema_validate_given(reg, schema, no_type, env, &err));
    CHECK(!of_schema_validate_given(reg, schema, no_type,
                                    of_schema_registry_find(reg, "common.json"),
                                    NULL)); /* another schema given: the envelope still runs */
    json_t *bad_data = parse("{\"data\":{\"order_id\":1}}");
    CHECK(!of_schema_validate_given(reg, schema, bad_data, env, &err));
    CHECK_STR(err.msg, "data.order_id: must be a string");
    json_t *inner = json_object_get(no_type, "data");
    CHECK(!of_schema_validate(reg, env, inner, NULL));
    CHECK(of_schema_validate_given(reg, env, inner, env, NULL)); /* given for inner itself */
    json_t *wrapper = parse("{\"type\":\"x\",\"data\":{\"type\":1}}");
    json_t *nested = parse("{\"$id\":\"https://orderflow.test/n.json\","
                           "\"properties\":{\"data\":{\"$ref\":\"envelope.json\"}}}");
    CHECK(of_schema_registry_add(reg, nested, &err) == 0);
    CHECK(!of_schema_validate_given(reg, nested, wrapper, env, &err)); /* data is another */
    CHECK_STR(err.msg, "data: missing required field 'data'");
    json_decref(nested);
    json_decref(wrapper);
    json_decref(bad_data);
    json_decref(no_type);

    /* a reference to a document that never got added */
    json_t *orphan = parse("{\"$id\":\"https://orderflow.test/o.json\","
                           "\"properties\":{\"a\":{\"$ref\":\"missing.json#/$defs/x\"}}}");
    CHECK(of_schema_registry_add(reg, orphan, &err) == 0);
    json_t *ev = parse("{\"a\":1}");
    CHECK(!of_schema_validate(reg, orphan, ev, &err));
    CHECK_STR(err.msg, "a: cannot resolve $ref 'missing.json#/$defs/x'");
    json_decref(ev);
    json_decref(orphan);

    /* cross-document refs to an added document are checked at add time */
    json_t *bad = parse("{\"$id\":\"https://orderflow.test/b.json\","
                        "\"$ref\":\"common.json#/$defs/nope\"}");
    CHECK(of_schema_registry_add(reg, bad, &err) != 0);
    CHECK_STR(err.msg, "b.json: $ref 'common.json#/$defs/nope' does not resolve");
    CHECK(of_schema_registry_find(reg, "b.json") == NULL);
    json_decref(bad);

    /* a second document with the same file name is refused */
    json_t *dup = parse("{\"$id\":\"https://elsewhere.test/common.json\"}");
    CHECK(of_schema_registry_add(reg, dup, &err) != 0);
    CHECK_HAS(err.msg, "already registered");
    json_decref(dup);

    of_schema_registry_free(reg);
}

static void test_registry_edges(void)
{
    CHECK_STR(add_error("{\"type\":\"object\"}"), "schema has no $id");
    CHECK_STR(add_error("{\"$id\":5}"), "schema has no $id");
    CHECK_STR(add_error("[]"), "schema has no $id");
    CHECK_HAS(add_error("{\"$id\":\"https://x/\"}"), "does not end with a file name");
    CHECK_HAS(add_error("{\"$id\":\"https://x/a.json#frag\"}"), "has a fragment");
    CHECK_STR(add_error("{\"$id\":\"plain.json#\"}"), "added");

    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    json_t *a = parse("{\"$id\":\"https://x/a.json#\",\"pattern\":\"^[a-z]+$\"}");
    json_t *b = parse("{\"$id\":\"b.json\",\"pattern\":\"^[a-z]+$\"}"); /* shares the cache */
    CHECK(of_schema_registry_add(reg, a, &err) == 0);
    CHECK(of_schema_registry_add(reg, b, &err) == 0);
    CHECK(of_schema_registry_find(reg, "a.json") == a);
    CHECK(of_schema_registry_find(reg, "b.json") == b);
    CHECK(of_schema_registry_add(reg, NULL, &err) != 0);
    CHECK(of_schema_registry_add(NULL, a, &err) != 0);
    CHECK(of_schema_registry_add(reg, NULL, NULL) != 0);
    CHECK(!of_schema_validate(reg, NULL, a, &err));
    CHECK(!of_schema_validate(reg, a, NULL, &err));

    /* many patterns: the cache grows */
    for (int i = 0; i < 100; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"$id\":\"m%d.json\",\"pattern\":\"^x{%d}$\"}", i, i + 1);
        json_t *m = parse(text);
        CHECK(of_schema_registry_add(reg, m, &err) == 0);
        json_decref(m);
    }
    json_t *m7 = (json_t *)of_schema_registry_find(reg, "m7.json");
    json_t *eight = json_string("xxxxxxxx");
    json_t *nine = json_string("xxxxxxxxx");
    CHECK(of_schema_validate(reg, m7, eight, &err));
    CHECK(!of_schema_validate(reg, m7, nine, &err));
    json_decref(eight);
    json_decref(nine);

    /* a schema that was never added: its patterns are not compiled */
    json_t *loose = parse("{\"pattern\":\"^never-added$\"}");
    json_t *s = json_string("x");
    CHECK(!of_schema_validate(reg, loose, s, &err));
    CHECK_HAS(err.msg, "was not compiled");
    CHECK(!of_schema_validate(NULL, loose, s, &err));
    json_decref(loose);
    json_decref(s);

    json_decref(a);
    json_decref(b);
    of_schema_registry_free(reg);
    of_schema_registry_free(NULL);
}

static void test_depth_limit(void)
{
    /* a recursive schema and a deeply nested event */
    const char *rec = "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}";
    char inst[1024] = "";
    for (int i = 0; i < 20; i++)
        strcat(inst, "{\"a\":");
    strcat(inst, "{}");
    for (int i = 0; i < 20; i++)
        strcat(inst, "}");
    CHECK_STR(run(rec, inst), "ok");
    inst[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(inst, "{\"a\":");
    strcat(inst, "{}");
    for (int i = 0; i < 100; i++)
        strcat(inst, "}");
    CHECK_HAS(run(rec, inst), ": nesting too deep");
    CHECK_HAS(run(rec, inst), "a.a.a.a");

    /* a reference cycle that never descends into the instance */
    CHECK_STR(run("{\"$ref\":\"#\"}", "1"), "(event): nesting too deep");
    CHECK_STR(run("{\"$defs\":{\"x\":{\"$ref\":\"#/$defs/y\"},\"y\":{\"$ref\":\"#/$defs/x\"}},"
                  "\"$ref\":\"#/$defs/x\"}",
                  "1"),
              "(event): nesting too deep");
    /* ...even when it branches (bounded by the evaluation budget, not exponential) */
    CHECK_HAS(run("{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}", "1"),
              "(event): must match one of the allowed forms ((event): schema too expensive");
    /* ...while a large but legitimate event stays well within that budget */
    of_schema_registry *reg = of_schema_registry_new();
    of_error err = {{0}};
    json_t *schema = parse("{\"$id\":\"big.json\",\"type\":\"array\",\"items\":{\"type\":"
                           "\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":"
                           "\"integer\"},\"b\":{\"type\":\"string\"}}}}");
    CHECK(of_schema_registry_add(reg, schema, &err) == 0);
    json_t *big = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(big, json_pack("{s:i,s:s}", "a", i, "b", "x"));
    CHECK(of_schema_validate(reg, schema, big, &err));
    json_decref(big);
    json_decref(schema);
    of_schema_registry_free(reg);

    /* a document nested deeper than the limit is refused when added */
    char deep[4096] = "{\"$id\":\"deep.json\",";
    for (int i = 0; i < 70; i++)
        strcat(deep, "\"not\":{");
    strcat(deep, "\"type\":\"string\"");
    for (int i = 0; i < 71; i++)
        strcat(deep, "}");
    CHECK_HAS(add_error(deep), "nesting too deep");
}

static void test_message_truncation(void)
{
    /* a very long enum list and path stay within the error record */
    char schema[8192] = "{\"enum\":[";
    for (int i = 0; i < 200; i++) {
        char item[32];
        snprintf(item, sizeof item, "%s\"value-%d\"", i ? "," : "", i);
        strcat(schema, item);
    }
    strcat(schema, "]}");
    const char *msg = run(schema, "\"nope\"");
    CHECK_HAS(msg, "(event): must be one of: value-0, value-1,");
    CHECK_HAS(msg, "...");
    CHECK(strlen(msg) < OF_ERROR_MAX);
    /* long instance keys are cut in messages */
    char inst[256] = "{\"";
    for (int i = 0; i < 100; i++)
        strcat(inst, "k");
    strcat(inst, "\":1}");
    CHECK_STR(run("{\"additionalProperties\":false}", inst),
              "(event): unexpected field 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'");
}

int main(void)
{
    test_of_error();
    test_type();
    test_integer_and_number();
    test_properties_required_additional();
    test_paths();
    test_items();
    test_enum_const();
    test_string_lengths();
    test_numbers();
    test_patterns();
    test_pattern_titles();
    test_bad_patterns();
    test_unsupported_keywords();
    test_combinators();
    test_refs();
    test_cross_document_refs();
    test_registry_edges();
    test_depth_limit();
    test_message_truncation();
    return TEST_DONE();
}
