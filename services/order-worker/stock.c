/* stock.c — an ordered item is out of stock (SPEC A19-A21, rule book part 5 拍下后無貨):
 * unpaid, the buyer is told and the transaction closed; paid, the buyer is told to apply for
 * a refund — by phone unless they are online — and, once printed, the sku is struck. */
#include <string.h>

#include "rule_util.h"

void stock_out_of_stock(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    const char *state = o ? open_state(it, o) : NULL;
    if (!state || !need_sku(it, o, "sku"))
        return;
    const char *staff = opt(it, "staff"), *via = opt(it, "via");
    json_t *params = json_pack("{s:s,s:s}", "via", via, "staff", staff);
    if (strcmp(state, "unpaid") == 0) {
        if (note_add(ctx, it, it->ev.subject, "A19", staff, params) == 0)
            order_close(ctx, it, o, it->ev.subject, "out_of_stock");
        return;
    }
    if (strcmp(state, "shipped") == 0) {
        json_decref(params);
        of_item_reject(it, "order \"%.64s\" has shipped: out of stock applies before shipping",
                       it->ev.subject);
        return;
    }
    if (strcmp(via, "phone") != 0 && !json_is_true(json_object_get(it->ev.data, "buyer_online"))) {
        json_decref(params);
        of_item_reject(it,
                       "data.via: the buyer is not online, so they must be told by phone "
                       "(%s)",
                       strcmp(state, "paid") == 0 ? "A20" : "A21");
        return;
    }
    if (strcmp(state, "paid") == 0) {
        note_add(ctx, it, it->ev.subject, "A20", staff, params);
        return;
    }
    if (note_add(ctx, it, it->ev.subject, "A21", staff, params))
        return;
    order_append(ctx, json_object_get(o, "struck_skus"), json_string(opt(it, "sku")));
    order_touch(ctx, it->ev.subject);
}
