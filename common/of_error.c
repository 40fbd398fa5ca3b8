/* of_error.c — see of_error.h. */
#include "of_error.h"

#include <stdio.h>
#include <string.h>

int of_error_set(of_error *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    return -1;
}

void of_error_prefix(of_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char old[OF_ERROR_MAX];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';

    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
        err->msg[0] = '\0';
    }
    size_t used = (size_t)n < sizeof err->msg ? (size_t)n : sizeof err->msg - 1;
    size_t room = sizeof err->msg - used;
    if (room > 1) {
        int m = snprintf(err->msg + used, room, ": %s", old);
        (void)m; /* truncation is acceptable: the message stays NUL-terminated */
    }
}
