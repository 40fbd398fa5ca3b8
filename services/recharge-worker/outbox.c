/* outbox.c — delivery of recharge alerts (see outbox.h). Each claimed alert is an entry
 * until both channels answered: the Kafka delivery report (served by rd_kafka_poll in
 * outbox_run, on the desk's thread) and the webhook reply (from the caller thread, handed
 * over by the desk). Then its outcome is written back in one batch statement. */
#include "outbox.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"
#include "metrics.h"

#define MAX_ENTRIES 256

enum { CH_NONE, CH_WAIT, CH_OK, CH_FAILED }; /* one channel's delivery state */

typedef struct entry {
    bool used;
    long long alert_id;
    char subject[72];
    int attempts;
    int pub, hook; /* CH_* */
    char why[300];
} entry;

struct outbox {
    const of_config *cfg;
    caller *http;
    long webhook_timeout_ms;
    rd_kafka_t *rk;
    entry e[MAX_ENTRIES];
    int busy;
    of_metric *sent, *failures;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    outbox *o = opaque;
    intptr_t slot = (intptr_t)m->_private - 1;
    if (slot < 0 || slot >= MAX_ENTRIES || !o->e[slot].used || o->e[slot].pub != CH_WAIT)
        return;
    entry *e = &o->e[slot];
    if (m->err) {
        e->pub = CH_FAILED;
        snprintf(e->why, sizeof e->why, "ops.alerts: %s", rd_kafka_err2str(m->err));
    } else {
        e->pub = CH_OK;
    }
}

outbox *outbox_new(const of_config *cfg, caller *http, long webhook_timeout_ms, of_error *err)
{
    outbox *o = calloc(1, sizeof *o);
    if (!o) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->http = http;
    o->webhook_timeout_ms = webhook_timeout_ms;
    static const char *const defaults[] = {"acks",      "all", "enable.idempotence", "true",
                                           "linger.ms", "0",   "message.timeout.ms", "10000",
                                           NULL};
    o->rk = of_producer_new(cfg, defaults, dr_cb, o, "the alert producer", err);
    if (!o->rk) {
        free(o);
        return NULL;
    }
    o->sent =
        of_counter("orderflow_recharge_alerts_sent_total",
                   "Recharge alerts delivered by recharge-worker (ops.alerts and webhook)", NULL);
    o->failures = of_counter("orderflow_recharge_alert_failures_total",
                             "Recharge alert deliveries that failed (retried with backoff)", NULL);
    return o;
}

void outbox_free(outbox *o)
{
    if (!o)
        return;
    rd_kafka_flush(o->rk, 5000);
    rd_kafka_destroy(o->rk);
    free(o);
}

int outbox_busy(const outbox *o)
{
    return o->busy;
}

void outbox_on_reply(outbox *o, const call_reply *r)
{
    if (r->tag >= MAX_ENTRIES)
        return;
    entry *e = &o->e[r->tag];
    if (!e->used || e->hook != CH_WAIT)
        return;
    if (r->curl_code == 0 && r->http_status >= 200 && r->http_status <= 299) {
        e->hook = CH_OK;
    } else {
        e->hook = CH_FAILED;
        if (r->curl_code)
            snprintf(e->why, sizeof e->why, "webhook: %s", r->error);
        else
            snprintf(e->why, sizeof e->why, "webhook answered HTTP %ld", r->http_status);
    }
}

static const char claim_sql[] =
    "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = now() + interval '30 s' "
    "WHERE alert_id IN (SELECT alert_id FROM alerts WHERE (sent_at IS NULL OR published_at IS "
    "NULL) AND next_attempt_at <= now() AND rule IN ('R1', 'R2', 'R3', 'R4', 'R5', 'R7') "
    "ORDER BY next_attempt_at, alert_id LIMIT $1::int FOR UPDATE SKIP LOCKED) "
    "RETURNING alert_id, subject_id, payload::text, published_at IS NULL, sent_at IS NULL, "
    "attempts";

/* The outcome of each delivery; a failure is retried after 1 s, 2 s, 4 s ... 5 minutes. */
static const char done_sql[] =
    "UPDATE alerts a SET published_at = CASE WHEN d.pub THEN coalesce(a.published_at, now()) "
    "ELSE a.published_at END, sent_at = CASE WHEN d.hook THEN coalesce(a.sent_at, now()) ELSE "
    "a.sent_at END, last_error = nullif(d.why, ''), next_attempt_at = CASE WHEN d.pub AND d.hook "
    "THEN a.next_attempt_at ELSE now() + least(interval '5 min', interval '1 s' * "
    "power(2, least(a.attempts - 1, 20))) END "
    "FROM json_to_recordset($1::json) AS d(id bigint, pub boolean, hook boolean, why text) "
    "WHERE a.alert_id = d.id";

