/* actions.h — an action taken at the dashboard that is a business event (a waybill fixed, a
 * refund registered, a remittance verified…): it is published as a CloudEvent to Kafka, like
 * a shop's event, so it goes through the same rules, and its outcome is read back from
 * PostgreSQL. The event's actor field is the logged-in user (A0); its id is
 * "dash-<random uuid>", its time now, its key the subject.
 *
 * Before publishing, the event is validated exactly as a worker will (envelope, type, topic,
 * schema, subject and key), so bad input is a 400 with the schema's reason instead of a dead
 * letter. After publishing, the outcome is awaited up to DASHBOARD_ACTION_WAIT_MS:
 *   applied   — (source, id) is in applied_events
 *   rejected  — a dead letter (event_source, event_id) holds the reason
 *   pending   — neither yet (the worker may be busy or down): the answer is 202 */
#ifndef DASH_ACTIONS_H
#define DASH_ACTIONS_H

#include "http.h"
#include "of_error.h"

typedef enum {
    DASH_ACTION_APPLIED,
    DASH_ACTION_REJECTED,
    DASH_ACTION_PENDING,
} dash_action_state;

typedef struct dash_action {
    /* in */
    const char *type;    /* event type, e.g. "order.waybill_cancelled" */
    const char *source;  /* "shop/<shop_id>" */
    const char *subject; /* the order id (remittance id, day): also the Kafka key */
    json_t *data;        /* the event's data; borrowed */
    /* out */
    char event_id[48]; /* "dash-<uuid>" */
    dash_action_state state;
    char reason[OF_ERROR_MAX]; /* the dead letter's reason when rejected */
} dash_action;

/* Validates, publishes and waits. 0 with a->state set; -1 with the response set: 400 (the
 * event would be invalid), 503 (Kafka or PostgreSQL unreachable), 500. */
int dash_action_run(dash_req *rq, dash_resp *rs, dash_action *a);

/* The notes the applied event left on any order (order_notes of its source and id), with
 * their three renderings, in order. NULL with the response set on a database error. */
json_t *dash_action_notes(dash_req *rq, dash_resp *rs, const dash_action *a);

/* Answers for the outcome: applied → 200 {status:"applied", event_id, notes, …extra};
 * rejected → 422 {"error":{status, message: the reason}, event_id}; pending → 202
 * {status:"pending", event_id, …extra}. extra (may be NULL) is stolen. */
void dash_action_answer(dash_req *rq, dash_resp *rs, const dash_action *a, json_t *extra);

/* The audit outcome of an action's state: ok (applied or pending) or refused (rejected). */
const char *dash_action_audit_outcome(const dash_action *a);

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" now (UTC), the time of a published event. */
void dash_now_rfc3339(char *buf, size_t sz);

#endif
