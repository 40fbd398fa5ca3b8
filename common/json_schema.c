/* json_schema.c — the JSON Schema 2020-12 subset evaluator declared in json_schema.h.
 *
 * Adding a document walks it once: every keyword in every schema position must be one we
 * implement, keyword values must be well formed, local $refs must resolve and every
 * "pattern" is compiled (POSIX ERE) into a cache keyed by the pattern text. Validation then
 * walks schema and instance together without allocating: the instance path is a chain of
 * stack frames that is only turned into text when a failure is reported, and speculative
 * branches (anyOf, oneOf, not, if) run without an error record at all.
 *
 * Patterns are compiled and run under a C.UTF-8 locale (uselocale, thread-local) so that a
 * class such as [^,] consumes one code point, as it does for ajv's unicode RegExp. */
#include "json_schema.h"
#include "pattern.h"

#include <locale.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64
#define ECHO_MAX 40  /* code points of an instance value echoed in a message */
#define ECHO_BUF 256 /* enough for ECHO_MAX code points, each escaped as \u00XX */
#define MAX_PTR_SEG 256
#define DIALECT "https://json-schema.org/draft/2020-12/schema"

/* ---- keywords ---------------------------------------------------------------------------- */

enum kw {
    KW_SCHEMA,
    KW_ID,
    KW_DEFS,
    KW_REF,
    KW_TITLE,
    KW_DESCRIPTION,
    KW_FORMAT,
    KW_TYPE,
    KW_PROPERTIES,
    KW_REQUIRED,
    KW_ADDITIONAL,
    KW_ITEMS,
    KW_MIN_ITEMS,
    KW_MAX_ITEMS,
    KW_ENUM,
    KW_CONST,
    KW_MIN_LENGTH,
    KW_MAX_LENGTH,
    KW_PATTERN,
    KW_MINIMUM,
    KW_MAXIMUM,
    KW_EXCL_MINIMUM,
    KW_ALL_OF,
    KW_ANY_OF,
    KW_ONE_OF,
    KW_NOT,
    KW_IF,
    KW_THEN,
    KW_ELSE,
    KW_COUNT
};

#define KW_NAME(s)                                                                                 \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
static const struct {
    const char *name;
    size_t len;
} kw_names[KW_COUNT] = {
    [KW_SCHEMA] = KW_NAME("$schema"),
    [KW_ID] = KW_NAME("$id"),
    [KW_DEFS] = KW_NAME("$defs"),
    [KW_REF] = KW_NAME("$ref"),
    [KW_TITLE] = KW_NAME("title"),
    [KW_DESCRIPTION] = KW_NAME("description"),
    [KW_FORMAT] = KW_NAME("format"),
    [KW_TYPE] = KW_NAME("type"),
    [KW_PROPERTIES] = KW_NAME("properties"),
    [KW_REQUIRED] = KW_NAME("required"),
    [KW_ADDITIONAL] = KW_NAME("additionalProperties"),
    [KW_ITEMS] = KW_NAME("items"),
    [KW_MIN_ITEMS] = KW_NAME("minItems"),
    [KW_MAX_ITEMS] = KW_NAME("maxItems"),
    [KW_ENUM] = KW_NAME("enum"),
    [KW_CONST] = KW_NAME("const"),
    [KW_MIN_LENGTH] = KW_NAME("minLength"),
    [KW_MAX_LENGTH] = KW_NAME("maxLength"),
    [KW_PATTERN] = KW_NAME("pattern"),
    [KW_MINIMUM] = KW_NAME("minimum"),
    [KW_MAXIMUM] = KW_NAME("maximum"),
    [KW_EXCL_MINIMUM] = KW_NAME("exclusiveMinimum"),
    [KW_ALL_OF] = KW_NAME("allOf"),
    [KW_ANY_OF] = KW_NAME("anyOf"),
    [KW_ONE_OF] = KW_NAME("oneOf"),
    [KW_NOT] = KW_NAME("not"),
    [KW_IF] = KW_NAME("if"),
    [KW_THEN] = KW_NAME("then"),
    [KW_ELSE] = KW_NAME("else"),
};

static int kw_lookup(const char *key, size_t len)
{
    for (int i = 0; i < KW_COUNT; i++)
        if (kw_names[i].len == len && kw_names[i].name[0] == key[0] &&
            memcmp(kw_names[i].name, key, len) == 0)
            return i;
    return -1;
}

/* ---- registry ---------------------------------------------------------------------------- */

typedef struct doc_entry {
    json_t *doc;
    char *id;
    const char *name; /* last path segment of id (points into id) */
    size_t name_len;
} doc_entry;

typedef struct re_entry {
    char *pattern; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    regex_t *re;      /* re[0] for any UTF-8 string, re[1] (C locale, faster) for pure ASCII */
    of_pattern *fast; /* pattern.c's matcher for ASCII strings; NULL: outside its subset */
} re_entry;

/* A schema object's keywords, found once when its document was added, so validation never
 * looks keywords up by name. Keyed by the schema's address (documents are immutable once
 * added, and the registry holds a reference to each). */
typedef struct node_entry {
    const json_t *schema; /* NULL: empty slot */
    const json_t *doc;    /* the document it belongs to */
    const json_t *k[KW_COUNT];
    const json_t *ref_target, *ref_doc; /* $ref resolved once its document is added */
    re_entry pattern; /* the compiled "pattern" (a copy of its cache entry); .re NULL: none */
} node_entry;

struct of_schema_registry {
    node_entry *nodes; /* open addressing, nodes_cap is 0 or a power of two */
    size_t nnodes, nodes_cap;
    doc_entry *docs;
    size_t ndocs, docs_cap;
    re_entry *res; /* open addressing, res_cap is 0 or a power of two */
    size_t nres, res_cap;
    locale_t utf8; /* (locale_t)0 when C.UTF-8 is unavailable: patterns then see bytes */
    locale_t c;    /* the "C" locale, for the ASCII twin of each pattern */
};

of_schema_registry *of_schema_registry_new(void)
{
    of_schema_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    static const char *const names[] = {"C.UTF-8", "C.utf8", "en_US.UTF-8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && reg->utf8 == (locale_t)0; i++)
        reg->utf8 = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
    reg->c = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
    return reg;
}

void of_schema_registry_free(of_schema_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->ndocs; i++) {
        json_decref(reg->docs[i].doc);
        free(reg->docs[i].id);
    }
    free(reg->docs);
    for (size_t i = 0; i < reg->res_cap; i++) {
        if (!reg->res[i].pattern)
            continue;
        regfree(&reg->res[i].re[0]);
        regfree(&reg->res[i].re[1]);
        free(reg->res[i].re);
        of_pattern_free(reg->res[i].fast);
        free(reg->res[i].pattern);
    }
    free(reg->res);
    free(reg->nodes);
    if (reg->c != (locale_t)0)
        freelocale(reg->c);
    if (reg->utf8 != (locale_t)0)
        freelocale(reg->utf8);
    free(reg);
}

