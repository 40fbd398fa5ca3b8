/* remittance_store.c — all SQL of remittance-worker (see remittance.h). Every statement is
 * fixed text with parameters; rstore_update sets only the columns its JSON names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notes.h"
#include "remittance.h"
#include "shop_time.h"

/* The first column of the only row as JSON (NULL when no row). */
static int one_json(of_db *db, const char *sql, int n, const char *const *params, json_t **out,
                    of_error *err)
{
    *out = NULL;
    PGresult *r = of_db_exec(db, sql, n, params, err);
    if (!r)
        return -1;
    if (PQntuples(r) > 0)
        *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return 0;
}

int rstore_get(of_db *db, const char *remit_id, json_t **row, of_error *err)
{
    const char *p[] = {remit_id};
    return one_json(db,
                    "SELECT json_build_object('remit_id', remit_id, 'buyer_id', buyer_id, "
                    "'state', state, 'staff', staff, 'amount', amount::text)::text "
                    "FROM remittances WHERE remit_id = $1 FOR UPDATE",
                    1, p, row, err);
}

int rstore_insert(of_db *db, const of_item *it, of_error *err)
{
    const json_t *d = it->ev.data;
    char day[11], *items = json_dumps(json_object_get(d, "items"), JSON_COMPACT);
    of_shop_date(it->ev.time_us, day);
    const char *p[] = {json_string_value(json_object_get(d, "remit_id")),
                       json_string_value(json_object_get(d, "buyer_id")),
                       json_is_true(json_object_get(d, "placed_on_shop")) ? "true" : "false",
                       json_string_value(json_object_get(d, "shop_order_id")),
                       items,
                       json_string_value(json_object_get(d, "address")),
                       json_string_value(json_object_get(d, "staff")),
                       json_is_true(json_object_get(d, "overseas")) ? "true" : "false",
                       it->ev.time,
                       day};
    int rc = of_db_run(db,
                       "INSERT INTO remittances (remit_id, buyer_id, placed_on_shop, "
                       "shop_order_id, items, address, staff, overseas, state, ordered_at, day) "
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ordered', $9, $10)",
                       10, p, err);
    free(items);
    return rc;
}

/* Each column changes only when the JSON names it (JSON null sets SQL NULL). */
static const char update_sql[] =
    "UPDATE remittances SET "
    "state = CASE WHEN j ? 'state' THEN (j->>'state')::text ELSE state END, "
    "notified_at = CASE WHEN j ? 'notified_at' THEN (j->>'notified_at')::timestamptz ELSE "
    "notified_at END, "
    "remitted_on = CASE WHEN j ? 'remitted_on' THEN (j->>'remitted_on')::date ELSE remitted_on "
    "END, "
    "method = CASE WHEN j ? 'method' THEN (j->>'method')::text ELSE method END, "
    "bank = CASE WHEN j ? 'bank' THEN (j->>'bank')::text ELSE bank END, "
    "amount = CASE WHEN j ? 'amount' THEN (j->>'amount')::numeric ELSE amount END, "
    "notified_by = CASE WHEN j ? 'notified_by' THEN (j->>'notified_by')::text ELSE notified_by "
    "END, "
    "verified_at = CASE WHEN j ? 'verified_at' THEN (j->>'verified_at')::timestamptz ELSE "
    "verified_at END, "
    "verified_by = CASE WHEN j ? 'verified_by' THEN (j->>'verified_by')::text ELSE verified_by "
    "END, "
    "buyer_told_at = CASE WHEN j ? 'buyer_told_at' THEN (j->>'buyer_told_at')::timestamptz ELSE "
    "buyer_told_at END, "
    "shipped_at = CASE WHEN j ? 'shipped_at' THEN (j->>'shipped_at')::timestamptz ELSE shipped_at "
    "END, "
    "waybill_no = CASE WHEN j ? 'waybill_no' THEN (j->>'waybill_no')::text ELSE waybill_no END, "
    "shipped_by = CASE WHEN j ? 'shipped_by' THEN (j->>'shipped_by')::text ELSE shipped_by END, "
    "m3_breached_at = CASE WHEN j ? 'm3_breached_at' THEN (j->>'m3_breached_at')::timestamptz ELSE "
    "m3_breached_at END, "
    "duplicate_order_id = CASE WHEN j ? 'duplicate_order_id' THEN (j->>'duplicate_order_id')::text "
    "ELSE duplicate_order_id END, "
    "updated_at = now() FROM (SELECT $2::jsonb AS j) s WHERE remit_id = $1";

