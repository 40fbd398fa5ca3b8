/* lifecycle.c — the order lifecycle: created → paid → printed (打單) → shipped, and closed
 * at any point. Each handler checks the order's state allows the event, else rejects it
 * with a reason naming the state, so the shop can see what came out of order. */
#include <string.h>

#include "order_apply.h"

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int is_closed(const json_t *o)
{
    return json_is_true(json_object_get(o, "closed"));
}

static void set_str(json_t *o, const char *key, const char *value)
{
    json_object_set_new(o, key, value ? json_string(value) : json_null());
}

void lifecycle_created(order_ctx *ctx, of_item *it)
{
    const json_t *d = it->ev.data;
    if (order_set_get(&ctx->orders, it->ev.subject)) {
        of_item_reject(it, "order \"%.64s\" already exists: order.created is sent once per order",
                       it->ev.subject);
        return;
    }
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:O,s:s,s:b,s:i}", "order_id", it->ev.subject,
                  "shop_id", str(d, "shop_id"), "buyer_id", str(d, "buyer_id"), "state", "unpaid",
                  "total", json_object_get(d, "total"), "postage", json_object_get(d, "postage"),
                  "auction", json_object_get(d, "auction"), "items", json_object_get(d, "items"),
                  "created_at", it->ev.time, "closed", 0, "version", 1);
    order_set_put(&ctx->orders, it->ev.subject, o);
}

void lifecycle_paid(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: it cannot be paid", it->ev.subject);
        return;
    }
    if (strcmp(str(o, "state"), "unpaid") != 0) {
        of_item_reject(it, "order \"%.64s\" is already paid (state %s)", it->ev.subject,
                       str(o, "state"));
        return;
    }
    set_str(o, "state", "paid");
    set_str(o, "paid_at", it->ev.time);
    set_str(o, "paid_amount", str(it->ev.data, "amount"));
    set_str(o, "pay_method", str(it->ev.data, "method"));
    order_set_touch(&ctx->orders, it->ev.subject);
}

void lifecycle_printed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    const char *state = str(o, "state");
    if (is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: its waybill cannot be printed",
                       it->ev.subject);
        return;
    }
    if (strcmp(state, "unpaid") == 0) {
        of_item_reject(it, "order \"%.64s\" is not paid: a waybill is printed only after payment",
                       it->ev.subject);
        return;
    }
    if (strcmp(state, "shipped") == 0) {
        of_item_reject(it, "order \"%.64s\" has shipped: its waybill cannot be printed again",
                       it->ev.subject);
        return;
    }
    /* printed again (a reprint) keeps the first print time and takes the new waybill */
    if (strcmp(state, "paid") == 0)
        set_str(o, "printed_at", it->ev.time);
    set_str(o, "state", "printed");
    set_str(o, "waybill_no", str(it->ev.data, "waybill_no"));
    order_set_touch(&ctx->orders, it->ev.subject);
}

void lifecycle_shipped(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: it cannot ship", it->ev.subject);
        return;
    }
    if (strcmp(str(o, "state"), "printed") != 0) {
        of_item_reject(it, "order \"%.64s\" cannot ship in state %s: it must be paid and printed",
                       it->ev.subject, str(o, "state"));
        return;
    }
    set_str(o, "state", "shipped");
    set_str(o, "shipped_at", it->ev.time);
    set_str(o, "carrier", str(it->ev.data, "carrier"));
    set_str(o, "waybill_no", str(it->ev.data, "waybill_no"));
    order_set_touch(&ctx->orders, it->ev.subject);
}

void lifecycle_closed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is already closed", it->ev.subject);
        return;
    }
    json_object_set_new(o, "closed", json_true());
    set_str(o, "closed_at", it->ev.time);
    set_str(o, "close_reason", str(it->ev.data, "reason"));
    order_set_touch(&ctx->orders, it->ev.subject);
}
