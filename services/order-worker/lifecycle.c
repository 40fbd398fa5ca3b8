/* lifecycle.c — the order lifecycle: created → paid → printed (打單) → shipped, and closed at
 * any point. Payment sets the T1 ship-by day and the T2 refund-from time; printing leaves
 * the A7 note. Each handler checks that the order's state allows the event, else rejects it
 * with a reason naming the state, so the shop can see what came out of order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order_apply.h"
#include "shop_time.h"

/* M5: the buyer already ordered the same goods by bank remittance (off the shop): this shop
 * order is a duplicate and is closed, noted for the remittance's staff. */
static void close_if_remitted(order_ctx *ctx, of_item *it, json_t *o)
{
    json_t *remits = json_object_get(ctx->remits, order_str(o, "buyer_id"));
    if (!json_array_size(remits))
        return;
    char *key = items_key(json_object_get(o, "items"));
    size_t i;
    json_t *r;
    json_array_foreach(remits, i, r)
    {
        char *rkey = items_key(json_object_get(r, "items"));
        int same = key && rkey && strcmp(key, rkey) == 0;
        free(rkey);
        if (!same)
            continue;
        const char *staff = order_str(r, "staff");
        if (strspn(staff, " \t\r\n") == strlen(staff))
            staff = "orderflow"; /* never refuse the new order for the remittance's data */
        if (note_add(ctx, it, it->ev.subject, "M5", staff,
                     json_pack("{s:s,s:s}", "remit_id", order_str(r, "remit_id"), "staff",
                               staff)) == 0) {
            order_close(ctx, it, o, it->ev.subject, "remittance_duplicate");
            json_array_append_new(ctx->remit_dups,
                                  json_pack("{s:s,s:s}", "remit_id", order_str(r, "remit_id"),
                                            "order_id", it->ev.subject));
            json_array_remove(remits, i); /* one remittance closes one duplicate */
        }
        break;
    }
    free(key);
}

void lifecycle_created(order_ctx *ctx, of_item *it)
{
    const json_t *d = it->ev.data;
    if (order_set_get(&ctx->orders, it->ev.subject)) {
        of_item_reject(it, "order \"%.64s\" already exists: order.created is sent once per order",
                       it->ev.subject);
        return;
    }
    json_t *o = json_object();
    static const char *const texts[] = {"order_id", "shop_id",    "buyer_id",
                                        "state",    "created_at", "refunded"};
    const char *values[] = {
        it->ev.subject, order_str(d, "shop_id"), order_str(d, "buyer_id"), "unpaid", it->ev.time,
        "0.00"};
    set_texts(o, texts, values, sizeof texts / sizeof *texts);
    static const char *const shared[] = {"total", "postage", "auction", "items"};
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
        json_t *v = json_object_get(d, shared[i]);
        json_object_set_nocheck(o, shared[i], v ? v : json_null());
    }
    json_object_set_new_nocheck(o, "closed", json_false());
    json_object_set_new_nocheck(o, "version", json_integer(0));
    json_object_set_new_nocheck(o, "struck_skus", json_array());
    json_object_set_new_nocheck(o, "note_seq", json_integer(0));
    order_put(ctx, it->ev.subject, o);
    close_if_remitted(ctx, it, o);
}

/* T1: paid before the cut-off (shop time) ships the same day, else the next day. */
static void ship_by(const of_config *cfg, int64_t paid_us, char *out)
{
    int h = 12, m = 0;
    if (cfg)
        sscanf(cfg->ship_cutoff, "%d:%d", &h, &m);
    of_shop_date(paid_us, out);
    if (of_shop_minute_of_day(paid_us) >= h * 60 + m) {
        char next[11];
        of_date_next(out, next);
        memcpy(out, next, 11);
    }
}

void lifecycle_paid(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (order_is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: it cannot be paid", it->ev.subject);
        return;
    }
    if (strcmp(order_str(o, "state"), "unpaid") != 0) {
        of_item_reject(it, "order \"%.64s\" is already paid (state %s)", it->ev.subject,
                       order_str(o, "state"));
        return;
    }
    order_set_str(ctx, o, "state", "paid");
    order_set_str(ctx, o, "paid_at", it->ev.time);
    order_set_str(ctx, o, "paid_amount", order_str(it->ev.data, "amount"));
    order_set_str(ctx, o, "pay_method", order_str(it->ev.data, "method"));
    char day[11], from[21];
    ship_by(ctx->cfg, it->ev.time_us, day);
    order_set_str(ctx, o, "ship_by", day);
    int hours = ctx->cfg ? ctx->cfg->refund_after_h : 24;
    of_format_utc(it->ev.time_us + (int64_t)hours * 3600 * 1000000, from);
    order_set_str(ctx, o, "refund_from", from);
    order_touch(ctx, it->ev.subject);
}

void lifecycle_printed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    const char *state = order_str(o, "state");
    if (order_is_closed(o)) {
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
    const char *staff = order_str(it->ev.data, "staff");
    /* A7: the note of printing is its date, by whoever printed */
    if (note_add(ctx, it, it->ev.subject, "A7", staff, json_object()))
        return;
    /* printed again (a reprint) keeps the first print time and takes the new waybill */
    if (strcmp(state, "paid") == 0)
        order_set_str(ctx, o, "printed_at", it->ev.time);
    order_set_str(ctx, o, "state", "printed");
    order_set_str(ctx, o, "waybill_no", order_str(it->ev.data, "waybill_no"));
    order_touch(ctx, it->ev.subject);
}

void lifecycle_shipped(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (order_is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: it cannot ship", it->ev.subject);
        return;
    }
    if (strcmp(order_str(o, "state"), "printed") != 0) {
        of_item_reject(it, "order \"%.64s\" cannot ship in state %s: it must be paid and printed",
                       it->ev.subject, order_str(o, "state"));
        return;
    }
    order_set_str(ctx, o, "state", "shipped");
    order_set_str(ctx, o, "shipped_at", it->ev.time);
    order_set_str(ctx, o, "carrier", order_str(it->ev.data, "carrier"));
    order_set_str(ctx, o, "waybill_no", order_str(it->ev.data, "waybill_no"));
    order_touch(ctx, it->ev.subject);
}

void lifecycle_closed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    if (order_is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is already closed", it->ev.subject);
        return;
    }
    order_close(ctx, it, o, it->ev.subject, order_str(it->ev.data, "reason"));
}
