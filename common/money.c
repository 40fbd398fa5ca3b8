/* money.c — exact decimal amounts (see money.h). */
#include "money.h"

#include <stdio.h>

int of_money_parse(const char *s, int64_t *cents)
{
    if (!s || !*s)
        return -1;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    int64_t whole = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        whole = whole * 10 + (*s - '0');
        if (whole > 10000000000000LL)
            return -1;
    }
    if (!digits)
        return -1;
    int64_t frac = 0;
    if (*s == '.') {
        s++;
        int fd = 0;
        for (; *s >= '0' && *s <= '9'; s++, fd++) {
            if (fd == 2)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
        if (fd == 0)
            return -1;
        if (fd == 1)
            frac *= 10;
    }
    if (*s)
        return -1;
    int64_t v = whole * 100 + frac;
    *cents = neg ? -v : v;
    return 0;
}

char *of_money_format(int64_t cents, char *out, size_t outsz)
{
    int64_t a = cents < 0 ? -cents : cents;
    snprintf(out, outsz, "%s%lld.%02lld", cents < 0 ? "-" : "", (long long)(a / 100),
             (long long)(a % 100));
    return out;
}
