/* order_apply.c — the dispatch table of order-worker and the batch apply function (see
 * order_apply.h). Events run in the batch's order, which is each partition's order, so the
 * events of one order apply in the order they were published (G3). */
#include "order_apply.h"

#include <string.h>

static const order_rule rules[] = {
    {"order.created", lifecycle_created}, {"order.paid", lifecycle_paid},
    {"order.printed", lifecycle_printed}, {"order.shipped", lifecycle_shipped},
    {"order.closed", lifecycle_closed},
};

static const order_rule *rule_for(const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

json_t *order_for(order_ctx *ctx, of_item *it)
{
    json_t *o = order_set_get(&ctx->orders, it->ev.subject);
    if (!o)
        of_item_reject(it, "%s for unknown order \"%.64s\": order.created must come first",
                       it->ev.type, it->ev.subject);
    return o;
}

int order_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err)
{
    order_ctx ctx = {.cfg = cfg};
    if (order_set_load(&ctx.orders, db, batch, err)) {
        order_set_free(&ctx.orders);
        return -1;
    }
    for (size_t i = 0; i < batch->n; i++) {
        of_item *it = &batch->items[i];
        if (it->state != OF_ITEM_PENDING)
            continue;
        const order_rule *rule = rule_for(it->ev.type);
        if (!rule) {
            of_item_reject(it, "type: %s is not applied by this version of order-worker",
                           it->ev.type);
            continue;
        }
        rule->apply(&ctx, it);
    }
    int rc = order_set_save(&ctx.orders, db, err);
    order_set_free(&ctx.orders);
    return rc;
}
