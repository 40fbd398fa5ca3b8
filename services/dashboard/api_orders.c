/* api_orders.c — the orders pages: the list (search by order, buyer, shop, state, closed,
 * time; newest first) and one order's page: the order, its note timeline with the three
 * renderings (A0-A21, F1-F4, M1), its tasks, refund registrations (masked unless the user
 * is a supervisor, F3), balance ledger rows and its recharge, if it is one.
 *
 * The list reads orders_created / orders_state / orders_buyer / orders_shop (0001, 0005) in
 * (created_at, order_id) order with keyset pagination, so a page costs the same at any depth
 * and with a million orders. */
#include <stdio.h>
#include <string.h>

#include "api_util.h"
#include "handlers.h"

static const char *const order_states[] = {"unpaid", "paid", "printed", "shipped", NULL};

/* GET /api/v1/orders?order_id&buyer_id&shop_id&state&closed&from&to */
void dash_h_orders(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"order_id", "buyer_id", "shop_id", "state",
                                        "closed",   "from",     "to",      NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *order_id, *buyer, *shop, *state;
    int closed;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_TEXT) ||
        api_text(&a, rs, "order_id", 64, &order_id) || api_text(&a, rs, "buyer_id", 64, &buyer) ||
        api_text(&a, rs, "shop_id", 64, &shop) || api_enum(&a, rs, "state", order_states, &state) ||
        api_bool(&a, rs, "closed", &closed) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {order_id,
                       buyer,
                       shop,
                       state,
                       closed < 0 ? NULL
                       : closed   ? "true"
                                  : "false",
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id,
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT order_id, shop_id, buyer_id, state, total, paid_at, printed_at, closed, "
        "created_at, paid_amount, pay_method, waybill_no, shipped_at, carrier, closed_at, "
        "close_reason, ship_by, refund_from, refunded, updated_at "
        "FROM orders_v "
        "WHERE ($1::text IS NULL OR order_id = $1) AND ($2::text IS NULL OR buyer_id = $2) "
        "AND ($3::text IS NULL OR shop_id = $3) AND ($4::text IS NULL OR state = $4) "
        "AND ($5::boolean IS NULL OR closed = $5) "
        "AND ($6::timestamptz IS NULL OR created_at >= $6) "
        "AND ($7::timestamptz IS NULL OR created_at < $7) "
        "AND ($8::timestamptz IS NULL OR (created_at, order_id) < ($8, $9::text)) "
        "ORDER BY created_at DESC, order_id DESC LIMIT $10",
        10, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "created_at", "order_id"));
    PQclear(r);
}

/* Runs sql with the order id and sets key to its rows; -1 with the response set. */
static int rows_into(dash_req *rq, dash_resp *rs, json_t *out, const char *key, const char *sql,
                     const char *order_id)
{
    const char *p[] = {order_id};
    PGresult *r = dash_sql(rq, rs, sql, 1, p);
    if (!r)
        return -1;
    json_object_set_new(out, key, dash_rows(r));
    PQclear(r);
    return 0;
}

/* Refund registrations of the order: account and real name in full for a supervisor, else
 * masked (refund_registrations_v); `masked` says which. */
static const char refunds_sql_supervisor[] =
    "SELECT reg_id, order_id, buyer_id, channel, account, real_name, amount, reason, staff, "
    "registered_at, reply, false AS masked FROM refund_registrations WHERE order_id = $1 "
    "ORDER BY reg_id";
static const char refunds_sql_masked[] =
    "SELECT reg_id, order_id, buyer_id, channel, account_masked AS account, "
    "real_name_masked AS real_name, amount, reason, staff, registered_at, reply, true AS masked "
    "FROM refund_registrations_v WHERE order_id = $1 ORDER BY reg_id";

/* GET /api/v1/orders/{order_id} */
void dash_h_order(dash_req *rq, dash_resp *rs)
{
    const char *order_id = rq->params[0];
    if (!order_id || !*order_id || strlen(order_id) > 64) {
        dash_error(rs, 400, "order_id must be an order id of 1 to 64 characters");
        return;
    }
    const char *p[] = {order_id};
    PGresult *r = dash_sql(rq, rs, "SELECT * FROM orders_v WHERE order_id = $1", 1, p);
    if (!r)
        return;
    json_t *rows = dash_rows(r);
    PQclear(r);
    json_t *order = json_array_get(rows, 0);
    if (!order) {
        json_decref(rows);
        char id[72];
        snprintf(id, sizeof id, "%.64s", order_id);
        of_utf8_repair(id);
        dash_error(rs, 404, "no order \"%s\"", id);
        return;
    }
    json_t *out = json_pack("{s:O}", "order", order);
    json_decref(rows);
    if (rows_into(rq, rs, out, "notes",
                  "SELECT order_id, seq, code, author, noted_at, rendered, rendered_hans, "
                  "rendered_en, template, params FROM order_notes_v WHERE order_id = $1 "
                  "ORDER BY seq LIMIT 2000",
                  order_id) ||
        rows_into(rq, rs, out, "tasks",
                  "SELECT task_id, order_id, kind, assignee, status, created_at, closed_at, "
                  "closed_by, detail FROM tasks_v WHERE order_id = $1 ORDER BY task_id "
                  "LIMIT 500",
                  order_id) ||
        rows_into(rq, rs, out, "refunds",
                  dash_is_supervisor(rq) ? refunds_sql_supervisor : refunds_sql_masked, order_id) ||
        rows_into(rq, rs, out, "ledger",
                  "SELECT entry_id, buyer_id, delta, balance_after, order_id, at, kind, staff, "
                  "reason FROM balance_ledger_v WHERE order_id = $1 ORDER BY entry_id LIMIT 500",
                  order_id) ||
        rows_into(rq, rs, out, "recharge",
                  "SELECT order_id, state, locked_by, lock_expires_at, attempts, result, "
                  "result_at, handled_at, handled_by, account_masked, product, face_value, "
                  "amount, requested_at, provider_ref, suspend_reason FROM recharges_v "
                  "WHERE order_id = $1",
                  order_id)) {
        json_decref(out);
        return;
    }
    api_mask_task_details(rq, json_object_get(out, "tasks"));
    /* one recharge at most: the row or null */
    json_t *rc = json_array_get(json_object_get(out, "recharge"), 0);
    json_object_set(out, "recharge", rc ? rc : json_null());
    dash_json(rs, 200, out);
}
