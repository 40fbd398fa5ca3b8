/* api_desk.c — the recharge desk for staff (R1-R7) and the recharge list. A staff member is a
 * processor like recharge-worker's automated desks: the same lease protocol, through the SQL
 * functions of 0004_recharge.sql (recharge_lock, _finish, _release, _resolve, _heartbeat),
 * with the user's name as the processor, LOCK_WINDOW_S as the lease, RESULT_WINDOW_S as the
 * result window and SHOP_TZ as the day of the daily record (R6). Expiry is judged by the
 * database clock; a write with a lapsed lease or an old token changes nothing and is
 * answered 409 (fencing).
 *
 * Every use of the desk by a staff member or supervisor is a heartbeat (kind staff), so R5
 * readiness and processors_v see the people at the desk. A recharge account is personal
 * data: shown in full only to the holder of that order's lease (who tops it up) and to
 * supervisors; masked for everyone else.
 *
 * Suspended orders (R4) are settled one at a time or many at once (resolve-bulk: the selected
 * ids, or every suspended order a recharge-list filter matches, at most API_BULK_CAP), each
 * through recharge_resolve; retry queues the order for a new attempt id (R7). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_util.h"
#include "app.h"
#include "handlers.h"
#include "log.h"

/* A person at the desk counts as online this long after their last use of it (R5). */
#define DESK_HEARTBEAT_TIMEOUT_S 120
/* Lists of the desk page: locked and suspended orders shown at most. */
#define DESK_LIST_MAX 200
#define DESK_QUEUE_SHOWN 50

/* R2's next-lock gap: the same setting as recharge-worker's (RECHARGE_NEXT_LOCK_GAP_S,
 * default 10 s), so staff and automated desks are held to one limit. */
static pthread_once_t gap_once = PTHREAD_ONCE_INIT;
static char gap_s[16] = "10";

static void gap_init(void)
{
    const char *v = getenv("RECHARGE_NEXT_LOCK_GAP_S");
    long n = v ? strtol(v, NULL, 10) : 0;
    if (n >= 1 && n <= 3600)
        snprintf(gap_s, sizeof gap_s, "%ld", n);
    else if (v && *v)
        of_warn("RECHARGE_NEXT_LOCK_GAP_S=%s is not 1..3600: the desk uses 10", v);
}

static bool at_desk(const dash_req *rq)
{
    return rq->user->role_bit & (DASH_STAFF | DASH_SUPERVISOR);
}

