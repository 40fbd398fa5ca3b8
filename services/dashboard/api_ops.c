/* api_ops.c — what operations and supervisors watch: deadline breaches (T3: R1-R3, R5, M3,
 * T1), alerts (the outbox sent to ops.alerts and the webhook), dead letters (G4) and their
 * replay once the cause is fixed (common/replay.c, the same code as `orderflow-admin
 * replay`).
 *
 * Lists are newest first with keyset pagination on breaches_observed, alerts_at and
 * dead_letters_received_at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_util.h"
#include "app.h"
#include "handlers.h"
#include "replay.h"

static const char *const breach_rules[] = {"R1", "R2", "R3", "R5", "M3", "T1", NULL};
static const char *const alert_rules[] = {"R1", "R2", "R3", "R4", "R5", "R7", "M3", "T1", NULL};
static const char *const alert_kinds[] = {"breach", "suspended", "readiness", "result_conflict",
                                          NULL};
static const char *const topics[] = {"shop.orders", "shop.recharges", "shop.remittances", NULL};

/* GET /api/v1/breaches?rule&actor&subject_id&from&to — observed_at desc */
void dash_h_breaches(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"rule", "actor", "subject_id", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *rule, *actor, *subject;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        api_enum(&a, rs, "rule", breach_rules, &rule) || api_text(&a, rs, "actor", 128, &actor) ||
        api_text(&a, rs, "subject_id", 200, &subject) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {rule,
                       actor,
                       subject,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT breach_id, rule, subject_id, actor, deadline, observed_at, detail FROM breaches_v "
        "WHERE ($1::text IS NULL OR rule = $1) AND ($2::text IS NULL OR actor = $2) "
        "AND ($3::text IS NULL OR subject_id = $3) "
        "AND ($4::timestamptz IS NULL OR observed_at >= $4) "
        "AND ($5::timestamptz IS NULL OR observed_at < $5) "
        "AND ($6::timestamptz IS NULL OR (observed_at, breach_id) < ($6, $7::bigint)) "
        "ORDER BY observed_at DESC, breach_id DESC LIMIT $8",
        8, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "observed_at", "breach_id"));
    PQclear(r);
}

/* GET /api/v1/alerts?kind&rule&subject_id&from&to — at desc */
void dash_h_alerts(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"kind", "rule", "subject_id", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *kind, *rule, *subject;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        api_enum(&a, rs, "kind", alert_kinds, &kind) ||
        api_enum(&a, rs, "rule", alert_rules, &rule) ||
        api_text(&a, rs, "subject_id", 200, &subject) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {kind,
                       rule,
                       subject,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT alert_id, kind, rule, subject_id, reason, at, sent_at, published_at, attempts, "
        "last_error, payload FROM alerts_v "
        "WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR rule = $2) "
        "AND ($3::text IS NULL OR subject_id = $3) "
        "AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5) "
        "AND ($6::timestamptz IS NULL OR (at, alert_id) < ($6, $7::bigint)) "
        "ORDER BY at DESC, alert_id DESC LIMIT $8",
        8, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "at", "alert_id"));
    PQclear(r);
}

/* The dead-letter filters (the list's query, or a replay's filter object). */
typedef struct dl_filter {
    const char *topic, *type, *source, *reason;
    int replayed;
    api_range tr;
} dl_filter;

static int dl_filter_read(api_args *a, dash_resp *rs, dl_filter *f)
{
    static const char *const known[] = {"topic",    "type", "source", "reason",
                                        "replayed", "from", "to",     NULL};
    return api_args_known(a, rs, known) || api_enum(a, rs, "topic", topics, &f->topic) ||
                   api_text(a, rs, "type", 100, &f->type) ||
                   api_text(a, rs, "source", 100, &f->source) ||
                   api_text(a, rs, "reason", 200, &f->reason) ||
                   api_bool(a, rs, "replayed", &f->replayed) || api_range_read(a, rs, &f->tr)
               ? -1
               : 0;
}

