/* ingest.h — what recharge-worker's consumer loop applies from shop.recharges:
 *   recharge.requested  queues the order for the desks (recharges, state queued). Refused
 *                       with a reason: an amount or face value of 0, a product not in
 *                       RECHARGE_PRODUCTS, an order id already queued.
 *   recharge.result     the provider's word on an attempt (SPEC §4.1 "the Mini client
 *                       returns a result"): success or failed is final and ends any lease;
 *                       unknown suspends an order not yet final (R4). Handled more than
 *                       RESULT_WINDOW_S after the event's time: an R3 breach and alert. A
 *                       result for an attempt never made is refused; a result contradicting
 *                       a final order is recorded on the attempt and alerted (R7).
 * The requests of a batch are queued with one statement; results run one by one under a
 * savepoint, in publication order. */
#ifndef INGEST_H
#define INGEST_H

#include <jansson.h>

#include "config.h"
#include "consumer.h"
#include "db.h"
#include "recharge_config.h"

typedef struct ingest_ctx {
    const of_config *cfg;
    const rc_config *rc;
} ingest_ctx;

/* The of_apply_fn of recharge-worker (ctx: an ingest_ctx). */
int recharge_apply_batch(void *ctx, of_db *db, of_batch *batch, of_error *err);

/* ---- ingest_store.c: the SQL of ingestion ---------------------------------------------- */

/* Inserts the orders ([{o, sh, acc, p, fv, am, t}] in order); *queued receives the array of
 * order ids inserted (the others exist already). */
int istore_queue(of_db *db, json_t *orders, json_t **queued, of_error *err) OF_MUST_CHECK;

typedef struct istore_order {
    char state[16];
    char result[16];
    bool attempt_known; /* the attempt id is one of the order's */
} istore_order;

/* The order (locked FOR UPDATE) and whether attempt_id is one of its attempts; *found false
 * when there is no such order. */
int istore_order_get(of_db *db, const char *order_id, const char *attempt_id, istore_order *o,
                     bool *found, of_error *err) OF_MUST_CHECK;

/* A result contradicting a final order: kept on the attempt, alerted (R7). */
int istore_conflict(of_db *db, const char *order_id, const char *attempt_id, const char *status,
                    const char *at, const char *state, of_error *err) OF_MUST_CHECK;

#endif
