/* outbox.h — prompt delivery of the recharge alerts (R1-R5, R7) from the alert outbox (the
 * alerts table): published to ops.alerts and POSTed to OPS_WEBHOOK_URL as the alert's
 * payload {kind, rule, subject_id, reason, at, ...}. The sweeper delivers the same outbox
 * once a second with blocking calls; recharge-worker's desk does it at once, so a
 * suspension reaches operations within 1 s (R4), and never waits on the network: Kafka
 * delivery reports are polled, webhook calls go through the caller thread (caller.h).
 *
 * Alerts are claimed as the sweeper claims them (FOR UPDATE SKIP LOCKED, next_attempt_at
 * pushed 30 s ahead), so two deliverers never send one alert at once; a failed delivery is
 * retried after 1 s, 2 s, 4 s ... up to 5 minutes, by whichever deliverer claims it next. */
#ifndef OUTBOX_H
#define OUTBOX_H

#include <stdbool.h>

#include "caller.h"
#include "config.h"
#include "db.h"

typedef struct outbox outbox;

outbox *outbox_new(const of_config *cfg, caller *http, long webhook_timeout_ms, of_error *err);
/* Waits up to 5 s for Kafka acknowledgements of what was published. NULL allowed. */
void outbox_free(outbox *o);

/* A webhook reply (kind CALL_WEBHOOK) from the caller. */
void outbox_on_reply(outbox *o, const call_reply *r);

/* Records finished deliveries and, when claim is true, claims due alerts and starts their
 * delivery. *sent receives how many were fully delivered in this call. */
int outbox_run(outbox *o, of_db *db, bool claim, int *sent, of_error *err) OF_MUST_CHECK;

/* Deliveries still in progress. */
int outbox_busy(const outbox *o);

#endif
