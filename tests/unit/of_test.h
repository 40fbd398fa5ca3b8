/* of_test.h — the few macros our unit tests use: each test file is one executable that
 * returns non-zero when any check failed, registered with ctest under the label "unit". */
#ifndef OF_TEST_H
#define OF_TEST_H

#include <stdio.h>
#include <string.h>

static int of_test_failures;
static int of_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        of_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            of_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        of_test_checks++;                                                                          \
        if (!g_ || strcmp(g_, w_) != 0) {                                                          \
            of_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,                \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

/* got contains want as a substring */
#define CHECK_HAS(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        of_test_checks++;                                                                          \
        if (!g_ || !strstr(g_, w_)) {                                                              \
            of_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

#define TEST_DONE()                                                                                \
    (fprintf(stderr, "%d checks, %d failed\n", of_test_checks, of_test_failures),                  \
     of_test_failures ? 1 : 0)

#endif