static const char *last_segment(const char *s, size_t len, size_t *seg_len)
{
    size_t start = len;
    while (start > 0 && s[start - 1] != '/')
        start--;
    *seg_len = len - start;
    return s + start;
}

static const json_t *find_doc_n(const of_schema_registry *reg, const char *name, size_t len)
{
    if (!reg)
        return NULL;
    for (size_t i = 0; i < reg->ndocs; i++)
        if (reg->docs[i].name_len == len && memcmp(reg->docs[i].name, name, len) == 0)
            return reg->docs[i].doc;
    return NULL;
}

const json_t *of_schema_registry_find(const of_schema_registry *reg, const char *name)
{
    if (!reg || !name)
        return NULL;
    return find_doc_n(reg, name, strlen(name));
}

/* ---- compiled pattern cache -------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static const re_entry *re_find(const of_schema_registry *reg, const char *pat, size_t len)
{
    if (!reg || reg->res_cap == 0)
        return NULL;
    uint64_t h = hash_bytes(pat, len);
    size_t mask = reg->res_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const re_entry *e = &reg->res[i];
        if (!e->pattern)
            return NULL;
        if (e->hash == h && e->len == len && memcmp(e->pattern, pat, len) == 0)
            return e;
    }
}

static int re_grow(of_schema_registry *reg)
{
    size_t cap = reg->res_cap ? reg->res_cap * 2 : 16;
    re_entry *res = calloc(cap, sizeof *res);
    if (!res)
        return -1;
    for (size_t i = 0; i < reg->res_cap; i++) {
        if (!reg->res[i].pattern)
            continue;
        size_t j = (size_t)reg->res[i].hash & (cap - 1);
        while (res[j].pattern)
            j = (j + 1) & (cap - 1);
        res[j] = reg->res[i];
    }
    free(reg->res);
    reg->res = res;
    reg->res_cap = cap;
    return 0;
}

/* Takes ownership of re (on failure too). */
static int re_insert(of_schema_registry *reg, const char *pat, size_t len, regex_t *re)
{
    char *copy = malloc(len + 1);
    if (!copy || ((reg->nres + 1) * 2 > reg->res_cap && re_grow(reg) != 0)) {
        free(copy);
        regfree(&re[0]);
        regfree(&re[1]);
        free(re);
        return -1;
    }
    memcpy(copy, pat, len);
    copy[len] = '\0';
    uint64_t h = hash_bytes(pat, len);
    size_t j = (size_t)h & (reg->res_cap - 1);
    while (reg->res[j].pattern)
        j = (j + 1) & (reg->res_cap - 1);
    reg->res[j] = (re_entry){copy, len, h, re, of_pattern_compile(copy)};
    reg->nres++;
    return 0;
}

/* ---- schema node index ------------------------------------------------------------------- */

static size_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (size_t)h;
}

static const node_entry *node_find(const of_schema_registry *reg, const json_t *schema)
{
    if (!reg || reg->nodes_cap == 0)
        return NULL;
    size_t mask = reg->nodes_cap - 1;
    for (size_t i = hash_ptr(schema) & mask;; i = (i + 1) & mask) {
        const node_entry *e = &reg->nodes[i];
        if (e->schema == schema)
            return e;
        if (!e->schema)
            return NULL;
    }
}

static int node_insert(of_schema_registry *reg, const node_entry *n)
{
    if ((reg->nnodes + 1) * 2 > reg->nodes_cap) {
        size_t cap = reg->nodes_cap ? reg->nodes_cap * 2 : 256;
        node_entry *nodes = calloc(cap, sizeof *nodes);
        if (!nodes)
            return -1;
        for (size_t i = 0; i < reg->nodes_cap; i++) {
            if (!reg->nodes[i].schema)
                continue;
            size_t j = hash_ptr(reg->nodes[i].schema) & (cap - 1);
            while (nodes[j].schema)
                j = (j + 1) & (cap - 1);
            nodes[j] = reg->nodes[i];
        }
        free(reg->nodes);
        reg->nodes = nodes;
        reg->nodes_cap = cap;
    }
    size_t mask = reg->nodes_cap - 1, j = hash_ptr(n->schema) & mask;
    while (reg->nodes[j].schema && reg->nodes[j].schema != n->schema)
        j = (j + 1) & mask;
    if (!reg->nodes[j].schema)
        reg->nnodes++;
    reg->nodes[j] = *n;
    return 0;
}

/* ---- message helpers --------------------------------------------------------------------- */

static void buf_put(char *out, size_t cap, size_t *o, const char *s)
{
    while (*s && *o + 1 < cap)
        out[(*o)++] = *s++;
    out[*o] = '\0';
}

static size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 1;
}

/* Writes at most ECHO_MAX code points of s (len bytes), control characters escaped, '"' and
 * '\' escaped when quoted, "..." when cut. out must hold ECHO_BUF bytes. */
static void echo_string(char *out, const char *s, size_t len, bool quote)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0, cps = 0;
    if (quote)
        out[o++] = '"';
    while (i < len && cps < ECHO_MAX) {
        unsigned char c = (unsigned char)s[i];
        size_t n = utf8_seq_len(c);
        if (i + n > len)
            n = len - i;
        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            if (c == '\n') {
                out[o++] = 'n';
            } else if (c == '\t') {
                out[o++] = 't';
            } else if (c == '\r') {
                out[o++] = 'r';
            } else {
                out[o++] = 'u';
                out[o++] = '0';
                out[o++] = '0';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
        } else if (quote && (c == '"' || c == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
        cps++;
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (quote)
        out[o++] = '"';
    out[o] = '\0';
}

static void format_number(char *out, size_t cap, const json_t *v)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* A short, single-line rendering of any JSON value. out must hold ECHO_BUF bytes. */
static void echo_value(char *out, const json_t *v)
{
    if (!v) {
        snprintf(out, ECHO_BUF, "(nothing)");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        echo_string(out, json_string_value(v), json_string_length(v), true);
        return;
    case JSON_INTEGER:
    case JSON_REAL:
        format_number(out, ECHO_BUF, v);
        return;
    case JSON_TRUE:
        strcpy(out, "true");
        return;
    case JSON_FALSE:
        strcpy(out, "false");
        return;
    case JSON_NULL:
        strcpy(out, "null");
        return;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s) {
            strcpy(out, json_is_object(v) ? "{...}" : "[...]");
            return;
        }
        echo_string(out, s, strlen(s), false);
        free(s);
        return;
    }
    }
}

/* ---- instance paths ---------------------------------------------------------------------- */

typedef struct path_seg {
    const struct path_seg *parent;
    const char *key; /* NULL: an array index */
    size_t key_len;
    size_t index;
} path_seg;