/* GET /api/v1/dead-letters?topic&type&source&reason&replayed&from&to — received_at desc */
void dash_h_dead_letters(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    dl_filter f;
    if (dash_page_read(rq, rs, &pg) || api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        dl_filter_read(&a, rs, &f))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {f.topic,
                       f.type,
                       f.source,
                       f.reason,
                       f.replayed < 0 ? NULL
                       : f.replayed   ? "true"
                                      : "false",
                       api_nz(f.tr.from),
                       api_nz(f.tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r =
        dash_sql(rq, rs,
                 "SELECT dl_id, topic, partition, \"offset\", reason, received_at, event_type, "
                 "event_source, event_id, replayed_at, left(payload, 4000) AS payload, "
                 "length(payload) > 4000 AS payload_cut FROM dead_letters_v "
                 "WHERE ($1::text IS NULL OR topic = $1) AND ($2::text IS NULL OR event_type = $2) "
                 "AND ($3::text IS NULL OR event_source = $3) "
                 "AND ($4::text IS NULL OR strpos(reason, $4) > 0) "
                 "AND ($5::boolean IS NULL OR (replayed_at IS NOT NULL) = $5) "
                 "AND ($6::timestamptz IS NULL OR received_at >= $6) "
                 "AND ($7::timestamptz IS NULL OR received_at < $7) "
                 "AND ($8::timestamptz IS NULL OR (received_at, dl_id) < ($8, $9::bigint)) "
                 "ORDER BY received_at DESC, dl_id DESC LIMIT $10",
                 10, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "received_at", "dl_id"));
    PQclear(r);
}

static void replay(dash_req *rq, dash_resp *rs, json_t *audit)
{
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    char *ids = NULL;
    size_t n = 0;
    const json_t *filter = NULL;
    if (api_bulk_body(rs, body, &ids, &n, &filter))
        goto out;
    of_replay_filter rf = {.ids_json = ids, .replayed = -1, .cap = API_BULK_CAP};
    dl_filter f;
    if (filter) {
        api_args a;
        api_args_json(&a, rq, filter);
        if (dl_filter_read(&a, rs, &f))
            goto out;
        rf.topic = f.topic;
        rf.type = f.type;
        rf.source = f.source;
        rf.reason = f.reason;
        /* "everything matching": letters not replayed yet, unless the filter says */
        rf.replayed = f.replayed < 0 ? 0 : f.replayed;
        rf.from = api_nz(f.tr.from);
        rf.to = api_nz(f.tr.to);
        json_object_set(audit, "filter", (json_t *)filter);
    } else if (n <= 100) {
        json_object_set_new(audit, "ids", json_loads(ids, 0, NULL));
    } else {
        json_object_set_new(audit, "ids", json_integer((json_int_t)n));
    }
    if (!rq->db) {
        dash_error(rs, 503, "the database is unreachable; try again shortly");
        goto out;
    }
    of_replay_result res;
    of_error err;
    if (of_replay_run(rq->db, &rq->app->cfg, &rf, &res, &err)) {
        dash_error(rs, 503, "the replay failed: %s", err.msg);
        goto out;
    }
    json_object_set_new(audit, "replayed", json_integer(res.replayed));
    json_object_set_new(audit, "skipped", json_integer((json_int_t)json_array_size(res.skipped)));
    json_t *ans = json_pack("{s:I,s:I,s:O,s:b}", "replayed", (json_int_t)res.replayed, "matched",
                            (json_int_t)res.matched, "skipped", res.skipped, "capped", res.capped);
    if (res.capped)
        json_object_set_new(ans, "message",
                            json_sprintf("only the first %d matching letters were taken: run it "
                                         "again for the rest",
                                         API_BULK_CAP));
    of_replay_result_clear(&res);
    dash_json(rs, 200, ans);
out:
    free(ids);
    json_decref(body);
}

/* POST /api/v1/dead-letters/replay {ids | filter} */
void dash_h_dead_letters_replay(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "deadletter.replay", replay);
}
