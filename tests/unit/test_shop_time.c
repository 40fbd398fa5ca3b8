/* test_shop_time.c — common/shop_time.c: the shop's date and minute of the day agree with
 * localtime_r at every kind of moment (zones with half- and quarter-hour offsets, summer
 * time starting and ending, a 30-minute summer shift, offsets with seconds from before time
 * zones, before 1970), including a zone changed while a thread has one cached; and the
 * calendar helpers. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "of_test.h"
#include "shop_time.h"

/* What localtime_r says, as of_shop_date and of_shop_minute_of_day put it. */
static void expected(int64_t t, char date[11], int *minute)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    snprintf(date, 11, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
    *minute = tm.tm_hour * 60 + tm.tm_min;
}

/* Every `step` seconds from `from` for `span` seconds: the same answers as localtime_r.
 * Returns the number of disagreements (each is a failed check too). */
static int sweep(const char *zone, int64_t from, int64_t span, int64_t step)
{
    of_error err;
    CHECK(of_shop_tz_init(zone, &err) == 0);
    int bad = 0;
    for (int64_t t = from; t < from + span; t += step) {
        char want[11], got[11];
        int want_min;
        expected(t, want, &want_min);
        of_shop_date(t * 1000000, got);
        int got_min = of_shop_minute_of_day(t * 1000000 + 999999);
        if (strcmp(got, want) != 0 || got_min != want_min) {
            if (bad++ < 3)
                fprintf(stderr, "  %s at %lld: got %s %d, want %s %d\n", zone, (long long)t, got,
                        got_min, want, want_min);
        }
    }
    CHECK(bad == 0);
    return bad;
}

static void test_zones(void)
{
    const int64_t year = 366LL * 86400, y2026 = 1767225600; /* 2026-01-01T00:00:00Z */
    /* odd steps land on every minute and second of the hour over a year */
    sweep("Asia/Shanghai", y2026, year, 7 * 60 + 13);
    sweep("America/New_York", y2026, year, 7 * 60 + 13); /* summer time both ways */
    sweep("Europe/London", y2026, year, 11 * 60 + 7);
    sweep("Asia/Kolkata", y2026, 40 * 86400, 61);              /* +05:30 */
    sweep("Asia/Kathmandu", y2026, 40 * 86400, 59);            /* +05:45 */
    sweep("Australia/Lord_Howe", y2026, year, 7 * 60 + 3);     /* a 30-minute summer shift */
    sweep("America/Sao_Paulo", -2208988800LL, 3 * year, 3607); /* 1900-: LMT -3:06:28 */
    sweep("Asia/Shanghai", -2208988800LL, 2 * year, 3599);     /* LMT +8:05:43 until 1901 */
    sweep("Asia/Shanghai", -86400 * 3, 86400 * 6, 599);        /* around the epoch */

    /* a transition's own hour, second by second (America/New_York, 2026-03-08 07:00Z) */
    sweep("America/New_York", 1772953200LL - 3600, 3 * 3600, 1);
    /* the zone changes while the same hour is cached: the new zone's answer */
    of_error err;
    char d[11];
    CHECK(of_shop_tz_init("Asia/Shanghai", &err) == 0);
    of_shop_date((y2026 - 3600) * 1000000, d); /* 2025-12-31T23:00Z = 07:00 in Shanghai */
    CHECK_STR(d, "2026-01-01");
    CHECK(of_shop_minute_of_day((y2026 - 3600) * 1000000) == 7 * 60);
    CHECK(of_shop_tz_init("America/New_York", &err) == 0);
    of_shop_date((y2026 - 3600) * 1000000, d); /* 18:00 on the 31st in New York */
    CHECK_STR(d, "2025-12-31");
    CHECK(of_shop_minute_of_day((y2026 - 3600) * 1000000) == 18 * 60);
    CHECK(of_shop_tz_init("Nowhere/Special", &err) != 0);
    CHECK(of_shop_tz_init("../etc/passwd", &err) != 0);
}

static void test_calendar(void)
{
    char out[21];
    of_date_next("2026-02-28", out);
    CHECK_STR(out, "2026-03-01");
    of_date_next("2028-02-28", out);
    CHECK_STR(out, "2028-02-29");
    of_date_next("2026-12-31", out);
    CHECK_STR(out, "2027-01-01");
    of_format_utc(1767225600LL * 1000000 + 999999, out);
    CHECK_STR(out, "2026-01-01T00:00:00Z");
    of_format_utc(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59Z");
}

int main(void)
{
    test_zones();
    test_calendar();
    return TEST_DONE();
}
