/* api_remit.c — the remittance flow (匯款流程, M1-M8) at the dashboard: remittances with their
 * aging since the buyer's notice (M3), a supervisor's verification (M4), the daily record per
 * day (M7) with its CSV (common/remittance_csv.c, the same file as `orderflow-admin
 * remittance-csv`) and a supervisor's review of a day (M8).
 *
 * Verification and review are business events: published as remittance.verified /
 * remittance.reviewed with the user as the supervisor, judged by remittance-worker (who
 * checks the staff roster's role), and awaited like every action (actions.h). Remittances
 * belong to no shop order, so their events come from the source "shop/dashboard". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "api_util.h"
#include "app.h"
#include "handlers.h"
#include "remittance_csv.h"

#define REMIT_SOURCE "shop/dashboard"

static const char *const remit_states[] = {"ordered", "notified", "verified", "shipped", NULL};

/* GET /api/v1/remittances?state&staff&buyer_id&from&to — ordered_at desc */
void dash_h_remittances(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"state", "staff", "buyer_id", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *state, *staff, *buyer;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_TEXT) ||
        api_enum(&a, rs, "state", remit_states, &state) || api_text(&a, rs, "staff", 128, &staff) ||
        api_text(&a, rs, "buyer_id", 128, &buyer) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {
        state,       staff, buyer, api_nz(tr.from), api_nz(tr.to), api_nz(pg.after_key),
        pg.after_id, lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT remit_id, buyer_id, state, staff, ordered_at, day, placed_on_shop, shop_order_id, "
        "items, address, overseas, notified_at, remitted_on, method, bank, amount, verified_at, "
        "verified_by, buyer_told_at, shipped_at, waybill_no, "
        "round(extract(epoch FROM clock_timestamp() - notified_at))::bigint AS aging_s "
        "FROM remittances_v WHERE ($1::text IS NULL OR state = $1) "
        "AND ($2::text IS NULL OR staff = $2) AND ($3::text IS NULL OR buyer_id = $3) "
        "AND ($4::timestamptz IS NULL OR ordered_at >= $4) "
        "AND ($5::timestamptz IS NULL OR ordered_at < $5) "
        "AND ($6::timestamptz IS NULL OR (ordered_at, remit_id) < ($6, $7::text)) "
        "ORDER BY ordered_at DESC, remit_id DESC LIMIT $8",
        8, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "ordered_at", "remit_id"));
    PQclear(r);
}

static void verify(dash_req *rq, dash_resp *rs, json_t *audit)
{
    const char *remit_id = rq->nparams ? rq->params[0] : NULL, *amount;
    if (!remit_id || !*remit_id || strlen(remit_id) > 64) {
        dash_error(rs, 400, "remit_id must be a remittance id of 1 to 64 characters");
        return;
    }
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    if (api_body_keys(rs, body, (const char *const[]){"amount", NULL}) ||
        api_body_str(rs, body, "amount", true, &amount))
        goto out;
    const char *p[] = {remit_id};
    PGresult *r = dash_sql(rq, rs, "SELECT state FROM remittances WHERE remit_id = $1", 1, p);
    if (!r)
        goto out;
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (!found) {
        dash_error(rs, 404, "no remittance \"%s\"", remit_id);
        goto out;
    }
    json_t *data = json_pack("{s:s,s:s,s:s}", "remit_id", remit_id, "supervisor", rq->user->name,
                             "amount", amount);
    dash_action act = {
        .type = "remittance.verified", .source = REMIT_SOURCE, .subject = remit_id, .data = data};
    int rc = dash_action_run(rq, rs, &act);
    json_decref(data);
    if (rc)
        goto out;
    json_object_set_new(audit, "amount", json_string(amount));
    json_object_set_new(audit, "event_id", json_string(act.event_id));
    dash_action_answer(rq, rs, &act, json_pack("{s:s}", "remit_id", remit_id));
out:
    json_decref(body);
}

/* POST /api/v1/remittances/{remit_id}/verify {amount} (M4) */
void dash_h_remittance_verify(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "remittance.verify", verify);
}

/* GET /api/v1/remittance-days?reviewed — days newest first, with their counts and amounts.
 * The days are found by a loose index scan of remittances_day (one probe per day, evaluated
 * only as far as the page needs), each day's remittances then counted through the same
 * index: the cost is the page's, never the table's. The rows come out in the scan's order
 * (day descending), which the page keeps. */
