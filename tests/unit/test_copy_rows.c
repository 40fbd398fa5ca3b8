/* test_copy_rows.c — common/copy_rows.c: COPY text rows and array literals carry any string
 * unchanged (tabs, newlines, backslashes, quotes, SQL-looking text), NULLs stay NULL, JSON
 * columns are compact JSON escaped the same way, and fields and rows are separated right. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copy_rows.h"
#include "of_test.h"

static void test_copy_text(void)
{
    of_rows r;
    of_rows_init(&r);
    of_rows_text(&r, "plain");
    of_rows_text(&r, "tab\there\nnew\\line\rcr");
    of_rows_text(&r, NULL);
    of_rows_int(&r, -42);
    of_rows_text(&r, "'; DROP TABLE orders; --");
    of_rows_end(&r);
    CHECK_STR(r.buf, "plain\ttab\\there\\nnew\\\\line\\rcr\t\\N\t-42\t'; DROP TABLE orders; --\n");
    CHECK(r.rows == 1);
    of_rows_text(&r, "漕溪北路");
    of_rows_end(&r);
    CHECK_HAS(r.buf, "--\n漕溪北路\n");
    CHECK(r.rows == 2);
    of_rows_reset(&r);
    CHECK(r.len == 0 && r.rows == 0);
    of_rows_textn(&r, "ab\tc", 2);
    of_rows_end(&r);
    CHECK_STR(r.buf, "ab\n");
    of_rows_reset(&r); /* integers: every digit, both signs, both ends of the range */
    of_rows_int(&r, 0);
    of_rows_int(&r, 1234567890123);
    of_rows_int(&r, INT64_MAX);
    of_rows_int(&r, INT64_MIN);
    of_rows_end(&r);
    CHECK_STR(r.buf, "0\t1234567890123\t9223372036854775807\t-9223372036854775808\n");
    CHECK(of_rows_ok(&r));
    of_rows_free(&r);
}

static void test_copy_json(void)
{
    of_rows r;
    of_rows_init(&r);
    json_t *obj = json_pack("{s:s,s:i}", "note", "a\tb\\c\"d", "qty", 2);
    json_t *t = json_true(), *f = json_false(), *s = json_string("15.00"), *i = json_integer(7),
           *n = json_null();
    of_rows_json(&r, s);
    of_rows_json(&r, i);
    of_rows_json(&r, t);
    of_rows_json(&r, f);
    of_rows_json(&r, n);
    of_rows_json(&r, NULL);
    of_rows_json(&r, obj);
    of_rows_json(&r, s);
    of_rows_end(&r);
    /* the JSON text's own backslashes are doubled for COPY, its tab escape stays \t */
    CHECK_STR(r.buf, "15.00\t7\tt\tf\t\\N\t\\N\t{\"note\":\"a\\\\tb\\\\\\\\c\\\\\"d\",\"qty\":2}"
                     "\t15.00\n");
    json_decref(obj);
    json_decref(s);
    json_decref(i);
    of_rows_free(&r);
}

/* What a JSON value's column must hold: jansson's compact text, COPY-escaped. */
static char *copy_text_of(const json_t *v)
{
    char *js = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *out = malloc(2 * strlen(js) + 2), *o = out;
    for (const char *p = js; *p; p++) {
        if (*p == '\\' || *p == '\t' || *p == '\n' || *p == '\r')
            *o++ = '\\';
        *o++ = *p == '\t' ? 't' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p;
    }
    *o++ = '\n';
    *o = '\0';
    free(js);
    return out;
}

/* Objects and arrays are written by copy_rows.c itself: the same text as jansson's, for
 * every escape, nesting, and kind of value (reals still through jansson). */
static void test_json_text_like_jansson(void)
{
    json_t *v =
        json_pack("{s:s,s:s,s:[i,i,I,f,b,b,n,{},[]],s:{s:{s:s}},s:s}", "ctl",
                  "a\x01b\x1f\b\f\n\r\t\"\\/", "cjk", "上海市徐匯區 漕溪北路", "list", 0, -42,
                  (json_int_t)INT64_MIN, 1.5, 1, 0, "nested", "deep", "x", "y", "empty", "");
    CHECK(v != NULL);
    of_rows r;
    of_rows_init(&r);
    of_rows_json(&r, v);
    of_rows_end(&r);
    char *want = copy_text_of(v);
    CHECK_STR(r.buf, want);
    free(want);
    json_t *arr = json_pack("[s,[[[i]]]]", "\x7f", 3);
    of_rows_reset(&r);
    of_rows_json(&r, arr);
    of_rows_end(&r);
    want = copy_text_of(arr);
    CHECK_STR(r.buf, want);
    free(want);
    json_decref(arr);
    json_decref(v);
    of_rows_free(&r);
}

static void test_array(void)
{
    of_rows r;
    of_rows_init(&r);
    of_rows_array_begin(&r);
    of_rows_array_end(&r);
    CHECK_STR(r.buf, "{}");
    of_rows_reset(&r);
    of_rows_array_begin(&r);
    of_rows_array_text(&r, "shop/s1");
    of_rows_array_text(&r, NULL);
    of_rows_array_text(&r, "q\"uo\\te,{x}");
    of_rows_array_text(&r, "NULL");
    of_rows_array_end(&r);
    CHECK_STR(r.buf, "{\"shop/s1\",NULL,\"q\\\"uo\\\\te,{x}\",\"NULL\"}");
    CHECK(r.rows == 4);
    of_rows_reset(&r);
    of_rows_array_begin(&r);
    of_rows_array_int(&r, 3);
    of_rows_array_int(&r, -1);
    of_rows_array_end(&r);
    CHECK_STR(r.buf, "{3,-1}");
    of_rows_free(&r);
}

/* jsonb[], numeric[], boolean[] ... elements from JSON values (order-worker's UPDATE) */
static void test_array_json(void)
{
    of_rows r;
    of_rows_init(&r);
    json_t *v = json_pack("[s,i,b,b,n,[s],{s:s}]", "15.00", -3, 1, 0, "SKU\"1", "k", "a\\b");
    of_rows_array_begin(&r);
    for (size_t i = 0; i < json_array_size(v); i++)
        of_rows_array_json(&r, json_array_get(v, i));
    of_rows_array_json(&r, NULL);
    of_rows_array_end(&r);
    /* JSON text is quoted as one element, its quotes and backslashes escaped once more */
    CHECK_STR(r.buf, "{\"15.00\",-3,t,f,NULL,\"[\\\"SKU\\\\\\\"1\\\"]\","
                     "\"{\\\"k\\\":\\\"a\\\\\\\\b\\\"}\",NULL}");
    CHECK(r.rows == 8);
    CHECK(of_rows_ok(&r));
    json_decref(v);
    of_rows_free(&r);
}

static void test_growth(void)
{
    of_rows r;
    of_rows_init(&r);
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[5000] = '\t';
    for (int k = 0; k < 20; k++) {
        of_rows_text(&r, big);
        of_rows_end(&r);
    }
    CHECK(of_rows_ok(&r));
    CHECK(r.rows == 20);
    CHECK(r.len == 20 * (sizeof big - 1 + 1 + 1)); /* each tab doubled, each row a newline */
    CHECK(strlen(r.buf) == r.len);
    of_rows_free(&r);
}

int main(void)
{
    test_copy_text();
    test_copy_json();
    test_json_text_like_jansson();
    test_array();
    test_array_json();
    test_growth();
    return TEST_DONE();
}