/* R5: the user is online at the desk. -1 with the response set. */
static int heartbeat(dash_req *rq, dash_resp *rs)
{
    if (!at_desk(rq))
        return 0;
    char t[16];
    snprintf(t, sizeof t, "%d", DESK_HEARTBEAT_TIMEOUT_S);
    const char *p[] = {rq->user->name, t};
    PGresult *r =
        dash_sql(rq, rs, "SELECT recharge_heartbeat($1, 'staff', $2::float8, NULL)", 2, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int order_param(const dash_req *rq, dash_resp *rs, const char **out)
{
    *out = rq->nparams > 0 ? rq->params[0] : NULL;
    if (!*out || !**out || strlen(*out) > 64) {
        dash_error(rs, 400, "order_id must be an order id of 1 to 64 characters");
        return -1;
    }
    return 0;
}

/* Runs sql (params p) and sets key of out to its rows; -1 with the response set. */
static int rows_into(dash_req *rq, dash_resp *rs, json_t *out, const char *key, const char *sql,
                     int n, const char *const *p)
{
    PGresult *r = dash_sql(rq, rs, sql, n, p);
    if (!r)
        return -1;
    json_object_set_new(out, key, dash_rows(r));
    PQclear(r);
    return 0;
}

/* GET /api/v1/desk */
void dash_h_desk(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    if (api_args_known(&a, rs, (const char *const[]){NULL}) || heartbeat(rq, rs))
        return;
    char shown[16], max[16], cap[16];
    snprintf(shown, sizeof shown, "%d", DESK_QUEUE_SHOWN);
    snprintf(max, sizeof max, "%d", DESK_LIST_MAX);
    snprintf(cap, sizeof cap, "%d", API_BULK_CAP);
    const char *sup = dash_is_supervisor(rq) ? "true" : "false";
    const char *p_head[] = {cap};
    const char *p_queue[] = {shown};
    const char *p_locked[] = {rq->user->name, sup, max};
    const char *p_susp[] = {sup, max};
    json_t *out = json_object();
    /* the queue: queued orders, and locked ones whose lease lapsed (retaken next) */
    if (rows_into(rq, rs, out, "head",
                  "SELECT clock_timestamp() AS server_time, (SELECT count(*) FROM (SELECT 1 "
                  "FROM recharges WHERE state IN ('queued', 'locked') AND (state = 'queued' OR "
                  "lock_expires_at < clock_timestamp()) LIMIT $1::int) q) AS queue_length",
                  1, p_head) ||
        rows_into(rq, rs, out, "queue",
                  "SELECT order_id, shop_id, state, product, face_value, amount, "
                  "recharge_mask(account) AS account, requested_at, queued_at, attempts, "
                  "attempt_id, lock_expires_at FROM recharges WHERE state IN ('queued', "
                  "'locked') AND (state = 'queued' OR lock_expires_at < clock_timestamp()) "
                  "ORDER BY requested_at LIMIT $1::int",
                  1, p_queue) ||
        rows_into(rq, rs, out, "locked",
                  "SELECT order_id, shop_id, locked_by, locked_at, renewed_at, lock_expires_at, "
                  "CASE WHEN locked_by = $1 THEN lock_token END AS lock_token, "
                  "CASE WHEN locked_by = $1 OR $2::boolean THEN account "
                  "ELSE recharge_mask(account) END AS account, "
                  "NOT (locked_by = $1 OR $2::boolean) AS account_masked, product, face_value, "
                  "amount, attempt_id, attempts, requested_at, locked_by = $1 AS mine "
                  "FROM recharges WHERE state IN ('queued', 'locked') AND state = 'locked' "
                  "AND lock_expires_at > clock_timestamp() "
                  "ORDER BY locked_by = $1 DESC, lock_expires_at LIMIT $3::int",
                  3, p_locked) ||
        rows_into(rq, rs, out, "suspended",
                  "SELECT order_id, shop_id, product, face_value, amount, "
                  "CASE WHEN $1::boolean THEN account ELSE recharge_mask(account) END AS account, "
                  "NOT $1::boolean AS account_masked, suspend_reason, result, result_at, "
                  "handled_at, handled_by, attempt_id, attempts, provider_ref, requested_at "
                  "FROM recharges WHERE state = 'suspended' ORDER BY handled_at LIMIT $2::int",
                  2, p_susp)) {
        json_decref(out);
        return;
    }
    json_t *head = json_array_get(json_object_get(out, "head"), 0);
    json_object_set(out, "server_time", json_object_get(head, "server_time"));
    json_object_set(out, "queue_length", json_object_get(head, "queue_length"));
    json_object_del(out, "head");
    json_object_set_new(
        out, "queue_length_capped",
        json_boolean(json_integer_value(json_object_get(out, "queue_length")) >= API_BULK_CAP));
    json_t *mine = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(out, "locked"), i,
                       row) if (json_is_true(json_object_get(row, "mine")))
        json_array_append(mine, row);
    json_object_set_new(out, "mine", mine);
    json_object_set_new(out, "lock_window_s", json_integer(rq->app->cfg.lock_window_s));
    json_object_set_new(out, "result_window_s", json_integer(rq->app->cfg.result_window_s));
    dash_json(rs, 200, out);
}

/* POST /api/v1/desk/lock {} — the next order under a LOCK_WINDOW_S lease (R1). */
static void lock_next(dash_req *rq, dash_resp *rs, char *target, size_t tsz)
{
    json_t *body = api_body(rq, rs);
    if (!body)
        return;
    int bad = api_body_keys(rs, body, (const char *const[]){NULL});
    json_decref(body);
    if (bad || heartbeat(rq, rs))
        return;
    pthread_once(&gap_once, gap_init);
    char lease[16];
    snprintf(lease, sizeof lease, "%d", rq->app->cfg.lock_window_s);
    const char *p[] = {rq->user->name, lease, rq->app->cfg.shop_tz, gap_s};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT l.order_id, l.lock_token, l.lock_expires_at, l.account, "
                           "l.product, l.face_value::numeric AS face_value, l.attempt_id, "
                           "l.fresh, l.retaken, r.amount, r.shop_id, r.attempts "
                           "FROM recharge_lock($1, 1, $2::float8, $3, $4::float8) l "
                           "JOIN recharges r ON r.order_id = l.order_id",
                           4, p);
    if (!r)
        return;
    json_t *rows = dash_rows(r);
    PQclear(r);
    json_t *lease_row = json_array_get(rows, 0);
    if (!lease_row) {
        json_decref(rows);
        dash_error(rs, 404, "the queue is empty");
        return;
    }
    snprintf(target, tsz, "%s", json_string_value(json_object_get(lease_row, "order_id")));
    json_t *out = json_pack("{s:O}", "lease", lease_row);
    json_decref(rows);
    if (!json_is_true(json_object_get(json_object_get(out, "lease"), "fresh")))
        json_object_set_new(out, "message",
                            json_string("this order already has an attempt: check its status "
                                        "with the provider before topping up again (R7)"));
    dash_json(rs, 200, out);
}

