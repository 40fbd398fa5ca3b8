/* alerts.c — the alert outbox's delivery (see alerts.h): librdkafka for ops.alerts,
 * libcurl for the webhook, each with a bounded wait. */
#include "alerts.h"

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"
#include "metrics.h"

struct alert_sender {
    const of_config *cfg;
    rd_kafka_t *rk;
    CURL *curl;
    atomic_int failed;
    of_metric *sent, *failures;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    alert_sender *s = opaque;
    if (m->err)
        atomic_fetch_add(&s->failed, 1);
}

alert_sender *alert_sender_new(const of_config *cfg, of_error *err)
{
    alert_sender *s = calloc(1, sizeof *s);
    if (!s) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    static const char *const defaults[] = {
        "acks", "all", "enable.idempotence", "true", "message.timeout.ms", "10000", NULL};
    s->rk = of_producer_new(cfg, defaults, dr_cb, s, "the alert producer", err);
    if (!s->rk) {
        free(s);
        return NULL;
    }
    /* connect now, so the first cycle does not pay for it */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(s->rk, 0, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    s->curl = curl_easy_init();
    s->sent =
        of_counter("orderflow_alerts_sent_total", "Alerts delivered (topic and webhook)", NULL);
    s->failures = of_counter("orderflow_alerts_failed_total",
                             "Alert delivery attempts that failed (retried with backoff)", NULL);
    return s;
}

void alert_sender_free(alert_sender *s)
{
    if (!s)
        return;
    rd_kafka_flush(s->rk, 5000);
    rd_kafka_destroy(s->rk);
    curl_easy_cleanup(s->curl);
    free(s);
}

static size_t discard(void *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* POSTs the payload; 0 on a 2xx answer, else -1 with the reason in why. */
static int post_webhook(alert_sender *s, const char *payload, char *why, size_t whysz)
{
    curl_easy_reset(s->curl);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(s->curl, CURLOPT_URL, s->cfg->ops_webhook_url);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(s->curl);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(why, whysz, "webhook: %s", curl_easy_strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, whysz, "webhook answered HTTP %ld", status);
        return -1;
    }
    return 0;
}

/* The payload sent carries the alert's id, so a receiver can tell a repeat (after a crash
 * between sending and recording, delivery is at least once). */
static const char claim_sql[] =
    "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = now() + interval '30 s' "
    "WHERE alert_id IN (SELECT alert_id FROM alerts WHERE (sent_at IS NULL OR published_at IS "
    "NULL) AND next_attempt_at <= now() ORDER BY next_attempt_at, alert_id LIMIT $1::int "
    "FOR UPDATE SKIP LOCKED) "
    "RETURNING alert_id, subject_id, (payload || jsonb_build_object('alert_id', alert_id))::text, "
    "published_at IS NULL, sent_at IS NULL, attempts";

/* Recorded as soon as Kafka acknowledged them, before any webhook call. */
static const char published_sql[] =
    "UPDATE alerts SET published_at = coalesce(published_at, now()) "
    "WHERE alert_id IN (SELECT json_array_elements_text($1::json)::bigint)";

/* The outcome of the batch, in one statement; a failure is retried after 1 s, 2 s, 4 s ... up
 * to 5 minutes. */
static const char done_sql[] =
    "UPDATE alerts a SET sent_at = CASE WHEN u.hooked THEN coalesce(a.sent_at, now()) ELSE "
    "a.sent_at END, last_error = nullif(u.why, ''), next_attempt_at = CASE WHEN "
    "a.published_at IS NOT NULL AND u.hooked THEN a.next_attempt_at ELSE now() + "
    "least(interval '5 min', interval '1 s' * power(2, least(a.attempts - 1, 20))) END "
    "FROM json_to_recordset($1::json) AS u(alert_id bigint, hooked bool, why text) "
    "WHERE a.alert_id = u.alert_id";

static int run_json(of_db *db, const char *sql, json_t *arg, of_error *err)
{
    char *js = json_dumps(arg, JSON_COMPACT);
    json_decref(arg);
    if (!js)
        return of_error_set(err, "out of memory");
    const char *p[] = {js};
    int rc = of_db_run(db, sql, 1, p, err);
    free(js);
    return rc;
}

int alert_sender_run(alert_sender *s, of_db *db, int limit, long *sent, of_error *err)
{
    *sent = 0;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {lim};
    PGresult *r = of_db_exec(db, claim_sql, 1, p, err);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    /* ops.alerts first, for all of them, then one flush and one record */
    atomic_store(&s->failed, 0);
    int queued = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(r, i, 3), "t") != 0)
            continue;
        const char *key = PQgetvalue(r, i, 1), *payload = PQgetvalue(r, i, 2);
        queued += rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(OF_TOPIC_ALERTS),
                                    RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE((void *)payload, strlen(payload)),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == 0;
    }
    int flushed = !queued || (rd_kafka_flush(s->rk, 10000) == 0 && atomic_load(&s->failed) == 0);
    json_t *published = json_array();
    for (int i = 0; flushed && i < n; i++)
        if (strcmp(PQgetvalue(r, i, 3), "t") == 0)
            json_array_append_new(published, json_integer(atoll(PQgetvalue(r, i, 0))));
    int rc = json_array_size(published) ? run_json(db, published_sql, published, err)
                                        : (json_decref(published), 0);
    /* then the webhook, one POST each (bounded by its time-out) */
    json_t *outcome = json_array();
    int hook_down = 0; /* after one failed POST the rest wait for the next cycle */
    for (int i = 0; rc == 0 && i < n; i++) {
        int pub = strcmp(PQgetvalue(r, i, 3), "t") != 0 || flushed;
        char why[300] = "";
        if (!pub)
            snprintf(why, sizeof why, "ops.alerts: not acknowledged by Kafka");
        int hooked = strcmp(PQgetvalue(r, i, 4), "t") != 0;
        if (!hooked) {
            if (!*s->cfg->ops_webhook_url)
                hooked = 1; /* no webhook configured: the topic is the only channel */
            else if (hook_down)
                snprintf(why, sizeof why, "webhook failing: retried on a later cycle");
            else
                hook_down = !(hooked = post_webhook(s, PQgetvalue(r, i, 2), why, sizeof why) == 0);
        }
        json_array_append_new(outcome, json_pack("{s:I,s:b,s:s}", "alert_id",
                                                 (json_int_t)atoll(PQgetvalue(r, i, 0)), "hooked",
                                                 hooked, "why", why));
        if (pub && hooked) {
            (*sent)++;
            of_metric_add(s->sent, 1);
        } else {
            of_metric_add(s->failures, 1);
            of_warn("alert %s for %s not delivered yet (attempt %s): %s", PQgetvalue(r, i, 0),
                    PQgetvalue(r, i, 1), PQgetvalue(r, i, 5), why);
        }
    }
    if (rc == 0)
        rc = run_json(db, done_sql, outcome, err);
    else
        json_decref(outcome);
    PQclear(r);
    return rc;
}
