/* shop_time.c — the shop's time zone (see shop_time.h), through the C library's zoneinfo
 * support: TZ is set once at start-up, localtime_r gives the UTC offset of an hour, and the
 * calendar date is computed from the offset. */
#include "shop_time.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* localtime_r reads the zone under a process-wide lock and walks its transitions on every
 * call; each thread keeps the UTC offset of the last hour it converted (an offset changes
 * only at a transition, and an hour holding one is converted by localtime_r every time).
 * of_shop_tz_init bumps the generation, so a new zone is never read from a stale cache. */
static atomic_int tz_generation;
static _Thread_local struct {
    int generation; /* 0: nothing cached */
    int64_t hour;   /* UTC hours since the epoch */
    long offset;    /* seconds east of UTC throughout that hour */
} offset_cache;

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
    atomic_fetch_add(&tz_generation, 1);
    return 0;
}

/* YYYY-MM-DD, years clamped to 0..9999 so the text always fits 11 bytes */
static void put_date(char *out, int y, int m, int d)
{
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}

/* The shop's local time, broken down as far as its callers need. */
typedef struct local_time {
    int year, month, day, hour, minute;
} local_time;

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The civil date of a day number (days since 1970-01-01), proleptic Gregorian. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void local_time_of(int64_t time_us, local_time *out)
{
    int64_t t = floor_div(time_us, 1000000), hour = floor_div(t, 3600);
    int gen = atomic_load(&tz_generation) + 1;
    if (offset_cache.generation != gen || offset_cache.hour != hour) {
        time_t first = (time_t)(hour * 3600), last = first + 3599, now = (time_t)t;
        struct tm a, b;
        localtime_r(&first, &a);
        localtime_r(&last, &b);
        if (a.tm_gmtoff != b.tm_gmtoff) { /* a transition within this very hour */
            localtime_r(&now, &a);
            *out = (local_time){a.tm_year + 1900, a.tm_mon + 1, a.tm_mday, a.tm_hour, a.tm_min};
            offset_cache.generation = 0;
            return;
        }
        offset_cache.generation = gen;
        offset_cache.hour = hour;
        offset_cache.offset = a.tm_gmtoff;
    }
    int64_t local = t + offset_cache.offset, day = floor_div(local, 86400);
    int64_t sec = local - day * 86400;
    civil_from_days(day, &out->year, &out->month, &out->day);
    out->hour = (int)(sec / 3600);
    out->minute = (int)(sec % 3600 / 60);
}

void of_shop_date(int64_t time_us, char *out)
{
    local_time lt;
    local_time_of(time_us, &lt);
    put_date(out, lt.year, lt.month, lt.day);
}

int of_shop_minute_of_day(int64_t time_us)
{
    local_time lt;
    local_time_of(time_us, &lt);
    return lt.hour * 60 + lt.minute;
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