void dash_h_desk_lock(dash_req *rq, dash_resp *rs)
{
    char target[80] = "";
    lock_next(rq, rs, target, sizeof target);
    api_audit(rq, rs, "recharge.lock", *target ? target : NULL, NULL);
}

/* body.lock_token: a positive integer (or its digits as a string). */
static int lock_token(dash_resp *rs, const json_t *body, char *out, size_t sz)
{
    const json_t *v = json_object_get(body, "lock_token");
    long long t = 0;
    if (json_is_integer(v))
        t = json_integer_value(v);
    else if (json_is_string(v)) {
        char *end;
        t = strtoll(json_string_value(v), &end, 10);
        if (*end || end == json_string_value(v))
            t = 0;
    }
    if (t <= 0) {
        dash_error(rs, 400, "lock_token is required: the lease's token from POST /desk/lock");
        return -1;
    }
    snprintf(out, sz, "%lld", t);
    return 0;
}

/* 409 for a refused write: says what became of the order. */
static void lease_lost(dash_req *rq, dash_resp *rs, const char *order_id)
{
    const char *p[] = {order_id};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT state, coalesce(locked_by, ''), "
                           "coalesce(lock_expires_at < clock_timestamp(), false) "
                           "FROM recharges WHERE order_id = $1",
                           1, p);
    if (!r)
        return;
    char now[200] = "";
    if (PQntuples(r) == 0)
        snprintf(now, sizeof now, "there is no such recharge order");
    else if (strcmp(PQgetvalue(r, 0, 0), "locked") == 0 && strcmp(PQgetvalue(r, 0, 2), "t") != 0)
        snprintf(now, sizeof now, "it is locked by %.64s now", PQgetvalue(r, 0, 1));
    else if (strcmp(PQgetvalue(r, 0, 0), "locked") == 0)
        snprintf(now, sizeof now, "the lease has expired");
    else
        snprintf(now, sizeof now, "it is %s now", PQgetvalue(r, 0, 0));
    int missing = PQntuples(r) == 0;
    PQclear(r);
    if (missing)
        dash_error(rs, 404, "no recharge order \"%s\"", order_id);
    else
        dash_error(rs, 409,
                   "your lease on %s expired or was taken over (%s): nothing was written "
                   "(R1 fencing)",
                   order_id, now);
}

