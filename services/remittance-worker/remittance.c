/* remittance.c — the remittance rules (see remittance.h). */
#include "remittance.h"

#include <stdio.h>
#include <string.h>

#include "money.h"
#include "notes.h"
#include "shop_time.h"

static const char *opt(const of_item *it, const char *field)
{
    return json_string_value(json_object_get(it->ev.data, field));
}

static const char *col(const json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : "";
}

/* M1: a remittance order is registered. Placed on the shop: that order is closed and noted.
 * Not placed: a duplicate the buyer placed on the shop anyway is closed (M5). */
static int ordered(of_db *db, of_item *it, of_error *err)
{
    json_t *row = NULL;
    const char *remit = opt(it, "remit_id"), *buyer = opt(it, "buyer_id"),
               *staff = opt(it, "staff");
    if (rstore_lock_buyer(db, buyer, err) || rstore_get(db, remit, &row, err))
        return -1;
    if (row) {
        json_decref(row);
        of_item_reject(it, "remittance \"%.64s\" is already registered (M1)", remit);
        return 0;
    }
    int placed = json_is_true(json_object_get(it->ev.data, "placed_on_shop"));
    const char *shop_order = opt(it, "shop_order_id");
    if (placed) {
        if (!shop_order) {
            of_item_reject(it, "data.shop_order_id: required when placed_on_shop is true (M1)");
            return 0;
        }
        json_t *o = NULL;
        if (rstore_order(db, shop_order, &o, err))
            return -1;
        if (!o) {
            of_item_reject(it, "data.shop_order_id: \"%.64s\" is not a known shop order",
                           shop_order);
            return 0;
        }
        int buyer_ok = strcmp(col(o, "buyer_id"), buyer) == 0;
        int unpaid = strcmp(col(o, "state"), "unpaid") == 0;
        json_decref(o);
        if (buyer_ok && !unpaid) {
            of_item_reject(it,
                           "data.shop_order_id: order \"%.64s\" is already paid: a bank "
                           "remittance replaces an unpaid shop order (M1)",
                           shop_order);
            return 0;
        }
        if (!buyer_ok) {
            of_item_reject(it, "data.shop_order_id: order \"%.64s\" belongs to another buyer",
                           shop_order);
            return 0;
        }
        if (rstore_insert(db, it, err) ||
            rstore_close_order(db, it, shop_order, "bank_remittance", "M1", staff,
                               json_pack("{s:s}", "staff", staff), err))
            return -1;
        return 0;
    }
    if (rstore_insert(db, it, err))
        return -1;
    json_t *dup = NULL;
    if (rstore_duplicate_order(db, buyer, json_object_get(it->ev.data, "items"), &dup, err))
        return -1;
    if (!dup)
        return 0;
    char oid[80];
    snprintf(oid, sizeof oid, "%s", col(dup, "order_id"));
    json_decref(dup);
    json_t *set = json_pack("{s:s}", "duplicate_order_id", oid);
    if (rstore_close_order(db, it, oid, "remittance_duplicate", "M5", staff,
                           json_pack("{s:s,s:s}", "remit_id", remit, "staff", staff), err) ||
        rstore_update(db, remit, set, err))
        return -1;
    return 0;
}

/* The remittance the event names, locked; NULL after rejecting (or on err, *failed). */
static json_t *known(of_db *db, of_item *it, int *failed, of_error *err)
{
    json_t *row = NULL;
    *failed = rstore_get(db, opt(it, "remit_id"), &row, err);
    if (!*failed && !row)
        of_item_reject(it,
                       "data.remit_id: unknown remittance \"%.64s\": remittance.ordered "
                       "must come first",
                       opt(it, "remit_id"));
    return row;
}

/* M2: the buyer says the money was sent. */
static int notified(of_db *db, of_item *it, of_error *err)
{
    int failed;
    json_t *row = known(db, it, &failed, err);
    if (!row)
        return failed ? -1 : 0;
    const char *state = col(row, "state");
    if (strcmp(col(row, "buyer_id"), opt(it, "buyer_id")) != 0) {
        of_item_reject(it, "data.buyer_id: \"%.64s\" is not the buyer of remittance \"%.64s\"",
                       opt(it, "buyer_id"), opt(it, "remit_id"));
        json_decref(row);
        return 0;
    }
    if (strcmp(state, "ordered") != 0 && strcmp(state, "notified") != 0) {
        of_item_reject(it, "remittance \"%.64s\" is already %s: a notice comes before that",
                       opt(it, "remit_id"), state);
        json_decref(row);
        return 0;
    }
    json_decref(row);
    /* a new notice restarts the M3 clock */
    json_t *set = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n}", "state", "notified", "notified_at",
                            it->ev.time, "remitted_on", opt(it, "remitted_on"), "method",
                            opt(it, "method"), "bank", opt(it, "bank"), "amount", opt(it, "amount"),
                            "notified_by", opt(it, "staff"), "m3_breached_at");
    return rstore_update(db, opt(it, "remit_id"), set, err);
}

