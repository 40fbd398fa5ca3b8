/* test_json_fast.c — common/json_fast.c: whatever the fast path accepts parses to exactly
 * what jansson makes of it (same values, same key order), and everything outside its shape
 * (reals, \u escapes, duplicate keys, bad JSON of any kind) is left to jansson (NULL).
 * Every example event under tests/events and mutations of them are checked too. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "json_fast.h"
#include "of_test.h"

/* fast and jansson agree on s: both the same value, or fast declined (NULL). Returns 1
 * when the fast path took it. */
static int agree(const char *s, size_t len)
{
    if (of_utf8_invalid_at(s, len) >= 0)
        return 0; /* the caller checks UTF-8 first (a precondition of the fast path) */
    json_t *f = of_json_fast_object(s, len);
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
    int took = f != NULL;
    if (f) {
        CHECK(j != NULL);
        char *a = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        CHECK(a && b && strcmp(a, b) == 0);
        if (!(a && b && strcmp(a, b) == 0))
            fprintf(stderr, "  input %.*s\n  fast    %s\n  jansson %s\n", (int)len, s, a,
                    b ? b : "(error)");
        free(a);
        free(b);
    }
    json_decref(f);
    json_decref(j);
    return took;
}

static int agree_s(const char *s)
{
    return agree(s, strlen(s));
}

static void test_taken(void)
{
    CHECK(agree_s("{}"));
    CHECK(agree_s(" {\"a\" : 1 ,\"b\":[1,-2,0,-0,\"x\",true,false,null,{},[]] }\n"));
    CHECK(agree_s("{\"z\":1,\"a\":2,\"m\":3}")); /* key order kept */
    CHECK(agree_s("{\"s\":\"tab\\there \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\"}"));
    CHECK(agree_s("{\"addr\":\"上海市徐匯區漕溪北路1號\",\"k\":\"'; DROP TABLE orders; --\"}"));
    CHECK(agree_s("{\"big\":999999999999999999,\"neg\":-999999999999999999}"));
    CHECK(agree_s("{\"a\":{\"b\":{\"c\":[[[{\"d\":\"\"}]]]}}}"));
    /* strings are scanned eight bytes at a time: an escape, the closing quote and a control
     * character (declined) at every position of a word */
    for (int at = 0; at < 20; at++) {
        char s[64];
        snprintf(s, sizeof s, "{\"k\":\"%.*s\\\"%s\"}", at, "abcdefghijklmnopqrstuvwxyz", "tail");
        CHECK(agree_s(s));
        snprintf(s, sizeof s, "{\"%.*s\":\"%.*s\"}", at, "abcdefghijklmnopqrstuvwxyz", at,
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        CHECK(agree_s(s));
        snprintf(s, sizeof s, "{\"k\":\"%.*s\tx\"}", at, "abcdefghijklmnopqrstuvwxyz");
        CHECK(of_json_fast_object(s, strlen(s)) == NULL);
    }
}

static void test_declined(void)
{
    const char *bad[] = {
        "",
        "[1,2]",       /* not an object: jansson decides */
        "{\"a\":1.5}", /* reals */
        "{\"a\":1e3}", /* exponent */
        "{\"a\":1E3}",
        "{\"a\":\"\\u00e9\"}", /* \u escapes */
        "{\"a\":\"\\u0000\"}",
        "{\"a\":1,\"a\":2}",           /* duplicate key */
        "{\"a\":01}",                  /* leading zero */
        "{\"a\":1234567890123456789}", /* 19 digits: maybe out of range */
        "{\"a\":-}",
        "{\"a\":1}x", /* trailing bytes */
        "{\"a\":1",   /* truncated */
        "{\"a\" 1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{a:1}",
        "{\"a\":1,}",
        "{\"a\":[1,]}",
        "{\"a\":\"x\ty\"}", /* raw control character */
        "{\"a\":\"\\x\"}",  /* invalid escape */
        "{\"a\":\"open}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *f = of_json_fast_object(bad[i], strlen(bad[i]));
        CHECK(f == NULL);
        if (f)
            fprintf(stderr, "  took %s\n", bad[i]);
        json_decref(f);
    }
    /* a NUL byte inside */
    CHECK(of_json_fast_object("{\"a\":\"x\0y\"}", 11) == NULL);
    /* deeper than 64 levels */
    char deep[400];
    size_t n = 0;
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    CHECK(of_json_fast_object(deep, n) == NULL);
    CHECK(agree(deep, n) == 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    return buf;
}

/* every example event, and each with one byte changed or cut at each position */
static void test_examples(void)
{
    static const char *const dirs[] = {"tests/events/valid", "tests/events/invalid"};
    static const char repl[] = {'"', '\\', ',', '}', ']', ':', '1', '.', ' ', 'u', '\n'};
    int files = 0, taken = 0;
    for (size_t d = 0; d < 2; d++) {
        DIR *dir = opendir(dirs[d]);
        CHECK(dir != NULL);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            if (!strstr(e->d_name, ".json"))
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[d], e->d_name);
            size_t len;
            char *buf = slurp(path, &len);
            if (!buf)
                continue;
            files++;
            taken += agree(buf, len);
            for (size_t i = 0; i < len; i += 7) {
                agree(buf, i);
                char keep = buf[i];
                for (size_t r = 0; r < sizeof repl; r++) {
                    buf[i] = repl[r];
                    agree(buf, len);
                }
                buf[i] = keep;
            }
            free(buf);
        }
        if (dir)
            closedir(dir);
    }
    CHECK(files > 20);
    CHECK(taken > 10); /* the fast path does take real events */
}

int main(void)
{
    test_taken();
    test_declined();
    test_examples();
    return TEST_DONE();
}
