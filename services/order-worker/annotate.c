/* annotate.c — the annotation rules of staff actions on an order (SPEC A1-A12, rule book
 * part 5 備註規範): price changes (A1-A6), copying (A8), address changes (A9/A10) and the
 * assistant's waybill fix (A11/A12). Who handles, annotates (A0): the author of each note is
 * the actor of the event. */
#include <string.h>

#include "money.h"
#include "notes.h"
#include "rule_util.h"

/* A1-A6: the note of a price change, by its reason. */
void annotate_price_changed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    const char *state = o ? open_state(it, o) : NULL;
    if (!state)
        return;
    if (strcmp(state, "unpaid") != 0) {
        of_item_reject(it, "order \"%.64s\" is %s: a price changes only before payment",
                       it->ev.subject, state);
        return;
    }
    const char *staff = opt(it, "staff"), *reason = opt(it, "reason");
    const char *oid = it->ev.subject;
    int rc;
    if (strcmp(reason, "normal") == 0) {
        rc = note_add(ctx, it, oid, "A1", staff, json_pack("{s:s}", "staff", staff));
    } else if (strcmp(reason, "review_reward") == 0) {
        rc = note_add(ctx, it, oid, "A2", staff,
                      json_pack("{s:s,s:s}", "amount", opt(it, "amount"), "staff", staff));
    } else if (strcmp(reason, "overcharged_postage") == 0 ||
               strcmp(reason, "overcharged_discount") == 0) {
        if (!need_sku(it, o, "sku"))
            return;
        rc = note_add(ctx, it, oid, strcmp(reason, "overcharged_postage") == 0 ? "A3" : "A4", staff,
                      json_pack("{s:s,s:s,s:s}", "sku", opt(it, "sku"), "amount", opt(it, "amount"),
                                "staff", staff));
    } else if (strcmp(reason, "balance_deduction") == 0) {
        /* A5: the buyer's balance pays part of the price; the rest is noted */
        int64_t after;
        if (ledger_add(ctx, it, order_str(o, "buyer_id"), -cents_of(it, "amount"), oid,
                       "price_deduction", staff, "A5", &after))
            return;
        char left[32];
        rc = after == 0
                 ? note_add(ctx, it, oid, "A5.zero", staff,
                            json_pack("{s:s,s:s}", "amount", opt(it, "amount"), "staff", staff))
                 : note_add(ctx, it, oid, "A5", staff,
                            json_pack("{s:s,s:s,s:s}", "amount", opt(it, "amount"), "remaining",
                                      of_money_format(after, left, sizeof left), "staff", staff));
        if (rc == 0) /* 余額扣除后要交予負責的專人登記 */
            task_open(ctx, it, oid, "register_balance", "registrar",
                      json_pack("{s:s,s:s,s:s}", "buyer_id", order_str(o, "buyer_id"), "amount",
                                opt(it, "amount"), "staff", staff));
    } else { /* other */
        rc = note_add(ctx, it, oid, "A6", staff,
                      json_pack("{s:s,s:s}", "note", opt(it, "note"), "staff", staff));
    }
    if (rc)
        return;
    order_set_str(ctx, o, "total", opt(it, "new_total"));
    order_touch(ctx, oid);
}

/* A8: copying the order (抄單), or a remittance copy with its order number. */
void annotate_copied(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    const char *staff = opt(it, "staff"), *no = opt(it, "remit_order_no");
    if (no)
        note_add(ctx, it, it->ev.subject, "A8.remit", staff,
                 json_pack("{s:s,s:s}", "remit_order_no", no, "staff", staff));
    else
        note_add(ctx, it, it->ev.subject, "A8", staff, json_pack("{s:s}", "staff", staff));
}

/* A9 before printing: the address changes. A10 after: the waybill must be fixed by an
 * assistant, who gets the task. */
void annotate_address_changed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    const char *state = o ? open_state(it, o) : NULL;
    if (!state)
        return;
    const char *staff = opt(it, "staff"), *address = opt(it, "address");
    if (strcmp(state, "shipped") == 0) {
        of_item_reject(it, "order \"%.64s\" has shipped: its address can no longer change",
                       it->ev.subject);
        return;
    }
    if (strcmp(state, "printed") == 0) {
        const char *assistant = need(it, "assistant", "once the waybill is printed", "A10");
        if (!assistant || note_add(ctx, it, it->ev.subject, "A10", staff,
                                   json_pack("{s:s,s:s,s:s}", "address", address, "assistant",
                                             assistant, "staff", staff)))
            return;
        task_open(ctx, it, it->ev.subject, "fix_waybill", assistant,
                  json_pack("{s:s,s:s}", "address", address, "staff", staff));
    } else if (note_add(ctx, it, it->ev.subject, "A9", staff,
                        json_pack("{s:s,s:s}", "address", address, "staff", staff))) {
        return;
    }
    order_set_str(ctx, o, "address", address);
    order_touch(ctx, it->ev.subject);
}

/* A11: the assistant fixed the waybill and notes it. A12: not found; the original staff
 * notes what was done (courier asked to return, or to change it). Both close the task. */
void annotate_waybill_fixed(order_ctx *ctx, of_item *it)
{
    json_t *o = order_for(ctx, it);
    if (!o)
        return;
    json_t *task = task_find(ctx, it->ev.subject, "fix_waybill");
    if (!task) {
        of_item_reject(it,
                       "order \"%.64s\" has no waybill fix pending (an address change "
                       "after printing opens one)",
                       it->ev.subject);
        return;
    }
    const char *assistant = opt(it, "assistant");
    if (strcmp(opt(it, "outcome"), "fixed") == 0) {
        if (note_add(ctx, it, it->ev.subject, "A11", assistant,
                     json_pack("{s:s}", "assistant", assistant)))
            return;
    } else {
        const char *cause = need(it, "cause", "when the waybill was not found", "A12");
        if (!cause)
            return;
        /* the original staff notes it: the event's staff, else who asked for the fix */
        const char *staff = opt(it, "staff");
        if (!staff)
            staff = order_str(json_object_get(task, "detail"), "staff");
        const char *courier = opt(it, "courier");
        if (courier ? note_add(ctx, it, it->ev.subject, "A12.courier", staff,
                               json_pack("{s:s,s:s,s:s}", "cause", cause, "courier", courier,
                                         "staff", staff))
                    : note_add(ctx, it, it->ev.subject, "A12", staff,
                               json_pack("{s:s,s:s}", "cause", cause, "staff", staff)))
            return;
    }
    task_close(ctx, it, task, assistant);
}