/* Rejects unless name has the supervisor role; -1 on a DB error. */
static int need_supervisor(of_db *db, of_item *it, const char *name, const char *rule, int *ok,
                           of_error *err)
{
    char role[32];
    if (rstore_role(db, name, role, sizeof role, err))
        return -1;
    *ok = strcmp(role, "supervisor") == 0;
    if (!*ok)
        of_item_reject(it,
                       "data.supervisor: \"%.64s\" is %s, not a supervisor (%s needs the "
                       "supervisor role; orderflow-admin staff NAME supervisor adds one)",
                       name, *role ? role : "not on the staff roster", rule);
    return 0;
}

/* M4: a supervisor checked the money arrived: the buyer is told, the order can ship. */
static int verified(of_db *db, of_item *it, of_error *err)
{
    int ok, failed;
    if (need_supervisor(db, it, opt(it, "supervisor"), "M4", &ok, err))
        return -1;
    if (!ok)
        return 0;
    json_t *row = known(db, it, &failed, err);
    if (!row)
        return failed ? -1 : 0;
    const char *state = col(row, "state");
    int64_t want = 0, got = 0;
    int rc = 0;
    if (strcmp(state, "notified") != 0) {
        of_item_reject(it,
                       strcmp(state, "ordered") == 0
                           ? "remittance \"%.64s\" has no notice from the buyer yet (M2 "
                             "comes before M4)"
                           : "remittance \"%.64s\" is already verified",
                       opt(it, "remit_id"));
    } else if (of_money_parse(col(row, "amount"), &want) == 0 &&
               of_money_parse(opt(it, "amount"), &got) == 0 && want != got) {
        of_item_reject(it, "data.amount: %s differs from the %s in the buyer's notice",
                       opt(it, "amount"), col(row, "amount"));
    } else {
        json_t *set =
            json_pack("{s:s,s:s,s:s,s:s}", "state", "verified", "verified_at", it->ev.time,
                      "verified_by", opt(it, "supervisor"), "buyer_told_at", it->ev.time);
        rc = rstore_update(db, opt(it, "remit_id"), set, err);
    }
    json_decref(row);
    return rc;
}

/* M6: the warehouse shipped it. */
static int shipped(of_db *db, of_item *it, of_error *err)
{
    int failed;
    json_t *row = known(db, it, &failed, err);
    if (!row)
        return failed ? -1 : 0;
    int ready = strcmp(col(row, "state"), "verified") == 0;
    int shipped_already = strcmp(col(row, "state"), "shipped") == 0;
    json_decref(row);
    if (shipped_already) {
        of_item_reject(it, "remittance \"%.64s\" has already shipped (M6)", opt(it, "remit_id"));
        return 0;
    }
    if (!ready) {
        of_item_reject(it,
                       "remittance \"%.64s\" is not verified: it ships once a supervisor "
                       "verified the money (M4)",
                       opt(it, "remit_id"));
        return 0;
    }
    json_t *set = json_pack("{s:s,s:s,s:s,s:s}", "state", "shipped", "shipped_at", it->ev.time,
                            "waybill_no", opt(it, "waybill_no"), "shipped_by", opt(it, "staff"));
    return rstore_update(db, opt(it, "remit_id"), set, err);
}

/* M8: a supervisor reviewed a day's record. */
static int reviewed(of_db *db, of_item *it, of_error *err)
{
    int ok;
    if (need_supervisor(db, it, opt(it, "supervisor"), "M8", &ok, err))
        return -1;
    if (!ok)
        return 0;
    char by[128] = "";
    if (rstore_review(db, opt(it, "day"), opt(it, "supervisor"), it->ev.time, by, sizeof by, err))
        return -1;
    if (*by)
        of_item_reject(it, "data.day: %s was already reviewed by %s (M8)", opt(it, "day"), by);
    return 0;
}

typedef struct rule {
    const char *type;
    int (*apply)(of_db *db, of_item *it, of_error *err);
} rule;

static const rule rules[] = {
    {"remittance.ordered", ordered},   {"remittance.notified", notified},
    {"remittance.verified", verified}, {"remittance.shipped", shipped},
    {"remittance.reviewed", reviewed},
};

static int run_rule(void *r, of_db *db, of_item *it, of_error *err)
{
    return ((const rule *)r)->apply(db, it, err);
}

int remittance_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err)
{
    (void)cfg;
    for (size_t i = 0; i < batch->n; i++) {
        of_item *it = &batch->items[i];
        if (it->state != OF_ITEM_PENDING)
            continue;
        const rule *r = NULL;
        for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
            if (strcmp(rules[k].type, it->ev.type) == 0)
                r = &rules[k];
        if (!r) {
            of_item_reject(it, "type: %s events are not applied by remittance-worker", it->ev.type);
            continue;
        }
        if (of_item_under_savepoint(db, it, run_rule, (void *)r, err))
            return -1;
    }
    return 0;
}