static size_t path_format(char *out, size_t cap, const path_seg *p)
{
    size_t o = 0;
    out[0] = '\0';
    if (!p) {
        buf_put(out, cap, &o, "(event)");
        return o;
    }
    const path_seg *segs[SCHEMA_MAX_DEPTH + 8] = {0};
    size_t n = 0;
    for (; p && n < sizeof segs / sizeof segs[0]; p = p->parent)
        segs[n++] = p;
    if (p)
        buf_put(out, cap, &o, "...");
    while (n-- > 0) {
        const path_seg *s = segs[n];
        char part[ECHO_BUF + 2];
        if (s->key) {
            part[0] = '.';
            echo_string(part + 1, s->key, s->key_len, false);
            buf_put(out, cap, &o, o == 0 ? part + 1 : part);
        } else {
            snprintf(part, sizeof part, "[%zu]", s->index);
            buf_put(out, cap, &o, part);
        }
    }
    return o;
}

static bool fail(of_error *err, const path_seg *path, const char *fmt, ...) OF_PRINTF(3, 4);

static bool fail(of_error *err, const path_seg *path, const char *fmt, ...)
{
    if (!err)
        return false;
    size_t o = path_format(err->msg, sizeof err->msg, path);
    buf_put(err->msg, sizeof err->msg, &o, ": ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + o, sizeof err->msg - o, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- value semantics (ajv's: JSON numbers are doubles) ----------------------------------- */

static bool is_integral(const json_t *v)
{
    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (!(d - d == 0)) /* inf or nan; jansson never produces them, but be safe */
        return false;
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return true; /* every double this large is a whole number */
    return (double)(int64_t)d == d;
}

static bool values_equal(const json_t *a, const json_t *b)
{
    if (a == b)
        return true;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_t *ao = (json_t *)a;
        for (void *it = json_object_iter(ao); it; it = json_object_iter_next(ao, it)) {
            const json_t *bv =
                json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!bv || !values_equal(json_object_iter_value(it), bv))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null: same type is same value */
    }
}

static bool type_matches(const char *t, const json_t *v)
{
    switch (t[0]) {
    case 's':
        return json_is_string(v);
    case 'i':
        return is_integral(v);
    case 'n':
        return strcmp(t, "null") == 0 ? json_is_null(v) : json_is_number(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    case 'b':
        return json_is_boolean(v);
    default:
        return false;
    }
}

static const char *type_phrase(const char *t)
{
    static const char *const names[][2] = {
        {"string", "a string"},  {"integer", "an integer"}, {"number", "a number"},
        {"object", "an object"}, {"array", "an array"},     {"boolean", "a boolean"},
        {"null", "null"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(t, names[i][0]) == 0)
            return names[i][1];
    return t;
}

static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- JSON pointers and $ref -------------------------------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ptr is a URI fragment: "" (the root) or "/a/b"; percent-decoded, then ~0 ~1 unescaped. */
static const json_t *json_pointer(const json_t *root, const char *ptr)
{
    const json_t *cur = root;
    while (*ptr) {
        if (*ptr != '/')
            return NULL;
        ptr++;
        size_t len = strcspn(ptr, "/");
        const char *seg = ptr;
        char buf[MAX_PTR_SEG];
        if (memchr(seg, '~', len) || memchr(seg, '%', len)) {
            size_t o = 0;
            for (size_t i = 0; i < len; i++) {
                char c = seg[i];
                if (c == '%') {
                    if (i + 2 >= len)
                        return NULL;
                    int hi = hex_val(seg[i + 1]), lo = hex_val(seg[i + 2]);
                    if (hi < 0 || lo < 0)
                        return NULL;
                    c = (char)(hi * 16 + lo);
                    i += 2;
                } else if (c == '~') {
                    if (i + 1 >= len || (seg[i + 1] != '0' && seg[i + 1] != '1'))
                        return NULL;
                    c = seg[i + 1] == '0' ? '~' : '/';
                    i++;
                }
                if (o >= sizeof buf)
                    return NULL;
                buf[o++] = c;
            }
            seg = buf;
            len = o;
        }
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, seg, len);
        } else if (json_is_array(cur)) {
            if (len == 0 || len > 18 || (len > 1 && seg[0] == '0'))
                return NULL;
            size_t idx = 0;
            for (size_t i = 0; i < len; i++) {
                if (seg[i] < '0' || seg[i] > '9')
                    return NULL;
                idx = idx * 10 + (size_t)(seg[i] - '0');
            }
            cur = json_array_get(cur, idx);
        } else {
            return NULL;
        }
        if (!cur)
            return NULL;
        ptr += strcspn(ptr, "/");
    }
    return cur;
}

/* Resolves ref against doc (the document being evaluated) or, when it names a file, against
 * the registry; *target_doc becomes the document the target lives in. */
static const json_t *resolve_ref(const of_schema_registry *reg, const json_t *doc, const char *ref,
                                 const json_t **target_doc)
{
    const char *hash = strchr(ref, '#');
    size_t base_len = hash ? (size_t)(hash - ref) : strlen(ref);
    const json_t *d = doc;
    if (base_len > 0) {
        size_t n;
        const char *name = last_segment(ref, base_len, &n);
        d = find_doc_n(reg, name, n);
        if (!d)
            return NULL;
    }
    *target_doc = d;
    return hash ? json_pointer(d, hash + 1) : d;
}

/* ---- validation -------------------------------------------------------------------------- */

/* Schema nodes evaluated per validation: a bound on what a schema whose $refs loop through
 * anyOf/oneOf could otherwise cost (exponential in the depth limit). A legitimate event near
 * Kafka's 1 MB limit needs well under a tenth of this. */
#define EVAL_BUDGET (1L << 22)

typedef struct eval_ctx {
    const of_schema_registry *reg;
    long steps;
    const json_t *given, *given_inst; /* of_schema_validate_given: known to pass */
} eval_ctx;

static bool eval(eval_ctx *c, const json_t *schema, const json_t *doc, const json_t *inst,
                 const path_seg *path, const json_t *title, int depth, of_error *err);

static bool fail_type(of_error *err, const path_seg *path, const json_t *type)
{
    if (!err)
        return false;
    if (json_is_string(type))
        return fail(err, path, "must be %s", type_phrase(json_string_value(type)));
    char list[160];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < json_array_size(type); i++) {
        const json_t *t = json_array_get(type, i);
        if (!json_is_string(t))
            continue;
        if (o > 0)
            buf_put(list, sizeof list, &o, " or ");
        buf_put(list, sizeof list, &o, type_phrase(json_string_value(t)));
    }
    return fail(err, path, "must be %s", list);
}

static bool fail_enum(of_error *err, const path_seg *path, const json_t *values, const json_t *inst)
{
    if (!err)
        return false;
    char list[320], got[ECHO_BUF], one[ECHO_BUF];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < json_array_size(values); i++) {
        const json_t *v = json_array_get(values, i);
        if (json_is_string(v))
            echo_string(one, json_string_value(v), json_string_length(v), false);
        else
            echo_value(one, v);
        if (i > 0)
            buf_put(list, sizeof list, &o, ", ");
        if (o + strlen(one) + 5 >= sizeof list) {
            buf_put(list, sizeof list, &o, "...");
            break;
        }
        buf_put(list, sizeof list, &o, one);
    }
    echo_value(got, inst);
    return fail(err, path, "must be one of: %s (got %s)", list, got);
}

