/* desk.h — recharge-worker's automated processor (SPEC R1-R5, R7), on a thread of its own
 * with its own PostgreSQL connection, beside the consumer loop (which only queues orders and
 * records results from shop.recharges, see ingest.h).
 *
 * Each round it: collects the provider's answers (caller.h: many calls in flight, never
 * waited on), commits the outcomes under the leases it still holds (lease.h; a refused
 * write is logged and counted, never retried), renews the leases of orders whose call or
 * status polling is still in progress, takes new orders up to RECHARGE_CONCURRENCY (the
 * queue is polled every RECHARGE_IDLE_POLL_MS when idle), heartbeats, checks readiness
 * (R5), and delivers alerts at once (outbox.h).
 *
 * Per order: a fresh attempt is POSTed with its attempt id (the idempotency key, R7); an
 * order re-taken from a lapsed lease already has an attempt, which is reconciled first
 * with GET /recharge/{attempt_id} — success or failed is final, pending is polled, and only
 * an attempt the provider never received is POSTed again, under the same id. success and
 * failed are final; unknown, a time-out, a 5xx or pending past RECHARGE_PENDING_MAX_S
 * suspend the order and alert operations (R4). */
#ifndef DESK_H
#define DESK_H

#include <signal.h>

#include "config.h"
#include "recharge_config.h"

typedef struct desk desk;

/* Starts the desk's thread. *stop (the process's stop flag) starts draining too. */
desk *desk_start(const of_config *cfg, const rc_config *rc, volatile sig_atomic_t *stop,
                 of_error *err);

/* Drains and stops: no new leases; calls in flight are waited for (at most the call
 * time-out), their outcomes committed; orders still waiting on the provider are released
 * to the queue (their next holder reconciles them). NULL allowed. */
void desk_stop(desk *d);

#endif
