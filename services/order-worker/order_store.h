/* order_store.h — all SQL of order-worker. Before a batch's rules run: the orders the batch
 * names (locked FOR UPDATE, with their next note number), their open tasks, and the
 * balances of the buyers it touches, in buyer order so workers never deadlock: locked FOR
 * NO KEY UPDATE when the batch may change the balance or may close an order as the
 * duplicate of the buyer's open remittance (M5), else FOR KEY SHARE (a new order's buyer,
 * seen by other workers at once, waited for by remittance-worker's FOR UPDATE).
 * After: orders, notes, tasks, ledger entries, balances and refund registrations, each in
 * one set-based statement. An order is a JSON object with the columns of the orders table
 * (money as decimal strings, times as RFC 3339 strings). */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <jansson.h>

#include "consumer.h"
#include "db.h"

typedef struct order_set {
    json_t *rows;   /* order_id -> row object */
    json_t *dirty;  /* order_id -> true for rows to write back */
    json_t *loaded; /* order_id -> true for rows read from PostgreSQL (the others are new) */
} order_set;

struct order_ctx;

int order_store_load(struct order_ctx *ctx, of_db *db, const of_batch *batch,
                     of_error *err) OF_MUST_CHECK;
int order_store_save(struct order_ctx *ctx, of_db *db, of_error *err) OF_MUST_CHECK;

void order_set_free(order_set *set);
json_t *order_set_get(order_set *set, const char *order_id); /* borrowed; NULL = unknown */
/* Marks an order changed, unjournaled (handlers use order_touch, order_apply.h). */
void order_set_touch(order_set *set, const char *order_id);

#endif
