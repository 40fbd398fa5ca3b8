/* test_pattern.c — common/pattern.c against POSIX regexec (C locale), which the validator
 * used before: for the schemas' own patterns and harder synthetic ones, random and mutated
 * ASCII strings must get the same verdict from both. Also: what is refused. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "of_test.h"
#include "pattern.h"

static const char *const patterns[] = {
    /* the patterns of schemas/events */
    "^[A-Za-z0-9._-]{1,64}$",
    "^shop/[A-Za-z0-9._-]{1,64}$",
    ("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]"
     "|60)(\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"),
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    "^-?(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$",
    "^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$",
    /* harder shapes: alternation with shared prefixes, nested and unbounded repetition,
     * unanchored search, negated classes, optional groups */
    "^(a|ab)(c|bcd)(d*)$",
    "^(ab|a)(bc|c)*d?$",
    "a+b",
    "b{2,}$",
    "^[^,]{1,3}$",
    "^(a*)*b$",
    "^((a|b){2}c?)+$",
    "^x(y(z|zz){1,2})?$",
    "c[a-c]{0,2}$",
    "^[]a]+$",
    "^[a-]+$",
};

static const char alphabet[] = "0123456789abcdzTZ:+-./,shopxy]";

static void random_string(char *buf, size_t *len)
{
    *len = (size_t)(rand() % 34);
    for (size_t i = 0; i < *len; i++)
        buf[i] = alphabet[rand() % (int)(sizeof alphabet - 1)];
    buf[*len] = '\0';
}

/* a known-good string with one random edit, to probe the boundaries of the language */
static void mutated(char *buf, size_t *len)
{
    static const char *const good[] = {"2026-11-23T09:00:00.123+08:00",
                                       "2026-02-29",
                                       "shop/s1.a-b_c",
                                       "-12.50",
                                       "0.5",
                                       "abcd",
                                       "aabbc",
                                       "xyzz",
                                       "abbbd",
                                       "1234567890123.45"};
    strcpy(buf, good[rand() % (int)(sizeof good / sizeof good[0])]);
    *len = strlen(buf);
    size_t at = *len ? (size_t)rand() % *len : 0;
    switch (rand() % 3) {
    case 0: /* replace */
        if (*len)
            buf[at] = alphabet[rand() % (int)(sizeof alphabet - 1)];
        break;
    case 1: /* delete */
        if (*len) {
            memmove(buf + at, buf + at + 1, *len - at);
            (*len)--;
        }
        break;
    default: /* insert */
        memmove(buf + at + 1, buf + at, *len - at + 1);
        buf[at] = alphabet[rand() % (int)(sizeof alphabet - 1)];
        (*len)++;
    }
}

int main(void)
{
    srand(20261123);
    long compared = 0, matched = 0;
    for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++) {
        of_pattern *p = of_pattern_compile(patterns[k]);
        regex_t re;
        CHECK(p != NULL);
        CHECK(regcomp(&re, patterns[k], REG_EXTENDED | REG_NOSUB) == 0);
        if (!p)
            continue;
        for (int i = 0; i < 40000; i++) {
            char buf[80];
            size_t len;
            if (i % 2)
                random_string(buf, &len);
            else
                mutated(buf, &len);
            int want = regexec(&re, buf, 0, NULL, 0) == 0;
            int got = of_pattern_match(p, buf, len);
            compared++;
            matched += want;
            if (got != want) {
                fprintf(stderr, "pattern %s on \"%s\": regexec %d, of_pattern %d\n", patterns[k],
                        buf, want, got);
                CHECK(got == want);
            }
        }
        regfree(&re);
        of_pattern_free(p);
    }
    fprintf(stderr, "%ld strings compared, %ld matched\n", compared, matched);
    CHECK(matched > compared / 50); /* the mutations reach both sides of each language */

    /* outside the subset: the caller falls back to regexec */
    static const char *const refused[] = {"^a.b$", "^a|b$", "a^b", "[[:alpha:]]", "\\d+",
                                          "a**",   "(a",    "a{2", "[a-",         "a{3,1}"};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        of_pattern *p = of_pattern_compile(refused[k]);
        if (p)
            fprintf(stderr, "compiled, but should be refused: %s\n", refused[k]);
        CHECK(p == NULL);
        of_pattern_free(p);
    }
    /* a pathological input exhausts the budget instead of taking exponential time */
    of_pattern *p = of_pattern_compile("^(a|a|a|a)*(a|a|a|a)*(a|a|a|a)*b$");
    CHECK(p != NULL);
    char many[61];
    memset(many, 'a', 60);
    many[60] = '\0';
    CHECK(of_pattern_match(p, many, 60) == -1);
    of_pattern_free(p);
    return TEST_DONE();
}
