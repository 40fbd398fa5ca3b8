/* shop_time.h — the shop's calendar (SHOP_TZ): the {date} of a note, the day of a daily
 * record, the T1 ship-by day. Times are µs since the epoch (of_event.time_us). */
#ifndef OF_SHOP_TIME_H
#define OF_SHOP_TIME_H

#include <stdint.h>

#include "of_error.h"

/* Makes tz (an IANA name such as Asia/Shanghai) the process's local zone; fails with a
 * message when the zone is unknown. Call once at start-up, before threads. */
int of_shop_tz_init(const char *tz, of_error *err) OF_MUST_CHECK;

/* "YYYY-MM-DD" in the shop's zone; out holds at least 11 bytes. */
void of_shop_date(int64_t time_us, char *out);

/* Minutes since local midnight in the shop's zone. */
int of_shop_minute_of_day(int64_t time_us);

/* "YYYY-MM-DD" of the day after the given date string (calendar arithmetic). */
void of_date_next(const char *date, char *out);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) of a time; out holds at least 21 bytes. */
void of_format_utc(int64_t time_us, char *out);

#endif
