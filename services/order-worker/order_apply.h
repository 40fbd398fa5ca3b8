/* order_apply.h — how order-worker applies a batch. One table maps each event type to its
 * handler. A handler reads the batch's state (orders, their open tasks, buyers' balances),
 * checks the event against the order's state, and either records its effects (state,
 * notes, tasks, ledger entries, refund registrations) or rejects it with a reason. A
 * rejected event leaves nothing behind: every change a handler makes goes through the
 * effects below, which journal what they replace, and a rejection rolls the journal back.
 * Everything is written back in a few set-based statements at the end of the batch
 * (order_store.c). */
#ifndef ORDER_APPLY_H
#define ORDER_APPLY_H

#include <stdint.h>

#include "config.h"
#include "consumer.h"
#include "order_store.h"

/* One change of the event being applied: obj[key] was old (NULL: absent) before it, or, with
 * key NULL, the array obj had len elements. key is not copied: literals, ids from the
 * batch's events and buyer ids of its rows, which outlive the event's journal. */
typedef struct order_change {
    json_t *obj;
    const char *key;
    json_t *old;
    size_t len;
} order_change;

typedef struct order_ctx {
    const of_config *cfg;
    order_change *journal; /* the changes of the event being applied, for its rejection */
    size_t njournal, journal_cap;
    order_set orders;
    json_t *notes;      /* order_id -> [new order_notes rows] */
    json_t *tasks;      /* order_id -> [task objects: open ones loaded, new ones (no task_id)] */
    json_t *balances;   /* buyer_id -> balance in cents (locked rows of buyer_balances) */
    json_t *ledger;     /* [new balance_ledger rows] */
    json_t *refunds;    /* [new refund_registrations rows] */
    json_t *remits;     /* buyer_id -> [off-shop remittances not yet matched] (M5) */
    json_t *remit_dups; /* [{remit_id, order_id}] duplicates closed in this batch (M5) */
} order_ctx;

typedef void (*order_handler)(order_ctx *ctx, of_item *it);

typedef struct order_rule {
    const char *type;
    order_handler apply;
} order_rule;

/* The of_apply_fn of order-worker (ctx: const of_config *). */
int order_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err);

/* Runs the event's handler, its changes rolled back when it rejects the event (what
 * order_apply_batch does per event). */
void order_apply_one(order_ctx *ctx, of_item *it);
/* The same with a given handler. */
void order_apply_handler(order_ctx *ctx, of_item *it, order_handler apply);

/* An empty context (no database), for order_apply_one in tests and for a batch. */
void order_ctx_init(order_ctx *ctx, const of_config *cfg);
void order_ctx_free(order_ctx *ctx);

/* ---- effects, for handlers ----------------------------------------------------------- */

/* The order the event names, or NULL after rejecting the event ("unknown order"). */
json_t *order_for(order_ctx *ctx, of_item *it);
const char *order_str(const json_t *o, const char *key); /* "" when absent */
/* Sets obj[keys[i]] to values[i] (NULL: JSON null) for i < n, without checking the texts
 * again: for rows built from decoded events and the note catalogue, known UTF-8 (json_pack
 * parses its format and checks every text). */
void set_texts(json_t *obj, const char *const *keys, const char *const *values, size_t n);
/* o[key] = value (a string, or null for NULL), journaled. */
void order_set_str(order_ctx *ctx, json_t *o, const char *key, const char *value);
/* o[key] = value (stolen), journaled. */
void order_set_value(order_ctx *ctx, json_t *o, const char *key, json_t *value);
/* Appends v (stolen) to the array a, journaled. */
void order_append(order_ctx *ctx, json_t *a, json_t *v);
/* Adds the new order row (stolen) and marks it to be written, journaled. */
void order_put(order_ctx *ctx, const char *order_id, json_t *row);
/* Marks the order's row to be written back, journaled. */
void order_touch(order_ctx *ctx, const char *order_id);
int order_is_closed(const json_t *o);
/* Closes the transaction at the event's time. */
void order_close(order_ctx *ctx, of_item *it, json_t *o, const char *order_id, const char *reason);

/* Adds a note to order_id, authored by author, with params (stolen) plus {date} from the
 * event's time in SHOP_TZ. Returns -1 after rejecting the event when a parameter is blank. */
int note_add(order_ctx *ctx, of_item *it, const char *order_id, const char *key, const char *author,
             json_t *params);

/* Opens a task (detail stolen, may be NULL); returns it (borrowed). */
json_t *task_open(order_ctx *ctx, of_item *it, const char *order_id, const char *kind,
                  const char *assignee, json_t *detail);
/* The first open task of that kind on the order, or NULL. */
json_t *task_find(order_ctx *ctx, const char *order_id, const char *kind);
void task_close(order_ctx *ctx, of_item *it, json_t *task, const char *by);

/* Adds delta cents to the buyer's balance with a ledger entry. Returns -1 after rejecting
 * the event when the balance would go negative; *after receives the new balance. */
int ledger_add(order_ctx *ctx, of_item *it, const char *buyer, int64_t delta, const char *order_id,
               const char *kind, const char *staff, const char *reason, int64_t *after);

/* "sku×qty;..." of an items array, sorted bytewise: two orders of the same goods have the
 * same key. The same text as PostgreSQL's items_key(items) (0007), which orders.items_key
 * holds and remittance-worker matches against (M5). malloc'd; NULL for no items. */
char *items_key(const json_t *items);

/* ---- handlers ------------------------------------------------------------------------ */

/* lifecycle.c: created → paid → printed → shipped; closed */
void lifecycle_created(order_ctx *ctx, of_item *it);
void lifecycle_paid(order_ctx *ctx, of_item *it);
void lifecycle_printed(order_ctx *ctx, of_item *it);
void lifecycle_shipped(order_ctx *ctx, of_item *it);
void lifecycle_closed(order_ctx *ctx, of_item *it);
/* annotate.c: A1-A12 */
void annotate_price_changed(order_ctx *ctx, of_item *it);
void annotate_copied(order_ctx *ctx, of_item *it);
void annotate_address_changed(order_ctx *ctx, of_item *it);
void annotate_waybill_fixed(order_ctx *ctx, of_item *it);
/* cancel.c: A13-A18 */
void cancel_buyer_cancelled(order_ctx *ctx, of_item *it);
void cancel_waybill_cancelled(order_ctx *ctx, of_item *it);
void cancel_exchanged(order_ctx *ctx, of_item *it);
/* stock.c: A19-A21 */
void stock_out_of_stock(order_ctx *ctx, of_item *it);
/* refund.c: F1-F4 */
void refund_claimable(order_ctx *ctx, of_item *it);
void refund_due(order_ctx *ctx, of_item *it);
void refund_registered(order_ctx *ctx, of_item *it);
void balance_registered(order_ctx *ctx, of_item *it);
void balance_used(order_ctx *ctx, of_item *it);

#endif
