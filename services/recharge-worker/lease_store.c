/* lease_store.c — the lease API of lease.h over the SQL functions of 0004_recharge.sql (and
 * 0006_recharge_faster.sql). Each call is one statement (a batch of leases as a JSON array),
 * so a desk with hundreds of leases makes a handful of round trips per round. */
#include "lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void num(char *buf, size_t sz, double v)
{
    snprintf(buf, sz, "%.3f", v);
}

static void copy(char *dst, size_t sz, const char *src)
{
    snprintf(dst, sz, "%s", src ? src : "");
}

/* ---- matching returned order ids to the caller's entries ------------------------------ */

typedef struct idx {
    const char *id;
    size_t i;
} idx;

static int cmp_idx(const void *a, const void *b)
{
    return strcmp(((const idx *)a)->id, ((const idx *)b)->id);
}

/* rows[k] = the entry index of row k of r (by the order id in column col), or -1. */
static int match_rows(const char *const *ids, size_t n, PGresult *r, int col, long *rows,
                      of_error *err)
{
    int nrows = PQntuples(r);
    for (int k = 0; k < nrows; k++)
        rows[k] = -1;
    if (n == 0 || nrows == 0)
        return 0;
    idx *v = malloc(n * sizeof *v);
    if (!v)
        return of_error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = (idx){ids[i], i};
    qsort(v, n, sizeof *v, cmp_idx);
    for (int k = 0; k < nrows; k++) {
        idx key = {PQgetvalue(r, k, col), 0};
        idx *hit = bsearch(&key, v, n, sizeof *v, cmp_idx);
        if (hit)
            rows[k] = (long)hit->i;
    }
    free(v);
    return 0;
}

/* flags[i] = true for each entry whose order id is in column col of r. */
static int mark_returned(const char *const *ids, size_t n, PGresult *r, int col, bool *flags,
                         of_error *err)
{
    for (size_t i = 0; i < n; i++)
        flags[i] = false;
    long *rows = malloc(((size_t)PQntuples(r) + 1) * sizeof *rows);
    if (!rows)
        return of_error_set(err, "out of memory");
    int rc = match_rows(ids, n, r, col, rows, err);
    for (int k = 0; rc == 0 && k < PQntuples(r); k++)
        if (rows[k] >= 0)
            flags[rows[k]] = true;
    free(rows);
    return rc;
}