static void finish(dash_req *rq, dash_resp *rs, json_t *audit)
{
    const char *order_id, *outcome, *ref;
    if (order_param(rq, rs, &order_id))
        return;
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    static const char *const outcomes[] = {"success", "failed", NULL};
    char token[24];
    if (api_body_keys(rs, body,
                      (const char *const[]){"lock_token", "outcome", "provider_ref", NULL}) ||
        lock_token(rs, body, token, sizeof token) ||
        api_body_str(rs, body, "outcome", true, &outcome) ||
        api_body_str(rs, body, "provider_ref", false, &ref))
        goto out;
    if (strcmp(outcome, outcomes[0]) != 0 && strcmp(outcome, outcomes[1]) != 0) {
        dash_error(rs, 400, "outcome must be one of success, failed");
        goto out;
    }
    if (ref && strlen(ref) > 200) {
        dash_error(rs, 400, "provider_ref is too long (at most 200 bytes)");
        goto out;
    }
    json_object_set_new(audit, "outcome", json_string(outcome));
    json_object_set_new(audit, "lock_token", json_string(token));
    if (heartbeat(rq, rs))
        goto out;
    bool ok = strcmp(outcome, "success") == 0;
    json_t *o =
        json_pack("[{s:s,s:I,s:s,s:s,s:i}]", "o", order_id, "t", (json_int_t)atoll(token), "s",
                  ok ? "succeeded" : "failed", "r", ok ? "success" : "failed", "age_ms", 0);
    if (ref)
        json_object_set_new(json_array_get(o, 0), "ref", json_string(ref));
    char *oj = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char window[16];
    snprintf(window, sizeof window, "%d", rq->app->cfg.result_window_s);
    const char *p[] = {rq->user->name, oj, window, rq->app->cfg.shop_tz};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT order_id, state, late FROM recharge_finish($1, $2::json, "
                           "$3::float8, $4)",
                           4, p);
    free(oj);
    if (!r)
        goto out;
    json_t *rows = dash_rows(r);
    PQclear(r);
    json_t *row = json_array_get(rows, 0);
    if (row)
        dash_json(rs, 200, json_incref(row));
    else
        lease_lost(rq, rs, order_id);
    json_decref(rows);
out:
    json_decref(body);
}

/* POST /api/v1/desk/{order_id}/complete {lock_token, outcome, provider_ref?} */
void dash_h_desk_complete(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "recharge.complete", finish);
}

static void release(dash_req *rq, dash_resp *rs)
{
    const char *order_id;
    if (order_param(rq, rs, &order_id))
        return;
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    char token[24];
    if (api_body_keys(rs, body, (const char *const[]){"lock_token", NULL}) ||
        lock_token(rs, body, token, sizeof token) || heartbeat(rq, rs)) {
        json_decref(body);
        return;
    }
    json_decref(body);
    json_t *l = json_pack("[{s:s,s:I}]", "o", order_id, "t", (json_int_t)atoll(token));
    char *lj = json_dumps(l, JSON_COMPACT);
    json_decref(l);
    const char *p[] = {rq->user->name, lj};
    PGresult *r = dash_sql(rq, rs, "SELECT order_id FROM recharge_release($1, $2::json)", 2, p);
    free(lj);
    if (!r)
        return;
    int n = PQntuples(r);
    PQclear(r);
    if (n)
        dash_json(rs, 200, json_pack("{s:s,s:s}", "order_id", order_id, "state", "queued"));
    else
        lease_lost(rq, rs, order_id);
}

/* POST /api/v1/desk/{order_id}/release {lock_token} */
void dash_h_desk_release(dash_req *rq, dash_resp *rs)
{
    release(rq, rs);
    api_audit(rq, rs, "recharge.release", rq->nparams ? rq->params[0] : NULL, NULL);
}

