/* api_money.c — the money records: refund registrations (F3; account and real name are
 * personal data, masked unless the user is a supervisor), the buyers' balance ledger (A5,
 * F3, F4) and the daily recharge record per processor (R6, recharge_daily_v).
 *
 * Newest first with keyset pagination on refund_registrations_at and balance_ledger_at. */
#include <stdio.h>
#include <string.h>

#include "api_util.h"
#include "handlers.h"

/* GET /api/v1/refund-registrations?order_id&buyer_id&staff&from&to — registered_at desc */
void dash_h_refund_registrations(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"order_id", "buyer_id", "staff", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *order_id, *buyer, *staff;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        api_text(&a, rs, "order_id", 64, &order_id) || api_text(&a, rs, "buyer_id", 128, &buyer) ||
        api_text(&a, rs, "staff", 128, &staff) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {order_id,
                       buyer,
                       staff,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim,
                       dash_is_supervisor(rq) ? "true" : "false"};
    /* the table for a supervisor (in full), the masked view's columns for everyone else */
    PGresult *r =
        dash_sql(rq, rs,
                 "SELECT reg_id, order_id, buyer_id, channel, "
                 "CASE WHEN $9::boolean THEN account ELSE mask_account(account) END AS account, "
                 "CASE WHEN $9::boolean THEN real_name ELSE mask_name(real_name) END AS real_name, "
                 "NOT $9::boolean AS masked, amount, reason, staff, registered_at, reply "
                 "FROM refund_registrations WHERE ($1::text IS NULL OR order_id = $1) "
                 "AND ($2::text IS NULL OR buyer_id = $2) AND ($3::text IS NULL OR staff = $3) "
                 "AND ($4::timestamptz IS NULL OR registered_at >= $4) "
                 "AND ($5::timestamptz IS NULL OR registered_at < $5) "
                 "AND ($6::timestamptz IS NULL OR (registered_at, reg_id) < ($6, $7::bigint)) "
                 "ORDER BY registered_at DESC, reg_id DESC LIMIT $8",
                 9, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "registered_at", "reg_id"));
    PQclear(r);
}

/* GET /api/v1/balance-ledger?buyer_id&order_id&from&to — at desc */
void dash_h_balance_ledger(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"buyer_id", "order_id", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *buyer, *order_id;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        api_text(&a, rs, "buyer_id", 128, &buyer) || api_text(&a, rs, "order_id", 64, &order_id) ||
        api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {buyer,
                       order_id,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT entry_id, buyer_id, delta, balance_after, order_id, at, kind, staff, reason "
        "FROM balance_ledger_v WHERE ($1::text IS NULL OR buyer_id = $1) "
        "AND ($2::text IS NULL OR order_id = $2) "
        "AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4) "
        "AND ($5::timestamptz IS NULL OR (at, entry_id) < ($5, $6::bigint)) "
        "ORDER BY at DESC, entry_id DESC LIMIT $7",
        7, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "at", "entry_id"));
    PQclear(r);
}

/* GET /api/v1/recharge-daily?day&processor — the R6 record (recharge_daily_v), newest day
 * first: one row per processor and shop day, breaches counted as they are recorded
 * (0008_daily_records_speed.sql), read through recharge_processor_days_day. */
void dash_h_recharge_daily(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"day", "processor", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    const char *day, *processor;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_DAY, API_KEY_TEXT) || api_day_arg(&a, rs, "day", &day) ||
        api_text(&a, rs, "processor", 128, &processor))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {day, processor, api_nz(pg.after_key), pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT day, processor, locked, succeeded, failed, suspended, amount, "
                           "breaches FROM recharge_daily_v "
                           "WHERE ($1::date IS NULL OR day = $1) "
                           "AND ($2::text IS NULL OR processor = $2) "
                           "AND ($3::date IS NULL OR (day, processor) < ($3, $4::text)) "
                           "ORDER BY day DESC, processor DESC LIMIT $5::int",
                           5, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "day", "processor"));
    PQclear(r);
}