static bool title_has_article(const char *t)
{
    return strncmp(t, "a ", 2) == 0 || strncmp(t, "an ", 3) == 0 || strncmp(t, "A ", 2) == 0 ||
           strncmp(t, "An ", 3) == 0 || strncmp(t, "the ", 4) == 0;
}

static bool eval_pattern(eval_ctx *c, const node_entry *node, const json_t *pattern,
                         const json_t *inst, const path_seg *path, const json_t *title,
                         of_error *err)
{
    if (!json_is_string(pattern))
        return true;
    /* compiled when the schema was added; looked up by text only for one that was not */
    const re_entry *entry = node && node->pattern.re ? &node->pattern
                                                     : re_find(c->reg, json_string_value(pattern),
                                                               json_string_length(pattern));
    const regex_t *re = entry ? entry->re : NULL;
    if (!re)
        return fail(err, path, "pattern %s was not compiled (schema not added to the registry)",
                    json_string_value(pattern));
    const char *s = json_string_value(inst);
    size_t len = json_string_length(inst);
    bool ok = false;
    if (!memchr(s, '\0', len)) { /* regexec cannot see past an embedded NUL: never a match */
        size_t i = 0;
        while (i < len && (unsigned char)s[i] < 0x80)
            i++;
        /* ASCII strings read the same in both locales; the C locale's matcher is far faster */
        int ascii = i == len && c->reg->c != (locale_t)0;
        int fast = ascii && entry->fast ? of_pattern_match(entry->fast, s, len) : -1;
        if (fast >= 0) {
            ok = fast == 1;
        } else {
            locale_t loc = ascii ? c->reg->c : c->reg->utf8;
            locale_t old = (locale_t)0;
            if (loc != (locale_t)0)
                old = uselocale(loc);
            ok = regexec(&re[ascii], s, 0, NULL, 0) == 0;
            if (old != (locale_t)0)
                uselocale(old);
        }
    }
    if (ok)
        return true;
    if (!err)
        return false;
    char got[ECHO_BUF];
    echo_value(got, inst);
    if (title) {
        const char *t = json_string_value(title);
        return fail(err, path, "must be %s%s (got %s)", title_has_article(t) ? "" : "a ", t, got);
    }
    return fail(err, path, "does not match pattern %s (got %s)", json_string_value(pattern), got);
}

/* eval_object when only validity is asked (err NULL): one pass over the instance's members,
 * each looked up once among the properties. */
static bool object_valid(eval_ctx *c, const json_t *const *k, const json_t *doc, const json_t *inst,
                         const path_seg *path, int depth)
{
    const json_t *req = k[KW_REQUIRED];
    for (size_t i = 0; i < json_array_size(req); i++) {
        const json_t *name = json_array_get(req, i);
        if (json_is_string(name) &&
            !json_object_getn(inst, json_string_value(name), json_string_length(name)))
            return false;
    }
    const json_t *props = json_is_object(k[KW_PROPERTIES]) ? k[KW_PROPERTIES] : NULL;
    const json_t *add = k[KW_ADDITIONAL];
    json_t *obj = (json_t *)inst;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        const json_t *schema = props ? json_object_getn(props, key, key_len) : NULL;
        if (!schema && (!add || json_is_true(add)))
            continue;
        if (!schema && json_is_false(add))
            return false;
        path_seg seg = {path, key, key_len, 0};
        if (!eval(c, schema ? schema : add, doc, json_object_iter_value(it), &seg, NULL, depth + 1,
                  NULL))
            return false;
    }
    return true;
}

static bool eval_object(eval_ctx *c, const json_t *const *k, const json_t *doc, const json_t *inst,
                        const path_seg *path, int depth, of_error *err)
{
    if (!err)
        return object_valid(c, k, doc, inst, path, depth);
    const json_t *req = k[KW_REQUIRED];
    for (size_t i = 0; i < json_array_size(req); i++) {
        const json_t *name = json_array_get(req, i);
        if (!json_is_string(name) ||
            json_object_getn(inst, json_string_value(name), json_string_length(name)))
            continue;
        if (!err)
            return false;
        char shown[ECHO_BUF];
        echo_string(shown, json_string_value(name), json_string_length(name), false);
        return fail(err, path, "missing required field '%s'", shown);
    }

    json_t *props = json_is_object(k[KW_PROPERTIES]) ? (json_t *)k[KW_PROPERTIES] : NULL;
    if (props && json_object_size(inst) > 0) {
        for (void *it = json_object_iter(props); it; it = json_object_iter_next(props, it)) {
            const char *key = json_object_iter_key(it);
            size_t key_len = json_object_iter_key_len(it);
            const json_t *v = json_object_getn(inst, key, key_len);
            if (!v)
                continue;
            path_seg seg = {path, key, key_len, 0};
            if (!eval(c, json_object_iter_value(it), doc, v, &seg, NULL, depth + 1, err))
                return false;
        }
    }

    const json_t *add = k[KW_ADDITIONAL];
    if (add && !json_is_true(add)) {
        json_t *obj = (json_t *)inst;
        for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
            const char *key = json_object_iter_key(it);
            size_t key_len = json_object_iter_key_len(it);
            if (props && json_object_getn(props, key, key_len))
                continue;
            if (json_is_false(add)) {
                if (!err)
                    return false;
                char shown[ECHO_BUF];
                echo_string(shown, key, key_len, false);
                return fail(err, path, "unexpected field '%s'", shown);
            }
            path_seg seg = {path, key, key_len, 0};
            if (!eval(c, add, doc, json_object_iter_value(it), &seg, NULL, depth + 1, err))
                return false;
        }
    }
    return true;
}

static bool eval_array(eval_ctx *c, const json_t *const *k, const json_t *doc, const json_t *inst,
                       const path_seg *path, int depth, of_error *err)
{
    size_t n = json_array_size(inst);
    if (json_is_integer(k[KW_MIN_ITEMS]) && (json_int_t)n < json_integer_value(k[KW_MIN_ITEMS]))
        return fail(err, path, "must have at least %" JSON_INTEGER_FORMAT " item(s)",
                    json_integer_value(k[KW_MIN_ITEMS]));
    if (json_is_integer(k[KW_MAX_ITEMS]) && (json_int_t)n > json_integer_value(k[KW_MAX_ITEMS]))
        return fail(err, path, "must have at most %" JSON_INTEGER_FORMAT " item(s)",
                    json_integer_value(k[KW_MAX_ITEMS]));
    const json_t *items = k[KW_ITEMS];
    if (items && !json_is_true(items)) {
        for (size_t i = 0; i < n; i++) {
            path_seg seg = {path, NULL, 0, i};
            if (!eval(c, items, doc, json_array_get(inst, i), &seg, NULL, depth + 1, err))
                return false;
        }
    }
    return true;
}