static void resolve(dash_req *rq, dash_resp *rs, json_t *audit)
{
    const char *order_id, *outcome, *ref;
    if (order_param(rq, rs, &order_id))
        return;
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    if (api_body_keys(rs, body, (const char *const[]){"outcome", "provider_ref", NULL}) ||
        api_body_str(rs, body, "outcome", true, &outcome) ||
        api_body_str(rs, body, "provider_ref", false, &ref))
        goto out;
    if (strcmp(outcome, "success") != 0 && strcmp(outcome, "failed") != 0 &&
        strcmp(outcome, "retry") != 0) {
        dash_error(rs, 400, "outcome must be one of success, failed, retry");
        goto out;
    }
    if (ref && strlen(ref) > 200) {
        dash_error(rs, 400, "provider_ref is too long (at most 200 bytes)");
        goto out;
    }
    json_object_set_new(audit, "outcome", json_string(outcome));
    if (heartbeat(rq, rs))
        goto out;
    const char *p[] = {rq->user->name, order_id, outcome, ref, rq->app->cfg.shop_tz};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT recharge_resolve($1, $2, $3, $4, $5), (SELECT state FROM "
                           "recharges WHERE order_id = $2)",
                           5, p);
    if (!r)
        goto out;
    if (!PQgetisnull(r, 0, 0))
        dash_json(rs, 200,
                  json_pack("{s:s,s:s}", "order_id", order_id, "state", PQgetvalue(r, 0, 0)));
    else if (PQgetisnull(r, 0, 1))
        dash_error(rs, 404, "no recharge order \"%s\"", order_id);
    else
        dash_error(rs, 409, "order %s is %s, not suspended: only a suspended order is resolved",
                   order_id, PQgetvalue(r, 0, 1));
    PQclear(r);
out:
    json_decref(body);
}

/* POST /api/v1/desk/{order_id}/resolve {outcome, provider_ref?} (R4) */
void dash_h_desk_resolve(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "recharge.resolve", resolve);
}

/* ---- resolving many (R4) ---- */

/* The filters of the recharge list (GET /recharges and a bulk resolve's filter). */
static const char *const recharge_filters[] = {"state", "order_id", "processor",
                                               "from",  "to",       NULL};
static const char *const recharge_states[] = {"queued", "locked",    "succeeded",
                                              "failed", "suspended", NULL};
/* Ids resolved per statement: bounds one statement's time and row locks. */
#define RESOLVE_CHUNK 500

/* body.ids: 1..API_BULK_CAP order ids (strings of 1 to 64 bytes), duplicates dropped;
 * a new array, or NULL with a 400 set. */
static json_t *order_ids(dash_resp *rs, const json_t *ids)
{
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        dash_error(rs, 400, "ids must be a non-empty array of order ids");
        return NULL;
    }
    if (json_array_size(ids) > API_BULK_CAP) {
        dash_error(rs, 400, "ids: at most %d at a time (got %zu)", API_BULK_CAP,
                   json_array_size(ids));
        return NULL;
    }
    json_t *seen = json_object(), *out = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach((json_t *)ids, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) > 64) {
            dash_error(rs, 400, "ids[%zu] must be an order id of 1 to 64 characters", i);
            json_decref(seen);
            json_decref(out);
            return NULL;
        }
        if (!json_object_get(seen, s)) {
            json_object_set_new(seen, s, json_true());
            json_array_append_new(out, json_string(s));
        }
    }
    json_decref(seen);
    return out;
}

/* The suspended orders a filter matches, newest request first, at most API_BULK_CAP (and
 * *capped when there were more); NULL with a 400 or a database error set. */
