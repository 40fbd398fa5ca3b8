/* deadletter.c — the dead-letter path (see deadletter.h). */
#include "deadletter.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"

struct of_deadletter {
    rd_kafka_t *rk;
    atomic_int failed; /* delivery failures since the last flush */
};

static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    of_deadletter *dl = opaque;
    if (m->err) {
        atomic_fetch_add(&dl->failed, 1);
        of_warn("dead letter not delivered to %s: %s", OF_TOPIC_DEADLETTER,
                rd_kafka_err2str(m->err));
    }
}

of_deadletter *of_deadletter_new(const of_config *cfg, of_error *err)
{
    of_deadletter *dl = calloc(1, sizeof *dl);
    if (!dl) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    static const char *const defaults[] = {"acks",      "all", "enable.idempotence", "true",
                                           "linger.ms", "5",   "message.timeout.ms", "30000",
                                           NULL};
    dl->rk = of_producer_new(cfg, defaults, delivery_cb, dl, "the dead-letter producer", err);
    if (!dl->rk) {
        free(dl);
        return NULL;
    }
    return dl;
}

void of_deadletter_free(of_deadletter *dl)
{
    if (!dl)
        return;
    rd_kafka_flush(dl->rk, 10000);
    rd_kafka_destroy(dl->rk);
    free(dl);
}

/* "\x" + hex, the text form of bytea. The caller frees. */
static char *bytea_hex(const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *s = malloc(2 * n + 3);
    if (!s)
        return NULL;
    s[0] = '\\';
    s[1] = 'x';
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = hex[b[i] >> 4];
        s[3 + 2 * i] = hex[b[i] & 15];
    }
    s[2 + 2 * n] = '\0';
    return s;
}

/* The payload as text: valid UTF-8 runs kept, other bytes and NUL written as \xNN. */
static char *lossy_text(const void *p, size_t n)
{
    char *s = malloc(4 * n + 1);
    if (!s)
        return NULL;
    const unsigned char *b = p;
    size_t o = 0, i = 0;
    while (i < n) {
        long bad = of_utf8_invalid_at(b + i, n - i);
        size_t good = bad < 0 ? n - i : (size_t)bad;
        for (size_t k = 0; k < good; k++) {
            if (b[i + k] == 0) {
                o += (size_t)sprintf(s + o, "\\x00");
            } else {
                s[o++] = (char)b[i + k];
            }
        }
        i += good;
        if (i < n) {
            o += (size_t)sprintf(s + o, "\\x%02x", b[i]);
            i++;
        }
    }
    s[o] = '\0';
    return s;
}

static json_t *headers_json(const of_raw_message *m)
{
    if (!m || !m->nheaders)
        return NULL;
    json_t *obj = json_object();
    for (size_t i = 0; i < m->nheaders; i++) {
        const of_header *h = &m->headers[i];
        char *t = h->value ? lossy_text(h->value, h->size) : NULL;
        json_object_set_new(obj, h->name, t ? json_string(t) : json_null());
        free(t);
    }
    return obj;
}

/* The bytes of a message whose copy could not be made (out of memory): none. */
static const of_raw_message no_bytes = {.value = ""};

int of_deadletter_store(of_db *db, const of_item *it, of_error *err)
{
    const of_raw_message *m = it->raw ? it->raw : &no_bytes;
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)it->partition);
    snprintf(off, sizeof off, "%lld", (long long)it->offset);
    char *key = m->key ? bytea_hex(m->key, m->key_len) : NULL;
    char *payload = bytea_hex(m->value, m->len);
    char *text = lossy_text(m->value, m->len);
    json_t *hj = headers_json(m);
    char *headers = hj ? json_dumps(hj, JSON_COMPACT) : NULL;
    json_decref(hj);
    int rc = -1;
    if (!payload || !text || (m->key && !key)) {
        of_error_set(err, "out of memory");
        goto out;
    }
    const of_event *ev = &it->ev;
    const char *params[] = {it->topic, part,    off,      it->reason, key,   payload,
                            text,      headers, ev->type, ev->source, ev->id};
    PGresult *r = of_db_exec(db,
                             "INSERT INTO dead_letters (topic, partition, \"offset\", reason, "
                             "msg_key, payload, payload_text, headers, event_type, event_source, "
                             "event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                             "ON CONFLICT (topic, partition, \"offset\") DO NOTHING",
                             11, params, err);
    if (r) {
        rc = atoi(PQcmdTuples(r)) > 0 ? 1 : 0;
        PQclear(r);
    }
out:
    free(key);
    free(payload);
    free(text);
    free(headers);
    return rc;
}

int of_deadletter_publish(of_deadletter *dl, const of_item *it, of_error *err)
{
    const of_raw_message *m = it->raw ? it->raw : &no_bytes;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(m->nheaders + 4);
    for (size_t i = 0; i < m->nheaders; i++)
        rd_kafka_header_add(hdrs, m->headers[i].name, -1, m->headers[i].value,
                            (ssize_t)m->headers[i].size);
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)it->partition);
    snprintf(off, sizeof off, "%lld", (long long)it->offset);
    rd_kafka_header_add(hdrs, "of_reason", -1, it->reason, -1);
    rd_kafka_header_add(hdrs, "of_topic", -1, it->topic, -1);
    rd_kafka_header_add(hdrs, "of_partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "of_offset", -1, off, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        dl->rk, RD_KAFKA_V_TOPIC(OF_TOPIC_DEADLETTER), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE((void *)m->value, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hdrs); /* only taken on success */
        return of_error_set(err, "cannot queue a dead letter: %s", rd_kafka_err2str(e));
    }
    return 0;
}

int of_deadletter_flush(of_deadletter *dl, int timeout_ms, of_error *err)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(dl->rk, timeout_ms);
    int failed = atomic_exchange(&dl->failed, 0);
    if (e)
        return of_error_set(err, "dead letters not acknowledged by Kafka within %d ms", timeout_ms);
    if (failed)
        return of_error_set(err, "%d dead letter(s) could not be delivered to %s", failed,
                            OF_TOPIC_DEADLETTER);
    return 0;
}