static bool eval_string(eval_ctx *c, const node_entry *node, const json_t *const *k,
                        const json_t *inst, const path_seg *path, const json_t *title,
                        of_error *err)
{
    if (json_is_integer(k[KW_MIN_LENGTH]) || json_is_integer(k[KW_MAX_LENGTH])) {
        size_t cps = utf8_count(json_string_value(inst), json_string_length(inst));
        if (json_is_integer(k[KW_MIN_LENGTH]) &&
            (json_int_t)cps < json_integer_value(k[KW_MIN_LENGTH]))
            return fail(err, path, "must be at least %" JSON_INTEGER_FORMAT " character(s) long",
                        json_integer_value(k[KW_MIN_LENGTH]));
        if (json_is_integer(k[KW_MAX_LENGTH]) &&
            (json_int_t)cps > json_integer_value(k[KW_MAX_LENGTH]))
            return fail(err, path, "must be at most %" JSON_INTEGER_FORMAT " characters long",
                        json_integer_value(k[KW_MAX_LENGTH]));
    }
    if (k[KW_PATTERN] && !eval_pattern(c, node, k[KW_PATTERN], inst, path, title, err))
        return false;
    return true;
}

static bool fail_bound(of_error *err, const path_seg *path, const char *op, const json_t *limit)
{
    if (!err)
        return false;
    char num[64];
    format_number(num, sizeof num, limit);
    return fail(err, path, "must be %s %s", op, num);
}

static bool eval_number(const json_t *const *k, const json_t *inst, const path_seg *path,
                        of_error *err)
{
    double v = json_number_value(inst);
    if (json_is_number(k[KW_MINIMUM]) && !(v >= json_number_value(k[KW_MINIMUM])))
        return fail_bound(err, path, ">=", k[KW_MINIMUM]);
    if (json_is_number(k[KW_MAXIMUM]) && !(v <= json_number_value(k[KW_MAXIMUM])))
        return fail_bound(err, path, "<=", k[KW_MAXIMUM]);
    if (json_is_number(k[KW_EXCL_MINIMUM]) && !(v > json_number_value(k[KW_EXCL_MINIMUM])))
        return fail_bound(err, path, ">", k[KW_EXCL_MINIMUM]);
    return true;
}

static bool eval_combinators(eval_ctx *c, const json_t *const *k, const json_t *doc,
                             const json_t *inst, const path_seg *path, const json_t *title,
                             int depth, of_error *err)
{
    const json_t *any = k[KW_ANY_OF];
    if (json_array_size(any) > 0) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(any) && !ok; i++)
            ok = eval(c, json_array_get(any, i), doc, inst, path, title, depth + 1, NULL);
        if (!ok) {
            if (!err)
                return false;
            of_error first = {{0}};
            (void)eval(c, json_array_get(any, 0), doc, inst, path, title, depth + 1, &first);
            return fail(err, path, "must match one of the allowed forms (%s)", first.msg);
        }
    }

    const json_t *one = k[KW_ONE_OF];
    if (json_array_size(one) > 0) {
        int matches = 0;
        for (size_t i = 0; i < json_array_size(one) && matches < 2; i++)
            matches += eval(c, json_array_get(one, i), doc, inst, path, title, depth + 1, NULL);
        if (matches == 0) {
            if (!err)
                return false;
            of_error first = {{0}};
            (void)eval(c, json_array_get(one, 0), doc, inst, path, title, depth + 1, &first);
            return fail(err, path, "must match exactly one of the allowed forms (%s)", first.msg);
        }
        if (matches > 1)
            return fail(err, path,
                        "must match exactly one of the allowed forms (matches more "
                        "than one)");
    }

    if (k[KW_NOT] && eval(c, k[KW_NOT], doc, inst, path, NULL, depth + 1, NULL))
        return fail(err, path, "must not match the schema under 'not'");

    if (k[KW_IF]) {
        bool cond = eval(c, k[KW_IF], doc, inst, path, NULL, depth + 1, NULL);
        const json_t *branch = cond ? k[KW_THEN] : k[KW_ELSE];
        if (branch && !eval(c, branch, doc, inst, path, title, depth + 1, err))
            return false;
    }
    return true;
}

/* title: the nearest "title" on the way here through $ref / allOf / anyOf / oneOf /
 * then / else (applicators on the same instance), used to phrase pattern failures. */
static bool eval(eval_ctx *c, const json_t *schema, const json_t *doc, const json_t *inst,
                 const path_seg *path, const json_t *title, int depth, of_error *err)
{
    if (depth >= SCHEMA_MAX_DEPTH)
        return fail(err, path, "nesting too deep");
    if (++c->steps > EVAL_BUDGET)
        return fail(err, path, "schema too expensive to evaluate");
    if (!json_is_object(schema))
        return json_is_false(schema) ? fail(err, path, "is not allowed") : true;
    if (schema == c->given && inst == c->given_inst)
        return true;

    const node_entry *node = node_find(c->reg, schema);
    if (node && node->doc != doc)
        node = NULL; /* the same object in another document: its $refs mean other things */
    const json_t *kbuf[KW_COUNT];
    const json_t *const *k = node ? node->k : kbuf;
    if (!node) { /* a schema that was not added to the registry */
        memset(kbuf, 0, sizeof kbuf);
        json_t *s = (json_t *)schema;
        for (void *it = json_object_iter(s); it; it = json_object_iter_next(s, it)) {
            int i = kw_lookup(json_object_iter_key(it), json_object_iter_key_len(it));
            if (i >= 0)
                kbuf[i] = json_object_iter_value(it);
        }
    }
    if (json_is_string(k[KW_TITLE]))
        title = k[KW_TITLE];

    const json_t *type = k[KW_TYPE];
    if (type) {
        bool ok;
        if (json_is_string(type)) {
            ok = type_matches(json_string_value(type), inst);
        } else {
            ok = false;
            for (size_t i = 0; i < json_array_size(type) && !ok; i++) {
                const json_t *t = json_array_get(type, i);
                ok = json_is_string(t) && type_matches(json_string_value(t), inst);
            }
        }
        if (!ok)
            return fail_type(err, path, type);
    }

    if (k[KW_CONST] && !values_equal(k[KW_CONST], inst)) {
        if (!err)
            return false;
        char want[ECHO_BUF];
        echo_value(want, k[KW_CONST]);
        return fail(err, path, "must be %s", want);
    }

    if (json_is_array(k[KW_ENUM])) {
        const json_t *values = k[KW_ENUM];
        bool found = false;
        for (size_t i = 0; i < json_array_size(values) && !found; i++)
            found = values_equal(json_array_get(values, i), inst);
        if (!found)
            return fail_enum(err, path, values, inst);
    }

    if (json_is_string(k[KW_REF])) {
        const char *ref = json_string_value(k[KW_REF]);
        const json_t *target_doc = node && node->ref_target ? node->ref_doc : doc;
        const json_t *target = node && node->ref_target
                                   ? node->ref_target
                                   : resolve_ref(c->reg, doc, ref, &target_doc);
        if (!target)
            return fail(err, path, "cannot resolve $ref '%s'", ref);
        if (!eval(c, target, target_doc, inst, path, title, depth + 1, err))
            return false;
    }

    const json_t *all = k[KW_ALL_OF];
    for (size_t i = 0; i < json_array_size(all); i++)
        if (!eval(c, json_array_get(all, i), doc, inst, path, title, depth + 1, err))
            return false;

    switch (json_typeof(inst)) {
    case JSON_OBJECT:
        if ((k[KW_REQUIRED] || k[KW_PROPERTIES] || k[KW_ADDITIONAL]) &&
            !eval_object(c, k, doc, inst, path, depth, err))
            return false;
        break;
    case JSON_ARRAY:
        if ((k[KW_ITEMS] || k[KW_MIN_ITEMS] || k[KW_MAX_ITEMS]) &&
            !eval_array(c, k, doc, inst, path, depth, err))
            return false;
        break;
    case JSON_STRING:
        if (!eval_string(c, node, k, inst, path, title, err))
            return false;
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        if (!eval_number(k, inst, path, err))
            return false;
        break;
    default:
        break;
    }

    if ((k[KW_ANY_OF] || k[KW_ONE_OF] || k[KW_NOT] || k[KW_IF]) &&
        !eval_combinators(c, k, doc, inst, path, title, depth, err))
        return false;
    return true;
}

