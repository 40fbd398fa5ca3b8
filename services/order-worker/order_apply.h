/* order_apply.h — how order-worker applies a batch: one table maps each event type to its
 * handler; a handler reads the order's current state from the batch's order_set and either
 * changes it or rejects the event with a reason (nothing applied). */
#ifndef ORDER_APPLY_H
#define ORDER_APPLY_H

#include "config.h"
#include "consumer.h"
#include "order_store.h"

typedef struct order_ctx {
    const of_config *cfg;
    order_set orders;
} order_ctx;

typedef void (*order_handler)(order_ctx *ctx, of_item *it);

typedef struct order_rule {
    const char *type;
    order_handler apply;
} order_rule;

/* The of_apply_fn of order-worker (ctx: const of_config *). */
int order_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err);

/* Handlers of the order lifecycle (lifecycle.c). */
void lifecycle_created(order_ctx *ctx, of_item *it);
void lifecycle_paid(order_ctx *ctx, of_item *it);
void lifecycle_printed(order_ctx *ctx, of_item *it);
void lifecycle_shipped(order_ctx *ctx, of_item *it);
void lifecycle_closed(order_ctx *ctx, of_item *it);

/* The order the event names, or NULL after rejecting the event ("unknown order"). */
json_t *order_for(order_ctx *ctx, of_item *it);

#endif