static json_t *filtered_ids(dash_req *rq, dash_resp *rs, const json_t *filter, bool *capped)
{
    api_args a;
    api_args_json(&a, rq, filter);
    api_range tr;
    const char *state, *order_id, *processor;
    if (api_args_known(&a, rs, recharge_filters) ||
        api_enum(&a, rs, "state", recharge_states, &state) ||
        api_text(&a, rs, "order_id", 64, &order_id) ||
        api_text(&a, rs, "processor", 128, &processor) || api_range_read(&a, rs, &tr))
        return NULL;
    if (state && strcmp(state, "suspended") != 0) {
        dash_error(rs, 400, "filter.state must be suspended: only a suspended order is resolved");
        return NULL;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%d", API_BULK_CAP + 1);
    const char *p[] = {order_id, processor, api_nz(tr.from), api_nz(tr.to), lim};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT order_id FROM recharges WHERE state = 'suspended' "
                           "AND ($1::text IS NULL OR order_id = $1) "
                           "AND ($2::text IS NULL OR last_processor = $2 OR handled_by = $2) "
                           "AND ($3::timestamptz IS NULL OR requested_at >= $3) "
                           "AND ($4::timestamptz IS NULL OR requested_at < $4) "
                           "ORDER BY requested_at DESC, order_id DESC LIMIT $5::int",
                           5, p);
    if (!r)
        return NULL;
    json_t *out = json_array();
    for (int i = 0; i < PQntuples(r) && i < API_BULK_CAP; i++)
        json_array_append_new(out, json_string(PQgetvalue(r, i, 0)));
    *capped = PQntuples(r) > API_BULK_CAP;
    PQclear(r);
    return out;
}

/* Resolves ids[from, from + RESOLVE_CHUNK) with recharge_resolve, in order_id order (two
 * overlapping bulk resolves lock rows in the same order); counts the resolved and appends the
 * others to skipped with the reason. -1 with the response set. */
static int resolve_chunk(dash_req *rq, dash_resp *rs, const json_t *ids, size_t from,
                         const char *outcome, const char *ref, long *resolved, json_t *skipped)
{
    json_t *part = json_array();
    for (size_t i = from; i < json_array_size(ids) && i < from + RESOLVE_CHUNK; i++)
        json_array_append(part, json_array_get(ids, i));
    char *pj = json_dumps(part, JSON_COMPACT);
    json_decref(part);
    if (!pj) {
        dash_error(rs, 500, "out of memory");
        return -1;
    }
    /* r.state is read with the statement's snapshot: the state before this statement */
    const char *p[] = {rq->user->name, pj, outcome, ref, rq->app->cfg.shop_tz};
    PGresult *r = dash_sql(rq, rs,
                           "WITH want AS (SELECT DISTINCT json_array_elements_text($2::json) "
                           "AS order_id), res AS (SELECT w.order_id, "
                           "recharge_resolve($1, w.order_id, $3, $4, $5) AS state "
                           "FROM (SELECT order_id FROM want ORDER BY order_id) w) "
                           "SELECT res.order_id, res.state, r.state FROM res "
                           "LEFT JOIN recharges r ON r.order_id = res.order_id "
                           "ORDER BY res.order_id",
                           5, p);
    free(pj);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        if (!PQgetisnull(r, i, 1)) {
            (*resolved)++;
            continue;
        }
        char why[160];
        if (PQgetisnull(r, i, 2))
            snprintf(why, sizeof why, "no such recharge order");
        else if (strcmp(PQgetvalue(r, i, 2), "suspended") == 0)
            snprintf(why, sizeof why, "not suspended any more (resolved by someone else just now)");
        else
            snprintf(why, sizeof why, "not suspended any more: it is %s", PQgetvalue(r, i, 2));
        json_array_append_new(
            skipped, json_pack("{s:s,s:s}", "order_id", PQgetvalue(r, i, 0), "reason", why));
    }
    PQclear(r);
    return 0;
}