static char *refs_json(const lease_ref *refs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:s,s:I}", "o", refs[i].order_id, "t", (json_int_t)refs[i].token));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Runs fn(p, refs json, ...) and marks which refs came back. */
static int refs_call(of_db *db, const char *sql, const char *processor, const char *extra,
                     const lease_ref *refs, size_t n, bool *flags, of_error *err)
{
    if (n == 0)
        return 0;
    char *js = refs_json(refs, n);
    const char **ids = malloc(n * sizeof *ids);
    bool *tmp = flags ? NULL : malloc(n * sizeof *tmp);
    if (!js || !ids || (!flags && !tmp)) {
        free(js);
        free(ids);
        free(tmp);
        return of_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = refs[i].order_id;
    const char *params[] = {processor, js, extra};
    PGresult *r = of_db_exec(db, sql, extra ? 3 : 2, params, err);
    int rc = -1;
    if (r) {
        rc = mark_returned(ids, n, r, 0, flags ? flags : tmp, err);
        PQclear(r);
    }
    free(js);
    free(ids);
    free(tmp);
    return rc;
}

/* ---- the API -------------------------------------------------------------------------- */

int lease_heartbeat(of_db *db, const lease_params *p, double timeout_s, int expected, of_error *err)
{
    char t[32];
    num(t, sizeof t, timeout_s);
    const char *params[] = {p->processor, p->kind ? p->kind : "worker", t,
                            expected < 0 ? NULL
                            : expected   ? "true"
                                         : "false"};
    return of_db_run(db, "SELECT recharge_heartbeat($1, $2, $3::float8, $4::boolean)", 4, params,
                     err);
}

int lease_offline(of_db *db, const lease_params *p, of_error *err)
{
    const char *params[] = {p->processor};
    return of_db_run(db, "SELECT recharge_offline($1)", 1, params, err);
}

int lease_lock(of_db *db, const lease_params *p, int max, lease *out, int *n, of_error *err)
{
    *n = 0;
    if (max <= 0)
        return 0;
    char m[16], l[32], g[32];
    snprintf(m, sizeof m, "%d", max);
    num(l, sizeof l, p->lease_s);
    num(g, sizeof g, p->gap_s);
    const char *params[] = {p->processor, m, l, p->tz, g};
    PGresult *r = of_db_exec(db,
                             "SELECT order_id, lock_token, attempt_id, fresh, account, product, "
                             "face_value, retaken "
                             "FROM recharge_lock($1, $2::int, $3::float8, $4, $5::float8)",
                             5, params, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < max; i++) {
        lease *x = &out[i];
        copy(x->order_id, sizeof x->order_id, PQgetvalue(r, i, 0));
        x->token = atoll(PQgetvalue(r, i, 1));
        copy(x->attempt_id, sizeof x->attempt_id, PQgetvalue(r, i, 2));
        x->fresh = strcmp(PQgetvalue(r, i, 3), "t") == 0;
        copy(x->account, sizeof x->account, PQgetvalue(r, i, 4));
        copy(x->product, sizeof x->product, PQgetvalue(r, i, 5));
        copy(x->face_value, sizeof x->face_value, PQgetvalue(r, i, 6));
        x->retaken = strcmp(PQgetvalue(r, i, 7), "t") == 0;
        (*n)++;
    }
    PQclear(r);
    return 0;
}

int lease_renew(of_db *db, const lease_params *p, const lease_ref *refs, size_t n, bool *renewed,
                of_error *err)
{
    char l[32];
    num(l, sizeof l, p->lease_s);
    return refs_call(db, "SELECT order_id FROM recharge_renew($1, $2::json, $3::float8)",
                     p->processor, l, refs, n, renewed, err);
}

int lease_release(of_db *db, const lease_params *p, const lease_ref *refs, size_t n, bool *released,
                  of_error *err)
{
    return refs_call(db, "SELECT order_id FROM recharge_release($1, $2::json)", p->processor, NULL,
                     refs, n, released, err);
}

int lease_finish(of_db *db, const lease_params *p, lease_outcome *o, size_t n, int *alerts,
                 of_error *err)
{
    if (alerts)
        *alerts = 0;
    if (n == 0)
        return 0;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e =
            json_pack("{s:s,s:s,s:s}", "o", o[i].order_id, "s", o[i].state, "r", o[i].result);
        if (p->processor)
            json_object_set_new(e, "t", json_integer((json_int_t)o[i].token));
        if (o[i].provider_ref && *o[i].provider_ref)
            json_object_set_new(e, "ref", json_string(o[i].provider_ref));
        if (o[i].attempt_id)
            json_object_set_new(e, "a", json_string(o[i].attempt_id));
        if (o[i].result_time)
            json_object_set_new(e, "at", json_string(o[i].result_time));
        else
            json_object_set_new(e, "age_ms", json_integer((json_int_t)o[i].age_ms));
        if (o[i].why)
            json_object_set_new(e, "why", json_string(o[i].why));
        json_array_append_new(a, e);
        o[i].accepted = o[i].late = false;
    }
    char *js = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    const char **ids = malloc(n * sizeof *ids);
    if (!js || !ids) {
        free(js);
        free(ids);
        return of_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = o[i].order_id;
    char w[32];
    num(w, sizeof w, p->result_window_s);
    const char *params[] = {p->processor, js, w, p->tz};
    PGresult *r = of_db_exec(
        db, "SELECT order_id, late, alerts FROM recharge_finish($1, $2::json, $3::float8, $4)", 4,
        params, err);
    free(js);
    if (!r) {
        free(ids);
        return -1;
    }
    long *rows = malloc(((size_t)PQntuples(r) + 1) * sizeof *rows);
    int rc = rows ? match_rows(ids, n, r, 0, rows, err) : of_error_set(err, "out of memory");
    for (int k = 0; rc == 0 && k < PQntuples(r); k++) {
        if (rows[k] < 0)
            continue;
        o[rows[k]].accepted = true;
        o[rows[k]].late = strcmp(PQgetvalue(r, k, 1), "t") == 0;
    }
    if (rc == 0 && alerts && PQntuples(r) > 0)
        *alerts = atoi(PQgetvalue(r, 0, 2));
    PQclear(r);
    free(rows);
    free(ids);
    return rc;
}

int lease_late_result(of_db *db, const lease_params *p, const lease_outcome *o, bool *recorded,
                      of_error *err)
{
    char age[32], w[32];
    snprintf(age, sizeof age, "%lld", o->age_ms);
    num(w, sizeof w, p->result_window_s);
    const char *params[] = {p->processor, o->order_id, o->attempt_id, o->result, age, w};
    PGresult *r = of_db_exec(
        db, "SELECT recharge_late_result($1, $2, $3, $4, $5::bigint, $6::float8)", 6, params, err);
    if (!r)
        return -1;
    *recorded = PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return 0;
}

int lease_check_readiness(of_db *db, const char *shift_start, const char *tz, double timeout_s,
                          int *found, of_error *err)
{
    char t[32];
    num(t, sizeof t, timeout_s);
    const char *params[] = {shift_start, tz, t};
    PGresult *r =
        of_db_exec(db, "SELECT recharge_check_readiness($1, $2, $3::float8)", 3, params, err);
    if (!r)
        return -1;
    *found = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return 0;
}

int lease_resolve(of_db *db, const char *staff, const char *order_id, const char *outcome,
                  const char *provider_ref, const char *tz, char *state, size_t statesz,
                  of_error *err)
{
    const char *params[] = {staff, order_id, outcome, provider_ref, tz};
    PGresult *r =
        of_db_exec(db, "SELECT coalesce(recharge_resolve($1, $2, $3, $4, $5), '')", 5, params, err);
    if (!r)
        return -1;
    copy(state, statesz, PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

int lease_settings(of_db *db, const char *tz, of_error *err)
{
    const char *params[] = {tz};
    return of_db_run(db,
                     "INSERT INTO recharge_settings (key, value) VALUES ('shop_tz', $1) "
                     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                     1, params, err);
}
