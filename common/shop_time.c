/* shop_time.c — the shop's time zone (see shop_time.h), through the C library's zoneinfo
 * support: TZ is set once at start-up and localtime_r does the rest. */
#include "shop_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int of_shop_tz_init(const char *tz, of_error *err)
{
    if (!tz || !*tz || strstr(tz, "..") || tz[0] == '/')
        return of_error_set(err, "SHOP_TZ must be an IANA zone name such as Asia/Shanghai");
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return of_error_set(err, "SHOP_TZ: unknown time zone \"%s\" (no %s; is tzdata installed?)",
                            tz, path);
    setenv("TZ", tz, 1);
    tzset();
    return 0;
}

/* YYYY-MM-DD, years clamped to 0..9999 so the text always fits 11 bytes */
static void put_date(char *out, int y, int m, int d)
{
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

static void local_tm(int64_t time_us, struct tm *tm)
{
    time_t t = (time_t)(time_us >= 0 ? time_us / 1000000 : (time_us - 999999) / 1000000);
    localtime_r(&t, tm);
}

void of_shop_date(int64_t time_us, char *out)
{
    struct tm tm;
    local_tm(time_us, &tm);
    put_date(out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int of_shop_minute_of_day(int64_t time_us)
{
    struct tm tm;
    local_tm(time_us, &tm);
    return tm.tm_hour * 60 + tm.tm_min;
}

void of_date_next(const char *date, char *out)
{
    struct tm tm = {0};
    int y = 1970, m = 1, d = 1;
    if (sscanf(date, "%4d-%2d-%2d", &y, &m, &d) != 3) {
        snprintf(out, 11, "%s", date);
        return;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + 1;
    tm.tm_hour = 12;
    timegm(&tm); /* normalizes the day into the next month or year */
    put_date(out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

void of_format_utc(int64_t time_us, char *out)
{
    time_t t = (time_t)(time_us >= 0 ? time_us / 1000000 : (time_us - 999999) / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[11];
    put_date(date, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(out, 21, "%sT%02u:%02u:%02uZ", date, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}
