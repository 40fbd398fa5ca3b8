/* cancel.c — a buyer who no longer wants what they ordered (SPEC A13-A18, rule book part 5
 * 拍下后不要 / 拍下后換款): closing or relisting, the assistant's waybill cancellation and
 * its two outcomes, and exchanges with each sign of the price difference. */
#include <string.h>

#include "money.h"
#include "rule_util.h"

/* A15: printed, so the waybill must be cancelled by an assistant first. */
static int hand_cancel_to_assistant(order_ctx *ctx, of_item *it, const char *rule)
{
    const char *assistant = need(it, "assistant", "once the waybill is printed", rule);
    const char *staff = opt(it, "staff");
    if (!assistant || note_add(ctx, it, it->ev.subject, "A15", staff,
                               json_pack("{s:s,s:s}", "assistant", assistant, "staff", staff)))
        return -1;
    json_t *detail = json_pack("{s:s}", "staff", staff);
    if (opt(it, "relister"))
        json_object_set_new(detail, "relister", json_string(opt(it, "relister")));
    task_open(ctx, it, it->ev.subject, "cancel_waybill", assistant, detail);
    return 0;
}

/* Unpaid: the transaction is closed, except an auction item, which the shop does not close
 * itself: it is noted and handed to the relister (A13). */
static void cancel_unpaid(order_ctx *ctx, of_item *it, json_t *o)
{
    if (!json_is_true(json_object_get(o, "auction"))) {
        order_close(ctx, it, o, it->ev.subject, "buyer_cancelled");
        return;
    }
    const char *relister = need(it, "relister", "for an auction item", "A13");
    const char *staff = opt(it, "staff");
    if (!relister || note_add(ctx, it, it->ev.subject, "A13", staff,
                              json_pack("{s:s,s:s}", "relister", relister, "staff", staff)))
        return;
    task_open(ctx, it, it->ev.subject, "relist", relister, json_pack("{s:s}", "staff", staff));
}

void cancel_buyer_cancelled(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    const char *state = o ? open_state(it, o) : NULL;
    if (!state)
        return;
    const char *staff = opt(it, "staff");
    if (strcmp(state, "unpaid") == 0) {
        cancel_unpaid(ctx, it, o);
    } else if (strcmp(state, "paid") == 0) {
        /* A14: refund from paid time + 24 h (T2, refund_from); no fake shipment */
        const char *relister = need(it, "relister", "for a paid order", "A14");
        if (!relister || note_add(ctx, it, it->ev.subject, "A14", staff,
                                  json_pack("{s:s,s:s}", "relister", relister, "staff", staff)))
            return;
        task_open(ctx, it, it->ev.subject, "relist", relister, json_pack("{s:s}", "staff", staff));
    } else if (strcmp(state, "printed") == 0) {
        hand_cancel_to_assistant(ctx, it, "A15");
    } else {
        of_item_reject(it, "order \"%.64s\" has shipped: a cancellation applies before shipping",
                       it->ev.subject);
    }
}

/* A16: cancelled; the assistant notes it and hands the item to the relister; the staff
 * who asked is told. A17: not found; the staff notes it, keeps a follow-up task and the
 * parcel goes to after-sales registration. */
