/* remittance_csv.h — the daily remittance sales record (匯款銷售記錄表, M7) of one shop day
 * as CSV (RFC 4180, UTF-8, CRLF line ends): one header row, then one row per remittance of
 * the day, times in the shop's time zone. `orderflow-admin remittance-csv DAY` prints it and
 * the dashboard offers it as a download; both take it from here, so they never differ. */
#ifndef OF_REMITTANCE_CSV_H
#define OF_REMITTANCE_CSV_H

#include <stddef.h>
#include <libpq-fe.h>

#include "of_error.h"

/* The CSV of day (YYYY-MM-DD) read on conn, times written in tz (SHOP_TZ): a malloc'd,
 * NUL-terminated buffer of *len bytes (the caller frees), or NULL with err. A day without
 * remittances gives the header row alone. */
char *of_remittance_csv(PGconn *conn, const char *day, const char *tz, size_t *len, of_error *err);

#endif
