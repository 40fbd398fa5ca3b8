/* actions.c — publishing a dashboard action as a CloudEvent and waiting for its outcome (see
 * actions.h). One validator (the embedded schemas) serves every request thread; the event
 * goes through the app's producer; the outcome is polled from PostgreSQL on the request's
 * own connection. */
#include "actions.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "event.h"
#include "event_types.h"
#include "log.h"

/* How often the outcome is looked up while waiting. */
#define ACTION_POLL_MS 40

static pthread_once_t validator_once = PTHREAD_ONCE_INIT;
static of_validator *validator;
static of_error validator_err;

static void validator_init(void)
{
    validator = of_validator_new(&validator_err);
}

void dash_now_rfc3339(char *buf, size_t sz)
{
    struct timeval tv;
    struct tm t;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &t);
    snprintf(buf, sz, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", t.tm_year + 1900, t.tm_mon + 1,
             t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, (long)tv.tv_usec);
}

/* "dash-" + a random (version 4) UUID. */
static int new_event_id(char *buf, size_t sz)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, sz, "dash-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

/* 1 when the outcome is known (a->state set), 0 when not yet, -1 with the response set. */
static int look_up(dash_req *rq, dash_resp *rs, dash_action *a)
{
    const char *p[] = {a->source, a->event_id};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT 'applied', NULL FROM applied_events WHERE source = $1 AND "
                           "id = $2 UNION ALL (SELECT 'rejected', reason FROM dead_letters "
                           "WHERE event_source = $1 AND event_id = $2 ORDER BY dl_id DESC "
                           "LIMIT 1)",
                           2, p);
    if (!r)
        return -1;
    int known = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), "applied") == 0) {
            a->state = DASH_ACTION_APPLIED;
            known = 1;
            break;
        }
        a->state = DASH_ACTION_REJECTED;
        snprintf(a->reason, sizeof a->reason, "%s", PQgetvalue(r, i, 1));
        known = 1;
    }
    PQclear(r);
    return known;
}

int dash_action_run(dash_req *rq, dash_resp *rs, dash_action *a)
{
    a->state = DASH_ACTION_PENDING;
    a->reason[0] = '\0';
    pthread_once(&validator_once, validator_init);
    if (!validator) {
        of_err("cannot load the event schemas: %s", validator_err.msg);
        dash_error(rs, 500, "the event schemas could not be loaded");
        return -1;
    }
    const of_event_type *et = of_event_type_find(a->type);
    if (!et || new_event_id(a->event_id, sizeof a->event_id)) {
        dash_error(rs, 500, "cannot make a %s event", a->type);
        return -1;
    }
    char now[40];
    dash_now_rfc3339(now, sizeof now);
    json_t *ev =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "specversion", "1.0", "id", a->event_id,
                  "source", a->source, "type", a->type, "time", now, "subject", a->subject,
                  "datacontenttype", "application/json", "data", a->data);
    char *value = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!value) {
        dash_error(rs, 500, "out of memory");
        return -1;
    }
    static const char ct_name[] = "content-type";
    static const char ct_value[] = "application/cloudevents+json; charset=UTF-8";
    of_header hdr = {ct_name, ct_value, sizeof ct_value - 1};
    of_message_in m = {.topic = et->topic,
                       .key = a->subject,
                       .key_len = strlen(a->subject),
                       .value = value,
                       .len = strlen(value),
                       .headers = &hdr,
                       .nheaders = 1,
                       .max_bytes = rq->app->cfg.max_event_bytes};
    of_event decoded;
    of_error err;
    if (of_event_decode(validator, &m, &decoded, &err)) {
        free(value);
        dash_error(rs, 400, "%s", err.msg);
        return -1;
    }
    of_event_clear(&decoded);

    rd_kafka_t *rk = dash_app_producer(rq->app, &err);
    if (!rk) {
        free(value);
        dash_error(rs, 503, "cannot publish the action: %s", err.msg);
        return -1;
    }
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, ct_name, -1, ct_value, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(et->topic), RD_KAFKA_V_KEY(a->subject, strlen(a->subject)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    free(value);
    if (e) {
        rd_kafka_headers_destroy(hdrs); /* only taken on success */
        dash_error(rs, 503, "cannot publish the action to %s: %s", et->topic, rd_kafka_err2str(e));
        return -1;
    }
    of_info("published %s %s (subject %s) for %s", a->type, a->event_id, a->subject,
            rq->user ? rq->user->name : "?");

    int64_t deadline = of_mono_ms() + rq->app->dcfg.action_wait_ms;
    for (int wait = 10;; wait = ACTION_POLL_MS) {
        of_sleep_ms(wait);
        int known = look_up(rq, rs, a);
        if (known)
            return known < 0 ? -1 : 0;
        if (of_mono_ms() >= deadline)
            return 0; /* pending */
    }
}

json_t *dash_action_notes(dash_req *rq, dash_resp *rs, const dash_action *a)
{
    const char *p[] = {a->source, a->event_id};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT order_id, seq, code, author, noted_at, rendered, "
                           "rendered_hans, rendered_en, template, params FROM order_notes "
                           "WHERE event_source = $1 AND event_id = $2 ORDER BY order_id, seq",
                           2, p);
    if (!r)
        return NULL;
    json_t *rows = dash_rows(r);
    PQclear(r);
    return rows;
}

void dash_action_answer(dash_req *rq, dash_resp *rs, const dash_action *a, json_t *extra)
{
    if (a->state == DASH_ACTION_REJECTED) {
        json_decref(extra);
        dash_error(rs, 422, "%s", a->reason);
        if (json_is_object(rs->json))
            json_object_set_new(rs->json, "event_id", json_string(a->event_id));
        return;
    }
    json_t *body = json_object();
    if (a->state == DASH_ACTION_APPLIED) {
        json_t *notes = dash_action_notes(rq, rs, a);
        if (!notes) {
            json_decref(body);
            json_decref(extra);
            return;
        }
        json_object_set_new(body, "status", json_string("applied"));
        json_object_set_new(body, "event_id", json_string(a->event_id));
        json_object_set_new(body, "notes", notes);
    } else {
        json_object_set_new(body, "status", json_string("pending"));
        json_object_set_new(body, "event_id", json_string(a->event_id));
        json_object_set_new(body, "message",
                            json_string("published; its outcome is not known yet (the worker "
                                        "has not handled it): look again in a moment"));
    }
    if (extra)
        json_object_update(body, extra);
    json_decref(extra);
    dash_json(rs, a->state == DASH_ACTION_APPLIED ? 200 : 202, body);
}

const char *dash_action_audit_outcome(const dash_action *a)
{
    return a->state == DASH_ACTION_REJECTED ? "refused" : "ok";
}