bool of_schema_validate_given(const of_schema_registry *reg, const json_t *schema,
                              const json_t *instance, const json_t *given, of_error *err)
{
    if (!schema || !instance) {
        of_error_set(err, "(event): %s", schema ? "no event" : "no schema");
        return false;
    }
    /* a valid instance (nearly all) is judged without building messages, in the fastest
     * order; an invalid one is walked again in the schema's order for its message */
    eval_ctx c = {reg, 0, given, instance};
    if (eval(&c, schema, schema, instance, NULL, NULL, 0, NULL))
        return true;
    if (!err)
        return false;
    eval_ctx again = {reg, 0, given, instance};
    return eval(&again, schema, schema, instance, NULL, NULL, 0, err);
}

bool of_schema_validate(const of_schema_registry *reg, const json_t *schema, const json_t *instance,
                        of_error *err)
{
    return of_schema_validate_given(reg, schema, instance, NULL, err);
}

/* ---- checking a document when it is added ------------------------------------------------ */

typedef struct add_ctx {
    of_schema_registry *reg;
    const json_t *doc;
    const char *name; /* the document's file name, for messages and self references */
    size_t name_len;
    char loc[400]; /* JSON pointer of the schema being checked */
    size_t loc_len;
    of_error *err;
} add_ctx;

static int add_fail(add_ctx *a, const char *fmt, ...) OF_PRINTF(2, 3);

static int add_fail(add_ctx *a, const char *fmt, ...)
{
    if (!a->err)
        return -1;
    char reason[OF_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    char name[ECHO_BUF];
    echo_string(name, a->name, a->name_len, false);
    return of_error_set(a->err, "%s%s%s: %s", name, a->loc_len ? "#" : "", a->loc, reason);
}

/* Appends "/seg" (escaped) to the location; returns the old length for loc_pop. */
static size_t loc_push(add_ctx *a, const char *seg, size_t len)
{
    size_t old = a->loc_len;
    size_t o = a->loc_len;
    if (o + 1 < sizeof a->loc)
        a->loc[o++] = '/';
    for (size_t i = 0; i < len && o + 3 < sizeof a->loc; i++) {
        if (seg[i] == '~' || seg[i] == '/') {
            a->loc[o++] = '~';
            a->loc[o++] = seg[i] == '~' ? '0' : '1';
        } else if ((unsigned char)seg[i] >= 0x20) {
            a->loc[o++] = seg[i];
        }
    }
    a->loc[o] = '\0';
    a->loc_len = o;
    return old;
}

static size_t loc_push_index(add_ctx *a, size_t i)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%zu", i);
    return loc_push(a, num, (size_t)n);
}

static void loc_pop(add_ctx *a, size_t old)
{
    a->loc_len = old;
    a->loc[old] = '\0';
}

static const char *pattern_hint(char c)
{
    switch (c) {
    case 'd':
        return "; write [0-9]";
    case 'w':
        return "; write [A-Za-z0-9_]";
    case 's':
        return "; write the characters you mean in a bracket expression";
    default:
        return "";
    }
}

/* Refuses what ECMA-262 (ajv, unicode mode) and POSIX ERE read differently. */
static int check_pattern(add_ctx *a, const char *p, size_t len)
{
    if (memchr(p, '\0', len))
        return add_fail(a, "pattern contains a NUL character");
    bool quantifiable = false; /* the previous token can take a quantifier */
    bool after_quantifier = false;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (ch == '\\') {
            char n = i + 1 < len ? p[i + 1] : '\0';
            if (n == '\0')
                return add_fail(a, "pattern %s ends with a lone backslash", p);
            if (!strchr("^$\\.*+?()[]{}|/", n))
                return add_fail(a,
                                "pattern %s uses \\%c, which POSIX regular expressions do not "
                                "read like ECMA-262%s",
                                p, n, pattern_hint(n));
            i++;
            quantifiable = true;
            after_quantifier = false;
            continue;
        }
        if (ch == '.')
            return add_fail(a,
                            "pattern %s uses '.' outside a bracket expression (ECMA-262 and POSIX "
                            "disagree on what it matches); write an explicit class such as [^,]",
                            p);
        if (ch == '[') {
            size_t j = i + 1;
            if (j < len && p[j] == '^')
                j++;
            if (j < len && p[j] == ']')
                return add_fail(a,
                                "pattern %s has ']' first in a bracket expression (an empty "
                                "class to ECMA-262, a literal ']' to POSIX)",
                                p);
            for (; j < len && p[j] != ']'; j++) {
                if (p[j] == '\\')
                    return add_fail(a,
                                    "pattern %s uses a backslash inside a bracket expression, "
                                    "where POSIX reads it as a literal backslash; write the "
                                    "character itself (put '-' last)",
                                    p);
                if (p[j] == '[' && j + 1 < len && strchr(":.=", p[j + 1]))
                    return add_fail(a,
                                    "pattern %s uses POSIX class syntax [%c inside a bracket "
                                    "expression, which ECMA-262 does not have",
                                    p, p[j + 1]);
            }
            if (j >= len)
                return add_fail(a, "pattern %s has an unterminated bracket expression", p);
            i = j;
            quantifiable = true;
            after_quantifier = false;
            continue;
        }
        if (ch == '(' && i + 1 < len && p[i + 1] == '?')
            return add_fail(a,
                            "pattern %s uses a (?...) group (lookaround or non-capturing), "
                            "which POSIX regular expressions do not have",
                            p);
        bool quant = ch == '*' || ch == '+' || ch == '?';
        if (ch == '{') {
            size_t j = i + 1, digits = 0;
            while (j < len && p[j] >= '0' && p[j] <= '9')
                j++, digits++;
            if (digits > 0 && j < len && p[j] == ',') {
                j++;
                while (j < len && p[j] >= '0' && p[j] <= '9')
                    j++;
            }
            if (digits == 0 || j >= len || p[j] != '}')
                return add_fail(a, "pattern %s has a '{' that is not a quantifier; write \\{", p);
            i = j;
            quant = true;
        } else if (ch == '}' || ch == ']') {
            return add_fail(a, "pattern %s has an unescaped '%c'; write \\%c", p, ch, ch);
        }
        if (quant) {
            if (after_quantifier)
                return add_fail(a,
                                "pattern %s has a quantifier after a quantifier (ECMA-262 reads "
                                "'?' there as lazy, POSIX as another repetition)",
                                p);
            if (!quantifiable)
                return add_fail(a, "pattern %s has a quantifier with nothing to repeat", p);
            after_quantifier = true;
            continue;
        }
        after_quantifier = false;
        quantifiable = !(ch == '(' || ch == '|' || ch == '^');
    }
    return 0;
}

