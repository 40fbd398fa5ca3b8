/* replay.c — replaying dead letters to the topic they came from (see replay.h). */
#include "replay.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"

/* How long Kafka has to take the republished letters. */
#define REPLAY_FLUSH_MS 30000

typedef struct sent {
    int done; /* 0 waiting, 1 delivered, -1 failed */
    rd_kafka_resp_err_t err;
} sent;

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    sent *s = m->_private;
    if (!s)
        return;
    s->err = m->err;
    s->done = m->err ? -1 : 1;
}

static PGresult *run(PGconn *c, const char *sql, int n, const char *const *p, of_error *err)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    of_error_set(err, "dead letters: %s", PQerrorMessage(c));
    PQclear(r);
    return NULL;
}

static void rollback(PGconn *c)
{
    PQclear(PQexec(c, "ROLLBACK"));
}

static void skip(of_replay_result *out, const char *dl_id, const char *fmt, ...) OF_PRINTF(3, 4);
static void skip(of_replay_result *out, const char *dl_id, const char *fmt, ...)
{
    char why[OF_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    of_utf8_repair(why);
    json_array_append_new(out->skipped,
                          json_pack("{s:I,s:s}", "dl_id", (json_int_t)atoll(dl_id), "reason", why));
}

static bool event_topic(const char *t)
{
    return strcmp(t, OF_TOPIC_ORDERS) == 0 || strcmp(t, OF_TOPIC_RECHARGES) == 0 ||
           strcmp(t, OF_TOPIC_REMITTANCES) == 0;
}

/* The stored headers ({"name": "value" | null}) as Kafka headers. */
static rd_kafka_headers_t *headers_of(const char *text)
{
    json_t *h = text ? json_loads(text, 0, NULL) : NULL;
    rd_kafka_headers_t *out = rd_kafka_headers_new(h ? json_object_size(h) + 1 : 1);
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v)
    {
        const char *s = json_string_value(v);
        rd_kafka_header_add(out, name, -1, s, s ? -1 : 0);
    }
    json_decref(h);
    return out;
}

static const char select_sql[] =
    "SELECT d.dl_id, d.topic, d.msg_key, d.payload, d.headers::text, d.replayed_at::text, "
    "EXISTS (SELECT 1 FROM applied_events a WHERE a.source = d.event_source "
    "AND a.id = d.event_id), coalesce(d.event_source, ''), coalesce(d.event_id, '') "
    "FROM dead_letters d "
    "WHERE ($1::json IS NULL OR d.dl_id IN (SELECT (json_array_elements_text($1::json))::bigint)) "
    "AND ($2::text IS NULL OR d.topic = $2) AND ($3::text IS NULL OR d.event_type = $3) "
    "AND ($4::text IS NULL OR d.event_source = $4) "
    "AND ($5::text IS NULL OR strpos(d.reason, $5) > 0) "
    "AND ($6::boolean IS NULL OR (d.replayed_at IS NOT NULL) = $6) "
    "AND ($7::timestamptz IS NULL OR d.received_at >= $7) "
    "AND ($8::timestamptz IS NULL OR d.received_at < $8) "
    "ORDER BY d.dl_id LIMIT $9 FOR UPDATE OF d SKIP LOCKED";

/* ids asked for by id that were not selected: unknown, or locked by another replay. */
static int report_missing(PGconn *c, const of_replay_filter *f, PGresult *sel,
                          of_replay_result *out, of_error *err)
{
    json_t *ids = json_loads(f->ids_json, 0, NULL);
    size_t i;
    json_t *v;
    json_t *missing = json_array();
    json_array_foreach(ids, i, v)
    {
        char id[32];
        if (json_is_integer(v))
            snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else
            snprintf(id, sizeof id, "%s", json_string_value(v) ? json_string_value(v) : "");
        bool found = false;
        for (int k = 0; k < PQntuples(sel) && !found; k++)
            found = atoll(PQgetvalue(sel, k, 0)) == atoll(id);
        if (!found)
            json_array_append_new(missing, json_string(id));
    }
    json_decref(ids);
    int rc = 0;
    if (json_array_size(missing)) {
        char *mj = json_dumps(missing, JSON_COMPACT);
        const char *p[] = {mj};
        PGresult *r = run(c,
                          "SELECT m::text, EXISTS (SELECT 1 FROM dead_letters WHERE dl_id = "
                          "m::bigint) FROM json_array_elements_text($1::json) m",
                          1, p, err);
        free(mj);
        if (!r) {
            rc = -1;
        } else {
            for (int k = 0; k < PQntuples(r); k++)
                skip(out, PQgetvalue(r, k, 0),
                     strcmp(PQgetvalue(r, k, 1), "t") == 0
                         ? "another replay of this letter is running"
                         : "no such dead letter");
            PQclear(r);
        }
    }
    json_decref(missing);
    return rc;
}