int rstore_update(of_db *db, const char *remit_id, json_t *set, of_error *err)
{
    char *js = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    if (!js)
        return of_error_set(err, "out of memory");
    const char *p[] = {remit_id, js};
    int rc = of_db_run(db, update_sql, 2, p, err);
    free(js);
    return rc;
}

int rstore_role(of_db *db, const char *name, char *role, size_t rolesz, of_error *err)
{
    const char *p[] = {name};
    PGresult *r = of_db_exec(db, "SELECT role FROM staff WHERE name = $1", 1, p, err);
    if (!r)
        return -1;
    snprintf(role, rolesz, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

int rstore_lock_buyer(of_db *db, const char *buyer, of_error *err)
{
    const char *p[] = {buyer};
    if (of_db_run(db, "INSERT INTO buyer_balances (buyer_id) VALUES ($1) ON CONFLICT DO NOTHING", 1,
                  p, err))
        return -1;
    return of_db_run(db, "SELECT 1 FROM buyer_balances WHERE buyer_id = $1 FOR UPDATE", 1, p, err);
}

int rstore_order(of_db *db, const char *order_id, json_t **row, of_error *err)
{
    const char *p[] = {order_id};
    return one_json(db,
                    "SELECT json_build_object('order_id', order_id, 'buyer_id', buyer_id, "
                    "'state', state, 'closed', closed)::text FROM orders WHERE order_id = $1 "
                    "FOR UPDATE",
                    1, p, row, err);
}

int rstore_duplicate_order(of_db *db, const char *buyer, const json_t *items, json_t **row,
                           of_error *err)
{
    char *js = json_dumps(items, JSON_COMPACT);
    const char *p[] = {buyer, js};
    int rc = one_json(db,
                      "SELECT json_build_object('order_id', order_id)::text FROM orders "
                      "WHERE buyer_id = $1 AND items_key = items_key($2::jsonb) AND NOT closed "
                      "AND state = 'unpaid' ORDER BY created_at, order_id LIMIT 1 FOR UPDATE",
                      2, p, row, err);
    free(js);
    return rc;
}

int rstore_close_order(of_db *db, const of_item *it, const char *order_id, const char *reason,
                       const char *key, const char *author, json_t *params, of_error *err)
{
    char date[11];
    of_shop_date(it->ev.time_us, date);
    json_object_set_new(params, "date", json_string(date));
    char *text[3] = {NULL, NULL, NULL}, *pj = json_dumps(params, JSON_COMPACT);
    int rc = -1;
    for (int l = 0; l < 3; l++)
        if (!(text[l] = notes_render(key, l, params, err)))
            goto out;
    const char *p1[] = {order_id, it->ev.time, reason};
    if (of_db_run(db,
                  "UPDATE orders SET closed = true, closed_at = $2, close_reason = $3, "
                  "updated_at = now() WHERE order_id = $1 AND NOT closed",
                  3, p1, err))
        goto out;
    const char *p2[] = {order_id, notes_rule(key), key,      pj,
                        author,   it->ev.time,     text[0],  text[1],
                        text[2],  it->ev.source,   it->ev.id};
    rc = of_db_run(db,
                   "INSERT INTO order_notes (order_id, seq, code, template, params, author, "
                   "noted_at, rendered, rendered_hans, rendered_en, event_source, event_id) "
                   "SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                   "$11 FROM order_notes WHERE order_id = $1",
                   11, p2, err);
out:
    for (int l = 0; l < 3; l++)
        free(text[l]);
    free(pj);
    json_decref(params);
    return rc;
}

int rstore_review(of_db *db, const char *day, const char *supervisor, const char *at,
                  char *already_by, size_t bysz, of_error *err)
{
    const char *p[] = {day, supervisor, at};
    PGresult *r = of_db_exec(db,
                             "WITH ins AS (INSERT INTO remittance_reviews (day, supervisor, "
                             "reviewed_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING "
                             "RETURNING day) SELECT (SELECT count(*) FROM ins), "
                             "(SELECT supervisor FROM remittance_reviews WHERE day = $1)",
                             3, p, err);
    if (!r)
        return -1;
    already_by[0] = '\0';
    if (PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), "0") == 0)
        snprintf(already_by, bysz, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}