static int compile_pattern(add_ctx *a, const json_t *pattern)
{
    const char *p = json_string_value(pattern);
    size_t len = json_string_length(pattern);
    if (re_find(a->reg, p, len))
        return 0;
    if (check_pattern(a, p, len) != 0)
        return -1;
    regex_t *re = calloc(2, sizeof *re);
    if (!re)
        return add_fail(a, "out of memory");
    int rc = 0, compiled = 0;
    for (; compiled < 2 && rc == 0; compiled++) {
        locale_t loc = compiled == 0 ? a->reg->utf8 : a->reg->c, old = (locale_t)0;
        if (loc != (locale_t)0)
            old = uselocale(loc);
        rc = regcomp(&re[compiled], p, REG_EXTENDED | REG_NOSUB);
        if (old != (locale_t)0)
            uselocale(old);
    }
    if (rc != 0) {
        char why[128];
        regerror(rc, &re[compiled - 1], why, sizeof why);
        if (compiled == 2)
            regfree(&re[0]);
        free(re);
        return add_fail(a, "pattern %s does not compile: %s", p, why);
    }
    if (re_insert(a->reg, p, len, re) != 0)
        return add_fail(a, "out of memory");
    return 0;
}

static int check_ref(add_ctx *a, const char *ref)
{
    const char *hash = strchr(ref, '#');
    size_t base_len = hash ? (size_t)(hash - ref) : strlen(ref);
    if (hash && hash[1] != '\0' && hash[1] != '/')
        return add_fail(a, "$ref '%s': only JSON-pointer fragments (#/...) are supported", ref);
    if (hash && strchr(hash + 1, '#'))
        return add_fail(a, "$ref '%s' is malformed", ref);
    const json_t *d = a->doc;
    if (base_len > 0) {
        size_t n;
        const char *name = last_segment(ref, base_len, &n);
        if (n == 0)
            return add_fail(a, "$ref '%s' does not name a file", ref);
        if (!(n == a->name_len && memcmp(name, a->name, n) == 0))
            d = find_doc_n(a->reg, name, n);
        if (!d)
            return 0; /* may be added later; resolved (or reported) when validating */
    }
    const json_t *target = hash ? json_pointer(d, hash + 1) : d;
    if (!target)
        return add_fail(a, "$ref '%s' does not resolve", ref);
    if (!json_is_object(target) && !json_is_boolean(target))
        return add_fail(a, "$ref '%s' does not point at a schema", ref);
    return 0;
}

static int check_schema(add_ctx *a, const json_t *s, int depth);

static int check_sub(add_ctx *a, const char *kw, const json_t *sub, int depth)
{
    size_t old = loc_push(a, kw, strlen(kw));
    int rc = check_schema(a, sub, depth + 1);
    loc_pop(a, old);
    return rc;
}

static int check_schema_map(add_ctx *a, const char *kw, const json_t *map, int depth)
{
    if (!json_is_object(map))
        return add_fail(a, "%s must be an object", kw);
    size_t old = loc_push(a, kw, strlen(kw));
    json_t *m = (json_t *)map;
    for (void *it = json_object_iter(m); it; it = json_object_iter_next(m, it)) {
        size_t old2 = loc_push(a, json_object_iter_key(it), json_object_iter_key_len(it));
        int rc = check_schema(a, json_object_iter_value(it), depth + 1);
        loc_pop(a, old2);
        if (rc != 0)
            return -1;
    }
    loc_pop(a, old);
    return 0;
}

static int check_schema_list(add_ctx *a, const char *kw, const json_t *list, int depth)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return add_fail(a, "%s must be a non-empty array of schemas", kw);
    size_t old = loc_push(a, kw, strlen(kw));
    for (size_t i = 0; i < json_array_size(list); i++) {
        size_t old2 = loc_push_index(a, i);
        int rc = check_schema(a, json_array_get(list, i), depth + 1);
        loc_pop(a, old2);
        if (rc != 0)
            return -1;
    }
    loc_pop(a, old);
    return 0;
}

static bool is_type_name(const json_t *t)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    if (!json_is_string(t))
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(json_string_value(t), names[i]) == 0)
            return true;
    return false;
}

static int check_type(add_ctx *a, const json_t *type)
{
    if (is_type_name(type))
        return 0;
    if (!json_is_array(type) || json_array_size(type) == 0)
        return add_fail(a, "type must be a type name or a non-empty array of them");
    for (size_t i = 0; i < json_array_size(type); i++) {
        if (!is_type_name(json_array_get(type, i)))
            return add_fail(a, "type must be a type name or a non-empty array of them");
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_array_get(type, i), json_array_get(type, j)))
                return add_fail(a, "type lists '%s' twice",
                                json_string_value(json_array_get(type, i)));
    }
    return 0;
}

