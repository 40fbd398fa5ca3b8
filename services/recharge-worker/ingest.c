/* ingest.c — the rules of recharge-worker's consumer loop (see ingest.h). */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "log.h"
#include "money.h"

static const char *opt(const of_item *it, const char *field)
{
    return json_string_value(json_object_get(it->ev.data, field));
}

/* Refuses a request that breaks a rule; returns whether it may be queued. */
static bool request_ok(const ingest_ctx *c, of_item *it)
{
    static const char *const money_fields[] = {"amount", "face_value"};
    for (size_t i = 0; i < 2; i++) {
        int64_t cents = 0;
        const char *v = opt(it, money_fields[i]);
        if (of_money_parse(v, &cents) || cents <= 0) {
            of_item_reject(it, "data.%s: must be more than 0 (got \"%.32s\")", money_fields[i], v);
            return false;
        }
    }
    const char *product = opt(it, "product");
    if (!rc_product_known(c->rc, product)) {
        of_item_reject(it,
                       "data.product: unknown product \"%.128s\" (the known products are "
                       "RECHARGE_PRODUCTS: %.200s)",
                       product, c->rc->products);
        return false;
    }
    return true;
}

/* Queues the batch's valid requests with one statement; a later request for an order id
 * already queued (before, or earlier in the batch) is refused. */
static int queue_requests(const ingest_ctx *c, of_db *db, of_batch *b, of_error *err)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < b->n; i++) {
        of_item *it = &b->items[i];
        if (it->state != OF_ITEM_PENDING || strcmp(it->ev.type, "recharge.requested") != 0 ||
            !request_ok(c, it))
            continue;
        json_array_append_new(rows,
                              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "o", opt(it, "order_id"),
                                        "sh", opt(it, "shop_id"), "acc", opt(it, "account"), "p",
                                        opt(it, "product"), "fv", opt(it, "face_value"), "am",
                                        opt(it, "amount"), "t", it->ev.time));
    }
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return 0;
    }
    json_t *queued = NULL;
    int rc = istore_queue(db, rows, &queued, err);
    json_decref(rows);
    if (rc)
        return -1;
    json_t *fresh = json_object(); /* order ids inserted by this batch, not yet claimed */
    size_t k;
    json_t *v;
    json_array_foreach(queued, k, v) json_object_set(fresh, json_string_value(v), json_true());
    for (size_t i = 0; i < b->n; i++) {
        of_item *it = &b->items[i];
        if (it->state != OF_ITEM_PENDING || strcmp(it->ev.type, "recharge.requested") != 0)
            continue;
        const char *order = opt(it, "order_id");
        if (json_object_get(fresh, order))
            json_object_del(fresh, order); /* the first request of that id: it was queued */
        else
            of_item_reject(it,
                           "data.order_id: recharge order \"%.64s\" is already queued "
                           "(duplicate order id)",
                           order);
    }
    json_decref(fresh);
    json_decref(queued);
    return 0;
}

static int result_event(const ingest_ctx *c, of_db *db, of_item *it, of_error *err)
{
    const char *order = opt(it, "order_id"), *attempt = opt(it, "attempt_id"),
               *status = opt(it, "status"), *ref = opt(it, "provider_ref");
    istore_order o;
    bool found = false;
    if (istore_order_get(db, order, attempt, &o, &found, err))
        return -1;
    if (!found || !o.attempt_known) {
        of_item_reject(it,
                       "data.attempt_id: result for an unknown attempt \"%.64s\" of %s \"%.64s\"",
                       attempt, found ? "recharge order" : "unknown recharge order", order);
        return 0;
    }
    bool final = strcmp(o.state, "succeeded") == 0 || strcmp(o.state, "failed") == 0;
    if (final) {
        if (strcmp(status, o.result) == 0 || strcmp(status, "unknown") == 0)
            return 0; /* nothing new */
        of_warn("order %s is %s but the provider now reports %s for attempt %s (R7 alert)", order,
                o.state, status, attempt);
        return istore_conflict(db, order, attempt, status, it->ev.time, o.state, err);
    }
    bool unknown = strcmp(status, "unknown") == 0;
    if (unknown && strcmp(o.state, "suspended") == 0)
        return 0;                        /* already suspended */
    lease_params p = {.processor = NULL, /* the provider's word: not fenced by a lease */
                      .result_window_s = c->cfg->result_window_s,
                      .tz = c->cfg->shop_tz};
    lease_outcome out = {.order_id = order,
                         .state = unknown                          ? "suspended"
                                  : strcmp(status, "success") == 0 ? "succeeded"
                                                                   : "failed",
                         .result = status,
                         .provider_ref = ref,
                         .attempt_id = attempt,
                         .result_time = it->ev.time,
                         .why = unknown ? "the provider reported unknown (recharge.result)" : NULL};
    if (lease_finish(db, &p, &out, 1, NULL, err))
        return -1;
    if (out.late)
        of_warn("order %s: result of %s handled after the %d s window (R3 breach)", order,
                it->ev.time, c->cfg->result_window_s);
    return 0;
}

static int run_result_event(void *c, of_db *db, of_item *it, of_error *err)
{
    return result_event(c, db, it, err);
}

int recharge_apply_batch(void *ctx, of_db *db, of_batch *batch, of_error *err)
{
    const ingest_ctx *c = ctx;
    for (size_t i = 0; i < batch->n; i++) {
        of_item *it = &batch->items[i];
        if (it->state == OF_ITEM_PENDING && strcmp(it->ev.type, "recharge.requested") != 0 &&
            strcmp(it->ev.type, "recharge.result") != 0)
            of_item_reject(it, "type: %s events are not applied by recharge-worker", it->ev.type);
    }
    if (queue_requests(c, db, batch, err))
        return -1;
    for (size_t i = 0; i < batch->n; i++) {
        of_item *it = &batch->items[i];
        if (it->state != OF_ITEM_PENDING || strcmp(it->ev.type, "recharge.result") != 0)
            continue;
        if (of_item_under_savepoint(db, it, run_result_event, (void *)c, err))
            return -1;
    }
    return 0;
}
