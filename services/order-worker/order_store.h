/* order_store.h — the orders of one batch, held in memory while the batch's rules run:
 * loaded from PostgreSQL with a row lock (FOR UPDATE) before the rules run, written back in
 * one statement after. An order is a JSON object with the columns of the orders table
 * (money as decimal strings, times as RFC 3339 strings). */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <jansson.h>

#include "consumer.h"
#include "db.h"

typedef struct order_set {
    json_t *rows;  /* order_id -> row object */
    json_t *dirty; /* order_id -> true for rows to write back */
} order_set;

/* Loads (and locks) every order the batch's pending items name. */
int order_set_load(order_set *set, of_db *db, const of_batch *batch, of_error *err) OF_MUST_CHECK;
/* Writes back changed and new orders. */
int order_set_save(order_set *set, of_db *db, of_error *err) OF_MUST_CHECK;
void order_set_free(order_set *set);

json_t *order_set_get(order_set *set, const char *order_id); /* borrowed; NULL = unknown */
/* Adds a new order (steals row) or marks an existing one changed; bumps its version. */
void order_set_put(order_set *set, const char *order_id, json_t *row);
void order_set_touch(order_set *set, const char *order_id);

#endif