static int check_keyword(add_ctx *a, int kw, const char *name, const json_t *v, int depth)
{
    switch (kw) {
    case KW_SCHEMA:
        if (!json_is_string(v) || (strcmp(json_string_value(v), DIALECT) != 0 &&
                                   strcmp(json_string_value(v), DIALECT "#") != 0))
            return add_fail(a, "$schema must be \"" DIALECT "\"");
        return 0;
    case KW_TITLE:
    case KW_DESCRIPTION:
        return json_is_string(v) ? 0 : add_fail(a, "%s must be a string", name);
    case KW_ID:
        if (depth > 0)
            return add_fail(a, "$id is only supported at the document root");
        return 0; /* checked by of_schema_registry_add */
    case KW_FORMAT:
        return 0; /* an annotation */
    case KW_DEFS:
    case KW_PROPERTIES:
        return check_schema_map(a, name, v, depth);
    case KW_REF:
        if (!json_is_string(v))
            return add_fail(a, "$ref must be a string");
        return check_ref(a, json_string_value(v));
    case KW_TYPE:
        return check_type(a, v);
    case KW_REQUIRED:
        if (!json_is_array(v))
            return add_fail(a, "required must be an array of field names");
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return add_fail(a, "required must be an array of field names");
        return 0;
    case KW_ITEMS:
        if (json_is_array(v))
            return add_fail(a, "items must be a single schema (the array form is not 2020-12; "
                               "prefixItems is not supported)");
        return check_sub(a, name, v, depth);
    case KW_ADDITIONAL:
    case KW_NOT:
    case KW_IF:
    case KW_THEN:
    case KW_ELSE:
        return check_sub(a, name, v, depth);
    case KW_MIN_ITEMS:
    case KW_MAX_ITEMS:
    case KW_MIN_LENGTH:
    case KW_MAX_LENGTH:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return add_fail(a, "%s must be a non-negative integer", name);
        return 0;
    case KW_ENUM:
        if (!json_is_array(v) || json_array_size(v) == 0)
            return add_fail(a, "enum must be a non-empty array");
        return 0;
    case KW_CONST:
        return 0;
    case KW_PATTERN:
        if (!json_is_string(v))
            return add_fail(a, "pattern must be a string");
        return compile_pattern(a, v);
    case KW_MINIMUM:
    case KW_MAXIMUM:
    case KW_EXCL_MINIMUM:
        return json_is_number(v) ? 0 : add_fail(a, "%s must be a number", name);
    case KW_ALL_OF:
    case KW_ANY_OF:
    case KW_ONE_OF:
        return check_schema_list(a, name, v, depth);
    default:
        return 0;
    }
}

static int check_schema(add_ctx *a, const json_t *s, int depth)
{
    if (depth >= SCHEMA_MAX_DEPTH)
        return add_fail(a, "nesting too deep");
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s))
        return add_fail(a, "a schema must be an object or a boolean");
    json_t *o = (json_t *)s;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        const char *key = json_object_iter_key(it);
        size_t key_len = json_object_iter_key_len(it);
        int kw = kw_lookup(key, key_len);
        if (kw < 0) {
            char shown[ECHO_BUF];
            echo_string(shown, key, key_len, false);
            return add_fail(a, "unsupported keyword '%s'", shown);
        }
        if (check_keyword(a, kw, key, json_object_iter_value(it), depth) != 0)
            return -1;
    }
    return 0;
}

/* Indexes every schema object of doc (see node_entry). Runs after check_schema accepted the
 * document, so keyword values have the shapes checked there. */
static int index_schema(of_schema_registry *reg, const json_t *doc, const json_t *s, int depth)
{
    if (!json_is_object(s) || depth >= SCHEMA_MAX_DEPTH)
        return 0;
    node_entry n = {.schema = s, .doc = doc};
    json_t *o = (json_t *)s;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        int kw = kw_lookup(json_object_iter_key(it), json_object_iter_key_len(it));
        if (kw >= 0)
            n.k[kw] = json_object_iter_value(it);
    }
    if (json_is_string(n.k[KW_PATTERN])) {
        const re_entry *e =
            re_find(reg, json_string_value(n.k[KW_PATTERN]), json_string_length(n.k[KW_PATTERN]));
        if (e)
            n.pattern = *e;
    }
    if (node_insert(reg, &n))
        return -1;
    static const int maps[] = {KW_DEFS, KW_PROPERTIES};
    static const int subs[] = {KW_ITEMS, KW_ADDITIONAL, KW_NOT, KW_IF, KW_THEN, KW_ELSE};
    static const int lists[] = {KW_ALL_OF, KW_ANY_OF, KW_ONE_OF};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) {
        json_t *m = (json_t *)n.k[maps[i]];
        for (void *it = json_object_iter(m); it; it = json_object_iter_next(m, it))
            if (index_schema(reg, doc, json_object_iter_value(it), depth + 1))
                return -1;
    }
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (index_schema(reg, doc, n.k[subs[i]], depth + 1))
            return -1;
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        for (size_t j = 0; j < json_array_size(n.k[lists[i]]); j++)
            if (index_schema(reg, doc, json_array_get(n.k[lists[i]], j), depth + 1))
                return -1;
    return 0;
}

/* The $refs not resolved yet, the new document's and those into documents added after
 * theirs: resolved when each document is added, so that validation never resolves a $ref
 * (a JSON pointer walk per use). */
static void resolve_pending_refs(of_schema_registry *reg)
{
    for (size_t i = 0; i < reg->nodes_cap; i++) {
        node_entry *n = &reg->nodes[i];
        if (!n->schema || n->ref_target || !json_is_string(n->k[KW_REF]))
            continue;
        n->ref_doc = n->doc;
        n->ref_target = resolve_ref(reg, n->doc, json_string_value(n->k[KW_REF]), &n->ref_doc);
        if (!n->ref_target)
            n->ref_doc = NULL;
    }
}

int of_schema_registry_add(of_schema_registry *reg, json_t *doc, of_error *err)
{
    if (!reg || !doc)
        return of_error_set(err, "schema registry: no %s", reg ? "document" : "registry");
    const json_t *idv = json_object_get(doc, "$id");
    if (!json_is_string(idv) || json_string_length(idv) == 0)
        return of_error_set(err, "schema has no $id");
    const char *id = json_string_value(idv);
    size_t id_len = strlen(id);
    if (id_len != json_string_length(idv))
        return of_error_set(err, "schema $id contains a NUL character");
    if (id[id_len - 1] == '#')
        id_len--; /* an empty fragment names the same document */
    if (memchr(id, '#', id_len))
        return of_error_set(err, "schema $id %s has a fragment", id);

    add_ctx a = {.reg = reg, .doc = doc, .err = err};
    a.name = last_segment(id, id_len, &a.name_len);
    if (a.name_len == 0)
        return of_error_set(err, "schema $id %s does not end with a file name", id);
    if (find_doc_n(reg, a.name, a.name_len))
        return add_fail(&a, "a schema with this name is already registered");
    if (check_schema(&a, doc, 0) != 0)
        return -1;

    if (reg->ndocs == reg->docs_cap) {
        size_t cap = reg->docs_cap ? reg->docs_cap * 2 : 16;
        doc_entry *docs = realloc(reg->docs, cap * sizeof *docs);
        if (!docs)
            return add_fail(&a, "out of memory");
        reg->docs = docs;
        reg->docs_cap = cap;
    }
    char *copy = malloc(id_len + 1);
    if (!copy)
        return add_fail(&a, "out of memory");
    memcpy(copy, id, id_len);
    copy[id_len] = '\0';
    size_t name_len;
    const char *name = last_segment(copy, id_len, &name_len);
    reg->docs[reg->ndocs++] = (doc_entry){json_incref(doc), copy, name, name_len};
    /* without an index (out of memory) validation looks keywords up as it goes */
    (void)index_schema(reg, doc, doc, 0);
    resolve_pending_refs(reg);
    return 0;
}