int of_replay_run(PGconn *c, const of_config *cfg, const of_replay_filter *f, of_replay_result *out,
                  of_error *err)
{
    memset(out, 0, sizeof *out);
    out->skipped = json_array();
    static const char *const defaults[] = {"acks",      "all", "enable.idempotence", "true",
                                           "linger.ms", "5",   "message.timeout.ms", "30000",
                                           NULL};
    rd_kafka_t *rk = of_producer_new(cfg, defaults, delivered, NULL, "the replay producer", err);
    if (!rk)
        return -1;
    PGresult *sel = NULL;
    sent *st = NULL;
    int rc = -1;
    char cap[24], replayed[8];
    snprintf(cap, sizeof cap, "%ld", f->cap + 1);
    snprintf(replayed, sizeof replayed, "%s", f->replayed ? "true" : "false");
    const char *p[] = {f->ids_json, f->topic,  f->type,
                       f->source,   f->reason, f->replayed < 0 ? NULL : replayed,
                       f->from,     f->to,     cap};
    PGresult *b = run(c, "BEGIN", 0, NULL, err);
    if (!b)
        goto out;
    PQclear(b);
    if (!(sel = run(c, select_sql, 9, p, err)))
        goto fail;
    int n = PQntuples(sel);
    out->capped = n > f->cap;
    if (out->capped)
        n = (int)f->cap;
    out->matched = n;
    if (f->ids_json && report_missing(c, f, sel, out, err))
        goto fail;
    st = calloc((size_t)n + 1, sizeof *st);
    if (!st) {
        of_error_set(err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(sel, i, 0), *topic = PQgetvalue(sel, i, 1);
        st[i].done = 2; /* not sent */
        if (!PQgetisnull(sel, i, 5)) {
            skip(out, id,
                 "already replayed at %s (if it was rejected again, replay its newer dead "
                 "letter)",
                 PQgetvalue(sel, i, 5));
            continue;
        }
        if (strcmp(PQgetvalue(sel, i, 6), "t") == 0) {
            skip(out, id, "its event (%s, %s) has been applied since: nothing to replay",
                 PQgetvalue(sel, i, 7), PQgetvalue(sel, i, 8));
            continue;
        }
        if (!event_topic(topic)) {
            skip(out, id, "topic %s is not an event topic", topic);
            continue;
        }
        size_t plen = 0, klen = 0;
        unsigned char *payload =
            PQunescapeBytea((const unsigned char *)PQgetvalue(sel, i, 3), &plen);
        unsigned char *key =
            PQgetisnull(sel, i, 2)
                ? NULL
                : PQunescapeBytea((const unsigned char *)PQgetvalue(sel, i, 2), &klen);
        json_t *parsed = payload ? json_loadb((const char *)payload, plen, 0, NULL) : NULL;
        if (!parsed) {
            skip(out, id, "the payload is not JSON: replayed, it would be rejected again");
        } else {
            json_decref(parsed);
            rd_kafka_headers_t *hdrs =
                headers_of(PQgetisnull(sel, i, 4) ? NULL : PQgetvalue(sel, i, 4));
            st[i].done = 0;
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? klen : 0),
                RD_KAFKA_V_VALUE(payload, plen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&st[i]), RD_KAFKA_V_END);
            if (e) {
                rd_kafka_headers_destroy(hdrs); /* only taken on success */
                st[i].done = 2;
                skip(out, id, "Kafka did not take it: %s", rd_kafka_err2str(e));
            }
        }
        PQfreemem(payload);
        PQfreemem(key);
    }
    rd_kafka_flush(rk, REPLAY_FLUSH_MS);
    json_t *ok = json_array();
    for (int i = 0; i < n; i++) {
        const char *id = PQgetvalue(sel, i, 0);
        if (st[i].done == 1)
            json_array_append_new(ok, json_string(id));
        else if (st[i].done == -1)
            skip(out, id, "Kafka did not take it: %s", rd_kafka_err2str(st[i].err));
        else if (st[i].done == 0)
            skip(out, id, "Kafka did not acknowledge it within %d s", REPLAY_FLUSH_MS / 1000);
    }
    out->replayed = (long)json_array_size(ok);
    char *okj = json_dumps(ok, JSON_COMPACT);
    json_decref(ok);
    const char *up[] = {okj};
    PGresult *u = run(c,
                      "UPDATE dead_letters SET replayed_at = clock_timestamp() WHERE dl_id IN "
                      "(SELECT (json_array_elements_text($1::json))::bigint)",
                      1, up, err);
    free(okj);
    if (!u)
        goto fail;
    PQclear(u);
    if (!(b = run(c, "COMMIT", 0, NULL, err))) {
        of_error_prefix(err, "%ld letter(s) were republished but not marked replayed",
                        out->replayed);
        goto out;
    }
    PQclear(b);
    of_info("replayed %ld dead letter(s), skipped %zu", out->replayed,
            json_array_size(out->skipped));
    rc = 0;
    goto out;
fail:
    rollback(c);
out:
    PQclear(sel);
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(rk); /* before st: its delivery reports point there */
    free(st);
    if (rc) {
        json_decref(out->skipped);
        out->skipped = NULL;
    }
    return rc;
}

void of_replay_result_clear(of_replay_result *out)
{
    json_decref(out->skipped);
    out->skipped = NULL;
}