static void resolve_bulk(dash_req *rq, dash_resp *rs, json_t *audit)
{
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    json_t *ids = NULL;
    const char *outcome, *ref;
    const json_t *given_ids = json_object_get(body, "ids");
    const json_t *filter = json_object_get(body, "filter");
    if (api_body_keys(rs, body,
                      (const char *const[]){"outcome", "provider_ref", "ids", "filter", NULL}) ||
        api_body_str(rs, body, "outcome", true, &outcome) ||
        api_body_str(rs, body, "provider_ref", false, &ref))
        goto out;
    if (strcmp(outcome, "success") != 0 && strcmp(outcome, "failed") != 0 &&
        strcmp(outcome, "retry") != 0) {
        dash_error(rs, 400, "outcome must be one of success, failed, retry");
        goto out;
    }
    if (ref && strlen(ref) > 200) {
        dash_error(rs, 400, "provider_ref is too long (at most 200 bytes)");
        goto out;
    }
    if ((given_ids && filter) || (!given_ids && !filter)) {
        dash_error(rs, 400,
                   "give either ids (the selected orders) or filter (every suspended order "
                   "matching), not %s",
                   given_ids ? "both" : "neither");
        goto out;
    }
    json_object_set_new(audit, "outcome", json_string(outcome));
    bool capped = false;
    if (filter) {
        if (!json_is_object(filter)) {
            dash_error(rs, 400, "filter must be an object of the recharge list's filters");
            goto out;
        }
        json_object_set(audit, "filter", (json_t *)filter);
        ids = filtered_ids(rq, rs, filter, &capped);
    } else {
        ids = order_ids(rs, given_ids);
        if (ids)
            json_object_set(audit, "ids", ids);
    }
    if (!ids || heartbeat(rq, rs))
        goto out;
    long resolved = 0;
    json_t *skipped = json_array();
    for (size_t i = 0; i < json_array_size(ids); i += RESOLVE_CHUNK)
        if (resolve_chunk(rq, rs, ids, i, outcome, ref, &resolved, skipped))
            break;
    /* the orders of earlier chunks stay resolved after a failed one: say how many */
    json_object_set_new(audit, "requested", json_integer((json_int_t)json_array_size(ids)));
    json_object_set_new(audit, "resolved", json_integer(resolved));
    json_object_set_new(audit, "skipped", json_integer((json_int_t)json_array_size(skipped)));
    if (rs->status) {
        json_decref(skipped);
        goto out;
    }
    json_t *ans = json_pack("{s:I,s:o,s:b}", "resolved", (json_int_t)resolved, "skipped", skipped,
                            "capped", capped);
    if (capped)
        json_object_set_new(ans, "message",
                            json_sprintf("only the first %d matching orders were taken: run it "
                                         "again for the rest",
                                         API_BULK_CAP));
    dash_json(rs, 200, ans);
out:
    json_decref(ids);
    json_decref(body);
}

/* POST /api/v1/desk/resolve-bulk {outcome, provider_ref?, ids | filter} (R4, R7) */
void dash_h_desk_resolve_bulk(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "recharge.resolve_bulk", resolve_bulk);
}

/* GET /api/v1/recharges?state&order_id&processor&from&to — requested_at desc */
void dash_h_recharges(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *state, *order_id, *processor;
    if (api_args_known(&a, rs, recharge_filters) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_TEXT) ||
        api_enum(&a, rs, "state", recharge_states, &state) ||
        api_text(&a, rs, "order_id", 64, &order_id) ||
        api_text(&a, rs, "processor", 128, &processor) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {
        state,       order_id, processor, api_nz(tr.from), api_nz(tr.to), api_nz(pg.after_key),
        pg.after_id, lim};
    PGresult *r =
        dash_sql(rq, rs,
                 "SELECT order_id, state, locked_by, lock_expires_at, attempts, result, result_at, "
                 "handled_at, shop_id, account_masked, product, face_value, amount, requested_at, "
                 "queued_at, attempt_id, provider_ref, handled_by, suspend_reason, last_processor "
                 "FROM recharges_v WHERE ($1::text IS NULL OR state = $1) "
                 "AND ($2::text IS NULL OR order_id = $2) "
                 "AND ($3::text IS NULL OR last_processor = $3 OR handled_by = $3) "
                 "AND ($4::timestamptz IS NULL OR requested_at >= $4) "
                 "AND ($5::timestamptz IS NULL OR requested_at < $5) "
                 "AND ($6::timestamptz IS NULL OR (requested_at, order_id) < ($6, $7::text)) "
                 "ORDER BY requested_at DESC, order_id DESC LIMIT $8",
                 8, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "requested_at", "order_id"));
    PQclear(r);
}