void dash_h_remittance_days(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"reviewed", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    int reviewed;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_DAY, API_KEY_DAY) ||
        api_bool(&a, rs, "reviewed", &reviewed))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {api_nz(pg.after_key),
                       reviewed < 0 ? NULL
                       : reviewed   ? "true"
                                    : "false",
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "WITH RECURSIVE days(day) AS ("
        "(SELECT day FROM remittances WHERE ($1::date IS NULL OR day < $1) "
        "ORDER BY day DESC LIMIT 1) "
        "UNION ALL SELECT (SELECT r.day FROM remittances r WHERE r.day < d.day "
        "ORDER BY r.day DESC LIMIT 1) FROM days d WHERE d.day IS NOT NULL) "
        "SELECT d.day, c.remittances, c.amount, c.ordered, c.notified, c.verified, c.shipped, "
        "(SELECT v.supervisor FROM remittance_reviews v WHERE v.day = d.day) AS reviewed_by, "
        "(SELECT v.reviewed_at FROM remittance_reviews v WHERE v.day = d.day) AS reviewed_at "
        "FROM days d CROSS JOIN LATERAL (SELECT count(*) AS remittances, "
        "coalesce(sum(amount), 0) AS amount, "
        "count(*) FILTER (WHERE state = 'ordered') AS ordered, "
        "count(*) FILTER (WHERE state = 'notified') AS notified, "
        "count(*) FILTER (WHERE state = 'verified') AS verified, "
        "count(*) FILTER (WHERE state = 'shipped') AS shipped "
        "FROM remittances r WHERE r.day = d.day) c "
        "WHERE d.day IS NOT NULL AND ($2::boolean IS NULL OR "
        "EXISTS (SELECT 1 FROM remittance_reviews v WHERE v.day = d.day) = $2) "
        "LIMIT $3",
        3, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "day", "day"));
    PQclear(r);
}

static int day_param(const dash_req *rq, dash_resp *rs, const char **day)
{
    *day = rq->nparams ? rq->params[0] : NULL;
    if (!api_is_day(*day)) {
        dash_error(rs, 400, "day must be a date like 2026-11-23 (YYYY-MM-DD)");
        return -1;
    }
    return 0;
}

/* GET /api/v1/remittance-days/{day} — remittance_daily_v rows of the day (M7) */
void dash_h_remittance_day(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    const char *day;
    if (day_param(rq, rs, &day) || api_args_known(&a, rs, (const char *const[]){NULL}) ||
        dash_page_read(rq, rs, &pg) || api_cursor_check(&pg, rs, API_KEY_DAY, API_KEY_TEXT))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {day, pg.after_id[0] ? pg.after_id : NULL, lim};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT day, remit_id, buyer_id, amount, state, reviewed_by, staff, "
                           "placed_on_shop, items, address, notified_at, verified_at, "
                           "shipped_at, waybill_no, reviewed_at FROM remittance_daily_v "
                           "WHERE day = $1::date AND ($2::text IS NULL OR remit_id < $2) "
                           "ORDER BY remit_id DESC LIMIT $3",
                           3, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "day", "remit_id"));
    PQclear(r);
}

/* GET /api/v1/remittance-days/{day}/csv — the 匯款銷售記錄表 as a UTF-8 CSV download */
void dash_h_remittance_day_csv(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    const char *day;
    if (day_param(rq, rs, &day) || api_args_known(&a, rs, (const char *const[]){NULL}))
        return;
    if (!rq->db) {
        dash_error(rs, 503, "the database is unreachable; try again shortly");
        return;
    }
    of_error err;
    size_t len = 0;
    char *csv = of_remittance_csv(rq->db, day, rq->app->cfg.shop_tz, &len, &err);
    if (!csv) {
        dash_error(rs, 500, "the record of %s could not be made: %s", day, err.msg);
        return;
    }
    dash_raw(rs, 200, "text/csv; charset=utf-8", csv, len);
    snprintf(rs->disposition, sizeof rs->disposition, "attachment; filename=\"remittance-%s.csv\"",
             day);
}

static void review(dash_req *rq, dash_resp *rs, json_t *audit)
{
    const char *day;
    if (day_param(rq, rs, &day))
        return;
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    int bad = api_body_keys(rs, body, (const char *const[]){NULL});
    json_decref(body);
    if (bad)
        return;
    json_t *data = json_pack("{s:s,s:s}", "day", day, "supervisor", rq->user->name);
    dash_action act = {
        .type = "remittance.reviewed", .source = REMIT_SOURCE, .subject = day, .data = data};
    int rc = dash_action_run(rq, rs, &act);
    json_decref(data);
    if (rc)
        return;
    json_object_set_new(audit, "event_id", json_string(act.event_id));
    dash_action_answer(rq, rs, &act, json_pack("{s:s}", "day", day));
}

/* POST /api/v1/remittance-days/{day}/review (M8) */
void dash_h_remittance_day_review(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "remittance.review", review);
}
