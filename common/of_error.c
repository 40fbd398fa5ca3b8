/* of_error.c — see of_error.h. */
#include "of_error.h"

#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (1-4), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

void of_utf8_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n) {
            p += n;
            continue;
        }
        /* a sequence cut short by truncation at the very end is dropped */
        size_t rest = strlen((char *)p);
        int cut = rest < 4 && p[0] >= 0xC2 && p[0] <= 0xF4;
        for (size_t k = 1; cut && k < rest; k++)
            cut = (p[k] & 0xC0) == 0x80;
        if (cut) {
            *p = '\0';
            return;
        }
        *p++ = '?';
    }
}

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
    of_utf8_repair(err->msg);
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
    of_utf8_repair(err->msg);
}
