/* alerts.h — delivery of the alert outbox (the alerts table): each alert is published to
 * ops.alerts and POSTed to OPS_WEBHOOK_URL as {kind, rule, subject_id, reason, at, ...},
 * retried with backoff until both took it. Alerts are claimed for a while (FOR UPDATE SKIP
 * LOCKED, next_attempt_at pushed ahead), so several sweepers never send one twice at once. */
#ifndef ALERTS_H
#define ALERTS_H

#include "config.h"
#include "db.h"

typedef struct alert_sender alert_sender;

alert_sender *alert_sender_new(const of_config *cfg, of_error *err);
void alert_sender_free(alert_sender *s); /* NULL allowed */

/* Delivers up to limit due alerts; *sent receives how many were fully delivered. */
int alert_sender_run(alert_sender *s, of_db *db, int limit, long *sent,
                     of_error *err) OF_MUST_CHECK;

#endif