void cancel_waybill_cancelled(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    json_t *task = task_find(ctx, it->ev.subject, "cancel_waybill");
    if (!task) {
        of_item_reject(it,
                       "order \"%.64s\" has no waybill cancellation pending (a buyer "
                       "cancelling a printed order opens one)",
                       it->ev.subject);
        return;
    }
    const json_t *detail = json_object_get(task, "detail");
    const char *assistant = opt(it, "assistant");
    const char *asked_by = order_str(detail, "staff");
    if (strcmp(opt(it, "outcome"), "cancelled") == 0) {
        const char *relister = opt(it, "relister");
        if (!relister && *order_str(detail, "relister"))
            relister = order_str(detail, "relister");
        if (!relister) {
            of_item_reject(it, "data.relister: required when the waybill is cancelled (A16)");
            return;
        }
        if (note_add(ctx, it, it->ev.subject, "A16", assistant,
                     json_pack("{s:s,s:s}", "relister", relister, "assistant", assistant)))
            return;
        task_open(ctx, it, it->ev.subject, "relist", relister,
                  json_pack("{s:s}", "assistant", assistant));
        task_open(ctx, it, it->ev.subject, "cancel_done", *asked_by ? asked_by : assistant,
                  json_pack("{s:s}", "assistant", assistant));
        order_set_str(ctx, o, "state", "paid"); /* the waybill is gone: paid, not printed */
        order_set_str(ctx, o, "waybill_no", NULL);
        order_touch(ctx, it->ev.subject);
    } else {
        const char *cause = need(it, "cause", "when the waybill was not found", "A17");
        const char *courier =
            cause ? need(it, "courier", "when the waybill was not found", "A17") : NULL;
        if (!courier)
            return;
        const char *staff = opt(it, "staff");
        if (!staff)
            staff = *asked_by ? asked_by : assistant;
        if (note_add(
                ctx, it, it->ev.subject, "A17", staff,
                json_pack("{s:s,s:s,s:s}", "cause", cause, "courier", courier, "staff", staff)))
            return;
        task_open(ctx, it, it->ev.subject, "cancel_followup", staff,
                  json_pack("{s:s,s:s}", "courier", courier, "cause", cause));
        task_open(ctx, it, it->ev.subject, "after_sales", "after_sales",
                  json_pack("{s:s}", "staff", staff));
    }
    task_close(ctx, it, task, assistant);
}

/* A18: the buyer wants another sku and has ordered it (order B). */
void cancel_exchanged(order_ctx *ctx, of_item *it)
{
    json_t *a = order_for(ctx, it);
    const char *state = a ? open_state(it, a) : NULL;
    if (!state)
        return;
    const char *from = opt(it, "from_sku"), *to = opt(it, "to_sku"), *staff = opt(it, "staff");
    const char *b_id = opt(it, "new_order_id");
    if (strcmp(from, to) == 0) {
        of_item_reject(it, "data.to_sku: an exchange needs another sku than \"%.64s\"", from);
        return;
    }
    if (!need_sku(it, a, "from_sku"))
        return;
    json_t *b = order_set_get(&ctx->orders, b_id);
    if (!b || strcmp(b_id, it->ev.subject) == 0) {
        of_item_reject(it,
                       "data.new_order_id: \"%.64s\" is not a known order (publish its "
                       "order.created first)",
                       b_id);
        return;
    }
    if (strcmp(state, "unpaid") == 0) { /* 同拍下后不要 */
        cancel_unpaid(ctx, it, a);
        return;
    }
    if (strcmp(state, "shipped") == 0) {
        of_item_reject(it, "order \"%.64s\" has shipped: an exchange applies before shipping",
                       it->ev.subject);
        return;
    }
    if (note_add(ctx, it, it->ev.subject, "A18", staff,
                 json_pack("{s:s,s:s,s:s}", "from_sku", from, "to_sku", to, "staff", staff)))
        return;
    int64_t diff = cents_of(it, "price_diff");
    char amount[32];
    of_money_format(diff < 0 ? -diff : diff, amount, sizeof amount);
    if (diff > 0) {
        /* B's price becomes the difference; it is ordered once that is paid */
        if (note_add(ctx, it, b_id, "A18.diff", staff, json_pack("{s:s}", "staff", staff)))
            return;
        order_set_str(ctx, b, "total", opt(it, "price_diff"));
        order_touch(ctx, b_id);
        task_open(ctx, it, b_id, "print_watch", "order_clerk",
                  json_pack("{s:s,s:s}", "exchange_of", it->ev.subject, "staff", staff));
    } else {
        /* no difference, or one to refund: a special order, and B's transaction closed */
        task_open(ctx, it, it->ev.subject, "special_order", "order_clerk",
                  json_pack("{s:s,s:s,s:s}", "from_sku", from, "to_sku", to, "new_order_id", b_id));
        order_close(ctx, it, b, b_id, "exchange");
        if (diff < 0) /* the refund of the difference is due on A (F2 follows) */
            task_open(ctx, it, it->ev.subject, "refund_due", staff,
                      json_pack("{s:s,s:s}", "amount", amount, "sku", from));
    }
    if (strcmp(state, "printed") == 0)
        hand_cancel_to_assistant(ctx, it, "A18");
}
