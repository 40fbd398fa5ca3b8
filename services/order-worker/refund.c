/* refund.c — refunds and the buyers' balance (SPEC F1-F4, rule book part 5 折扣(郵費)退款 and
 * 余額、退款登記): what may be claimed in the transaction, what is due after the deal, the
 * registrations with the reply 已登記, and balance credits and uses through the ledger, which
 * never goes negative. A refund is never more than what is left of the payment. */
#include <string.h>

#include "money.h"
#include "rule_util.h"

/* The order of a refund event, paid, with room for amount; NULL after rejecting. */
static json_t *refundable_order(order_ctx *ctx, of_item *it, const char *rule)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return NULL;
    if (strcmp(order_str(o, "state"), "unpaid") == 0) {
        of_item_reject(it, "order \"%.64s\" is not paid: there is nothing to refund (%s)",
                       it->ev.subject, rule);
        return NULL;
    }
    int64_t amount = cents_of(it, "amount"), left = refundable(o);
    if (amount > left) {
        char a[32], l[32];
        of_item_reject(it,
                       "data.amount: %s is more than the %s left of the payment of order "
                       "\"%.64s\" (%s)",
                       of_money_format(amount, a, sizeof a), of_money_format(left, l, sizeof l),
                       it->ev.subject, rule);
        return NULL;
    }
    return o;
}

/* F1: claimable during the transaction (折扣/郵費 交易中申請的退款). */
void refund_claimable(order_ctx *ctx, of_item *it)
{
    json_t *o = refundable_order(ctx, it, "F1");
    if (!o || !open_state(it, o) || !need_sku(it, o, "sku"))
        return;
    const char *staff = opt(it, "staff");
    note_add(ctx, it, it->ev.subject, "F1", staff,
             json_pack("{s:s,s:s,s:s,s:s}", "sku", opt(it, "sku"), "kind", opt(it, "kind"),
                       "amount", opt(it, "amount"), "staff", staff));
}

/* F2: due after the deal, to an account; registering it is handed on. */
void refund_due(order_ctx *ctx, of_item *it)
{
    json_t *o = refundable_order(ctx, it, "F2");
    if (!o || !need_sku(it, o, "sku"))
        return;
    const char *staff = opt(it, "staff");
    if (note_add(ctx, it, it->ev.subject, "F2", staff,
                 json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "sku", opt(it, "sku"), "kind",
                           opt(it, "kind"), "amount", opt(it, "amount"), "channel",
                           opt(it, "channel"), "account", opt(it, "account"), "staff", staff)))
        return;
    json_t *detail = json_pack("{s:s,s:s,s:s,s:s}", "amount", opt(it, "amount"), "channel",
                               opt(it, "channel"), "account", opt(it, "account"), "staff", staff);
    if (opt(it, "real_name"))
        json_object_set_new(detail, "real_name", json_string(opt(it, "real_name")));
    task_open(ctx, it, it->ev.subject, "register_refund", "registrar", detail);
    json_t *due = task_find(ctx, it->ev.subject, "refund_due");
    if (due)
        task_close(ctx, it, due, staff);
}

/* F3: a refund registration; the order is noted and the requester told 已登記. */
void refund_registered(order_ctx *ctx, of_item *it)
{
    json_t *o = refundable_order(ctx, it, "F3");
    if (!o)
        return;
    const char *buyer = opt(it, "buyer_id"), *staff = opt(it, "staff");
    if (strcmp(buyer, order_str(o, "buyer_id")) != 0) {
        of_item_reject(it, "data.buyer_id: \"%.64s\" is not the buyer of order \"%.64s\"", buyer,
                       it->ev.subject);
        return;
    }
    if (note_add(ctx, it, it->ev.subject, "F3", staff, json_pack("{s:s}", "staff", staff)))
        return;
    order_append(ctx, ctx->refunds,
                 json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "order_id", it->ev.subject,
                           "buyer_id", buyer, "channel", opt(it, "channel"), "account",
                           opt(it, "account"), "real_name", opt(it, "real_name"), "amount",
                           opt(it, "amount"), "reason", opt(it, "reason"), "staff", staff,
                           "registered_at", it->ev.time));
    int64_t refunded = 0;
    if (of_money_parse(order_str(o, "refunded"), &refunded))
        refunded = 0;
    char r[32];
    order_set_str(ctx, o, "refunded",
                  of_money_format(refunded + cents_of(it, "amount"), r, sizeof r));
    order_touch(ctx, it->ev.subject);
    json_t *task = task_find(ctx, it->ev.subject, "register_refund");
    if (task)
        task_close(ctx, it, task, staff);
}

/* F3: a credit to the buyer's balance; the order, when given, is noted. */
void balance_registered(order_ctx *ctx, of_item *it)
{
    const char *order_id = opt(it, "order_id"), *staff = opt(it, "staff");
    const char *buyer = opt(it, "buyer_id");
    json_t *o = NULL;
    if (order_id && !(o = order_for(ctx, it)))
        return;
    int64_t after;
    if (ledger_add(ctx, it, buyer, cents_of(it, "amount"), order_id, "registered", staff,
                   opt(it, "reason"), &after))
        return;
    if (!o)
        return;
    if (note_add(ctx, it, order_id, "F3.balance", staff, json_pack("{s:s}", "staff", staff)))
        return;
    json_t *task = task_find(ctx, order_id, "register_balance");
    if (task)
        task_close(ctx, it, task, staff);
}

/* F4: the balance pays (part of) an order; registration is notified. */
void balance_used(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    const char *buyer = opt(it, "buyer_id"), *staff = opt(it, "staff");
    if (strcmp(buyer, order_str(o, "buyer_id")) != 0) {
        of_item_reject(it, "data.buyer_id: \"%.64s\" is not the buyer of order \"%.64s\"", buyer,
                       it->ev.subject);
        return;
    }
    int64_t after;
    if (ledger_add(ctx, it, buyer, -cents_of(it, "amount"), it->ev.subject, "used", staff, "F4",
                   &after))
        return;
    char left[32];
    int rc = after == 0
                 ? note_add(ctx, it, it->ev.subject, "F4.zero", staff,
                            json_pack("{s:s,s:s}", "amount", opt(it, "amount"), "staff", staff))
                 : note_add(ctx, it, it->ev.subject, "F4", staff,
                            json_pack("{s:s,s:s,s:s}", "amount", opt(it, "amount"), "remaining",
                                      of_money_format(after, left, sizeof left), "staff", staff));
    if (rc == 0)
        task_open(ctx, it, it->ev.subject, "register_balance", "registrar",
                  json_pack("{s:s,s:s,s:s}", "buyer_id", buyer, "amount", opt(it, "amount"),
                            "staff", staff));
}
