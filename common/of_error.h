/* of_error.h — the error record every common/ call fills in: a status and a message a shop
 * or an operator can act on ("data.amount: must be a decimal string such as 15.00"). */
#ifndef OF_ERROR_H
#define OF_ERROR_H

#include <stdarg.h>

#define OF_ERROR_MAX 512

typedef struct of_error {
    char msg[OF_ERROR_MAX];
} of_error;

#if defined(__GNUC__)
#define OF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define OF_MUST_CHECK __attribute__((warn_unused_result))
#else
#define OF_PRINTF(a, b)
#define OF_MUST_CHECK
#endif

/* Formats into err (NULL allowed: then nothing is written), repaired to valid UTF-8. Always
 * returns -1 so callers can write `return of_error_set(err, "...")`. */
int of_error_set(of_error *err, const char *fmt, ...) OF_PRINTF(2, 3);
/* Makes s valid UTF-8 in place: a byte that does not start a well-formed sequence becomes
 * '?', a sequence cut short at the end is dropped. Messages quote what they were given and
 * are cut to fit, so both happen; PostgreSQL and JSON logs accept only valid UTF-8. */
void of_utf8_repair(char *s);

/* Prefixes the existing message: "prefix: old message". */
void of_error_prefix(of_error *err, const char *fmt, ...) OF_PRINTF(2, 3);

#endif
