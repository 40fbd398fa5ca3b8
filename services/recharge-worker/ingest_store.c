/* ingest_store.c — the SQL of recharge-worker's consumer loop (see ingest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int istore_queue(of_db *db, json_t *orders, json_t **queued, of_error *err)
{
    *queued = NULL;
    char *js = json_dumps(orders, JSON_COMPACT);
    if (!js)
        return of_error_set(err, "out of memory");
    const char *params[] = {js};
    PGresult *r = of_db_exec(
        db,
        "INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
        "requested_at) "
        "SELECT j->>'o', j->>'sh', j->>'acc', j->>'p', (j->>'fv')::numeric, (j->>'am')::numeric, "
        "(j->>'t')::timestamptz FROM json_array_elements($1::json) WITH ORDINALITY AS e(j, n) "
        "ORDER BY n "
        "ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
        1, params, err);
    free(js);
    if (!r)
        return -1;
    *queued = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(*queued, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    return 0;
}

int istore_order_get(of_db *db, const char *order_id, const char *attempt_id, istore_order *o,
                     bool *found, of_error *err)
{
    memset(o, 0, sizeof *o);
    const char *params[] = {order_id, attempt_id};
    PGresult *r = of_db_exec(db,
                             "SELECT r.state, coalesce(r.result, ''), r.attempt_id IS NOT DISTINCT "
                             "FROM $2 OR EXISTS (SELECT 1 FROM recharge_attempts a WHERE "
                             "a.attempt_id = $2 AND a.order_id = $1) "
                             "FROM recharges r WHERE r.order_id = $1 FOR UPDATE",
                             2, params, err);
    if (!r)
        return -1;
    *found = PQntuples(r) > 0;
    if (*found) {
        snprintf(o->state, sizeof o->state, "%s", PQgetvalue(r, 0, 0));
        snprintf(o->result, sizeof o->result, "%s", PQgetvalue(r, 0, 1));
        o->attempt_known = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    }
    PQclear(r);
    return 0;
}

int istore_conflict(of_db *db, const char *order_id, const char *attempt_id, const char *status,
                    const char *at, const char *state, of_error *err)
{
    const char *params[] = {order_id, attempt_id, status, at, state};
    return of_db_run(
        db,
        "WITH cur AS (INSERT INTO recharge_attempts (attempt_id, order_id, n, processor, token, "
        "started_at, status, provider_ref, result_at, handled_at, reported_status, reported_at) "
        "SELECT r.attempt_id, r.order_id, r.attempts, r.last_processor, r.lock_token, "
        "coalesce(r.attempt_started_at, now()), r.result, r.provider_ref, r.result_at, "
        "r.handled_at, $3, $4::timestamptz FROM recharges r WHERE r.order_id = $1 AND "
        "r.attempt_id = $2 ON CONFLICT (attempt_id) DO UPDATE SET reported_status = "
        "EXCLUDED.reported_status, reported_at = EXCLUDED.reported_at), "
        "old AS (UPDATE recharge_attempts SET reported_status = $3, reported_at = $4::timestamptz "
        "WHERE attempt_id = $2 AND order_id = $1 AND NOT EXISTS (SELECT 1 FROM recharges r "
        "WHERE r.order_id = $1 AND r.attempt_id = $2)) "
        "INSERT INTO alerts (kind, rule, subject_id, reason, payload) "
        "SELECT 'result_conflict', 'R7', $1, m, jsonb_build_object('kind', 'result_conflict', "
        "'rule', 'R7', 'subject_id', $1, 'reason', m, 'at', now(), 'attempt_id', $2, "
        "'reported', $3, 'state', $5) "
        "FROM (SELECT 'order is ' || $5 || ' but the provider reports ' || $3 || ' for attempt ' "
        "|| $2 AS m) x ON CONFLICT (rule, subject_id, kind) DO NOTHING",
        5, params, err);
}