static int record_done(outbox *o, of_db *db, int *sent, of_error *err)
{
    json_t *a = json_array();
    int slots[MAX_ENTRIES], n = 0;
    for (int i = 0; i < MAX_ENTRIES; i++) {
        entry *e = &o->e[i];
        if (!e->used || e->pub == CH_WAIT || e->hook == CH_WAIT)
            continue;
        int pub = e->pub != CH_FAILED, hook = e->hook != CH_FAILED;
        json_array_append_new(a, json_pack("{s:I,s:b,s:b,s:s}", "id", (json_int_t)e->alert_id,
                                           "pub", pub, "hook", hook, "why", e->why));
        slots[n++] = i;
    }
    if (n == 0) {
        json_decref(a);
        return 0;
    }
    char *js = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    const char *params[] = {js};
    int rc = of_db_run(db, done_sql, 1, params, err);
    free(js);
    if (rc)
        return -1; /* kept: written on the next run */
    for (int k = 0; k < n; k++) {
        entry *e = &o->e[slots[k]];
        if (e->pub != CH_FAILED && e->hook != CH_FAILED) {
            (*sent)++;
            of_metric_add(o->sent, 1);
            of_info("alert %lld for %s delivered", e->alert_id, e->subject);
        } else {
            of_metric_add(o->failures, 1);
            of_warn("alert %lld for %s not delivered yet (attempt %d), retried with backoff: %s",
                    e->alert_id, e->subject, e->attempts, e->why);
        }
        e->used = false;
        o->busy--;
    }
    return 0;
}

static int free_slot(const outbox *o)
{
    for (int i = 0; i < MAX_ENTRIES; i++)
        if (!o->e[i].used)
            return i;
    return -1;
}

static int claim(outbox *o, of_db *db, of_error *err)
{
    int room = MAX_ENTRIES - o->busy;
    if (room <= 0)
        return 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", room);
    const char *p[] = {lim};
    PGresult *r = of_db_exec(db, claim_sql, 1, p, err);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int slot = free_slot(o);
        if (slot < 0)
            break;
        entry *e = &o->e[slot];
        memset(e, 0, sizeof *e);
        e->used = true;
        o->busy++;
        e->alert_id = atoll(PQgetvalue(r, i, 0));
        snprintf(e->subject, sizeof e->subject, "%s", PQgetvalue(r, i, 1));
        e->attempts = atoi(PQgetvalue(r, i, 5));
        const char *payload = PQgetvalue(r, i, 2);
        e->pub = strcmp(PQgetvalue(r, i, 3), "t") == 0 ? CH_WAIT : CH_NONE;
        e->hook =
            strcmp(PQgetvalue(r, i, 4), "t") == 0 && o->cfg->ops_webhook_url[0] ? CH_WAIT : CH_NONE;
        if (e->pub == CH_WAIT) {
            rd_kafka_resp_err_t ke =
                rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(OF_TOPIC_ALERTS),
                                  RD_KAFKA_V_KEY(e->subject, strlen(e->subject)),
                                  RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)(slot + 1)), RD_KAFKA_V_END);
            if (ke) {
                e->pub = CH_FAILED;
                snprintf(e->why, sizeof e->why, "ops.alerts: %s", rd_kafka_err2str(ke));
            }
        }
        if (e->hook == CH_WAIT &&
            caller_submit(o->http, (uint64_t)slot, CALL_WEBHOOK, o->cfg->ops_webhook_url, payload,
                          o->webhook_timeout_ms)) {
            e->hook = CH_FAILED;
            snprintf(e->why, sizeof e->why, "webhook: out of memory");
        }
    }
    PQclear(r);
    return 0;
}

int outbox_run(outbox *o, of_db *db, bool do_claim, int *sent, of_error *err)
{
    *sent = 0;
    rd_kafka_poll(o->rk, 0); /* delivery reports */
    if (o->busy && record_done(o, db, sent, err))
        return -1;
    if (do_claim && claim(o, db, err))
        return -1;
    rd_kafka_poll(o->rk, 0);
    return 0;
}
