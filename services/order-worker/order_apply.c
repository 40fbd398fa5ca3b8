/* order_apply.c — the dispatch table of order-worker, the batch apply function, the journal
 * of an event's changes (undone when it is rejected) and the effects handlers use (see
 * order_apply.h). Events run in the batch's order, which is each partition's order, so the
 * events of one order apply in the order they were published (G3). */
#include "order_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "notes.h"
#include "shop_time.h"

static const order_rule rules[] = {
    {"order.created", lifecycle_created},
    {"order.paid", lifecycle_paid},
    {"order.printed", lifecycle_printed},
    {"order.copied", annotate_copied},
    {"order.shipped", lifecycle_shipped},
    {"order.closed", lifecycle_closed},
    {"order.price_changed", annotate_price_changed},
    {"order.address_changed", annotate_address_changed},
    {"order.waybill_fixed", annotate_waybill_fixed},
    {"order.buyer_cancelled", cancel_buyer_cancelled},
    {"order.waybill_cancelled", cancel_waybill_cancelled},
    {"order.exchanged", cancel_exchanged},
    {"order.out_of_stock", stock_out_of_stock},
    {"refund.claimable", refund_claimable},
    {"refund.due", refund_due},
    {"refund.registered", refund_registered},
    {"balance.registered", balance_registered},
    {"balance.used", balance_used},
};

static const order_rule *rule_for(const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

static void journal_commit(order_ctx *ctx);

void order_ctx_init(order_ctx *ctx, const of_config *cfg)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    ctx->orders.rows = json_object();
    ctx->orders.dirty = json_object();
    ctx->orders.loaded = json_object();
    ctx->notes = json_object();
    ctx->tasks = json_object();
    ctx->balances = json_object();
    ctx->ledger = json_array();
    ctx->refunds = json_array();
    ctx->remits = json_object();
    ctx->remit_dups = json_array();
}

void order_ctx_free(order_ctx *ctx)
{
    order_set_free(&ctx->orders);
    json_decref(ctx->notes);
    json_decref(ctx->tasks);
    json_decref(ctx->balances);
    json_decref(ctx->ledger);
    json_decref(ctx->refunds);
    json_decref(ctx->remits);
    json_decref(ctx->remit_dups);
    journal_commit(ctx);
    free(ctx->journal);
    memset(ctx, 0, sizeof *ctx);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text PostgreSQL's items_key() (0003, 0007) makes of one item: sku, "×", and qty as
 * jsonb prints it. The worker stores items as jansson's JSON text, so a whole number is its
 * digits and a real (2.0, accepted as an integer by the schema) is what jansson wrote. */
static char *item_key(const json_t *item)
{
    const json_t *sku = json_object_get(item, "sku"), *qty = json_object_get(item, "qty");
    if (!json_is_string(sku) || !json_is_number(qty))
        return NULL; /* ->> gives NULL, and string_agg skips it */
    char num[32], *dumped = NULL;
    const char *q = num;
    if (json_is_integer(qty))
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(qty));
    else if (!(q = dumped = json_dumps(qty, JSON_ENCODE_ANY)))
        return NULL;
    size_t n = json_string_length(sku), nq = strlen(q);
    char *out = malloc(n + 2 + nq + 1);
    if (out) {
        memcpy(out, json_string_value(sku), n);
        memcpy(out + n, "\xc3\x97", 2);
        memcpy(out + n + 2, q, nq + 1);
    }
    free(dumped);
    return out;
}

char *items_key(const json_t *items)
{
    size_t n = json_array_size(items), len = 1, have = 0;
    char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *k = item_key(json_array_get(items, i));
        if (k) {
            keys[have++] = k;
            len += strlen(k) + 1;
        }
    }
    /* byte order: the SQL function sorts with COLLATE "C" (0007) */
    qsort(keys, have, sizeof *keys, cmp_str);
    char *out = have ? malloc(len) : NULL; /* no items: NULL, as string_agg of no rows */
    if (out) {
        char *o = out;
        for (size_t i = 0; i < have; i++) {
            if (i)
                *o++ = ';';
            size_t kl = strlen(keys[i]);
            memcpy(o, keys[i], kl);
            o += kl;
        }
        *o = '\0';
    }
    for (size_t i = 0; i < have; i++)
        free(keys[i]);
    free(keys);
    return out;
}

/* ---- the journal ------------------------------------------------------------------------ */

/* Records obj[key]'s value (or, key NULL, the array's length) before a change. When the
 * journal cannot grow, the event is applied without a way back: only out of memory, and
 * its rejection (if it comes) then keeps the change. */
static void journal(order_ctx *ctx, json_t *obj, const char *key)
{
    if (ctx->njournal == ctx->journal_cap) {
        size_t cap = ctx->journal_cap ? ctx->journal_cap * 2 : 32;
        order_change *j = realloc(ctx->journal, cap * sizeof *j);
        if (!j)
            return;
        ctx->journal = j;
        ctx->journal_cap = cap;
    }
    order_change *c = &ctx->journal[ctx->njournal++];
    c->obj = json_incref(obj);
    c->key = key;
    c->old = key ? json_incref(json_object_get(obj, key)) : NULL;
    c->len = key ? 0 : json_array_size(obj);
}

/* Undoes the journal's changes, latest first, and empties it. */
static void journal_rollback(order_ctx *ctx)
{
    while (ctx->njournal) {
        order_change *c = &ctx->journal[--ctx->njournal];
        if (!c->key)
            while (json_array_size(c->obj) > c->len)
                json_array_remove(c->obj, json_array_size(c->obj) - 1);
        else if (c->old)
            json_object_set(c->obj, c->key, c->old);
        else
            json_object_del(c->obj, c->key);
        json_decref(c->old);
        json_decref(c->obj);
    }
}

/* Keeps the changes: empties the journal. */
static void journal_commit(order_ctx *ctx)
{
    while (ctx->njournal) {
        order_change *c = &ctx->journal[--ctx->njournal];
        json_decref(c->old);
        json_decref(c->obj);
    }
}

void order_set_value(order_ctx *ctx, json_t *o, const char *key, json_t *value)
{
    journal(ctx, o, key);
    json_object_set_new(o, key, value);
}

void order_append(order_ctx *ctx, json_t *a, json_t *v)
{
    journal(ctx, a, NULL);
    json_array_append_new(a, v);
}

void order_put(order_ctx *ctx, const char *order_id, json_t *row)
{
    order_set_value(ctx, ctx->orders.rows, order_id, row);
    order_touch(ctx, order_id);
}

void order_touch(order_ctx *ctx, const char *order_id)
{
    if (!json_object_get(ctx->orders.dirty, order_id))
        order_set_value(ctx, ctx->orders.dirty, order_id, json_true());
}

/* Appends v (stolen) to the list map[key], made when absent; journaled. */
static void list_append(order_ctx *ctx, json_t *map, const char *key, json_t *v)
{
    json_t *list = json_object_get(map, key);
    if (!list) {
        list = json_array();
        order_set_value(ctx, map, key, list);
    }
    order_append(ctx, list, v);
}

void order_apply_one(order_ctx *ctx, of_item *it)
{
    const order_rule *rule = rule_for(it->ev.type);
    if (!rule) {
        of_item_reject(it, "type: %s events are not applied by order-worker", it->ev.type);
        return;
    }
    order_apply_handler(ctx, it, rule->apply);
}

void order_apply_handler(order_ctx *ctx, of_item *it, order_handler apply)
{
    apply(ctx, it);
    json_t *o = order_set_get(&ctx->orders, it->ev.subject);
    if (it->state == OF_ITEM_REJECTED) {
        journal_rollback(ctx);
        return;
    }
    journal_commit(ctx);
    if (o) { /* version counts the events applied to the order */
        json_object_set_new(o, "version",
                            json_integer(json_integer_value(json_object_get(o, "version")) + 1));
        order_set_touch(&ctx->orders, it->ev.subject);
    }
}

int order_apply_batch(void *cfg, of_db *db, of_batch *batch, of_error *err)
{
    order_ctx ctx;
    order_ctx_init(&ctx, cfg);
    int rc = order_store_load(&ctx, db, batch, err);
    /* PostgreSQL records the events while the rules run */
    if (rc == 0)
        rc = of_batch_record_start(db, batch, err);
    for (size_t i = 0; rc == 0 && i < batch->n; i++)
        if (batch->items[i].state == OF_ITEM_PENDING)
            order_apply_one(&ctx, &batch->items[i]);
    if (rc == 0)
        rc = order_store_save(&ctx, db, err);
    order_ctx_free(&ctx);
    return rc;
}

/* ---- effects ----------------------------------------------------------------------------- */

const char *order_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void set_texts(json_t *obj, const char *const *keys, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new_nocheck(obj, keys[i],
                                    values[i] ? json_string_nocheck(values[i]) : json_null());
}

void order_set_str(order_ctx *ctx, json_t *o, const char *key, const char *value)
{
    order_set_value(ctx, o, key, value ? json_string(value) : json_null());
}

int order_is_closed(const json_t *o)
{
    return json_is_true(json_object_get(o, "closed"));
}

json_t *order_for(order_ctx *ctx, of_item *it)
{
    json_t *o = order_set_get(&ctx->orders, it->ev.subject);
    if (!o)
        of_item_reject(it, "%s for unknown order \"%.64s\": order.created must come first",
                       it->ev.type, it->ev.subject);
    return o;
}

void order_close(order_ctx *ctx, of_item *it, json_t *o, const char *order_id, const char *reason)
{
    if (order_is_closed(o))
        return;
    order_set_value(ctx, o, "closed", json_true());
    order_set_str(ctx, o, "closed_at", it->ev.time);
    order_set_str(ctx, o, "close_reason", reason);
    order_touch(ctx, order_id);
}

int note_add(order_ctx *ctx, of_item *it, const char *order_id, const char *key, const char *author,
             json_t *params)
{
    char date[11];
    of_shop_date(it->ev.time_us, date);
    if (notes_check(it, key, params)) {
        json_decref(params);
        return -1;
    }
    json_object_set_new(params, "date", json_string(date));
    json_t *o = order_set_get(&ctx->orders, order_id);
    json_int_t seq = json_integer_value(json_object_get(o, "note_seq")) + 1;
    order_set_value(ctx, o, "note_seq", json_integer(seq));
    char *text[3] = {NULL, NULL, NULL};
    of_error err;
    for (int l = 0; l < 3; l++) {
        text[l] = notes_render(key, l, params, &err);
        if (!text[l]) {
            of_item_reject(it, "cannot write the note: %s", err.msg);
            for (int k = 0; k < l; k++)
                free(text[k]);
            json_decref(params);
            return -1;
        }
    }
    /* not json_pack: a fifth of the annotation mix's apply time went to packing notes */
    json_t *row = json_object();
    static const char *const keys[] = {"order_id",     "code",     "template",      "author",
                                       "noted_at",     "rendered", "rendered_hans", "rendered_en",
                                       "event_source", "event_id"};
    const char *values[] = {order_id, notes_rule(key), key,     author,        it->ev.time,
                            text[0],  text[1],         text[2], it->ev.source, it->ev.id};
    set_texts(row, keys, values, sizeof keys / sizeof *keys);
    json_object_set_new_nocheck(row, "seq", json_integer(seq));
    json_object_set_new_nocheck(row, "params", params);
    for (int l = 0; l < 3; l++)
        free(text[l]);
    list_append(ctx, ctx->notes, order_id, row);
    return 0;
}

json_t *task_open(order_ctx *ctx, of_item *it, const char *order_id, const char *kind,
                  const char *assignee, json_t *detail)
{
    json_t *t = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s}", "order_id", order_id, "kind", kind,
                          "assignee", assignee, "status", "open", "created_at", it->ev.time,
                          "detail", detail ? detail : json_object(), "created_by_source",
                          it->ev.source, "created_by_id", it->ev.id);
    list_append(ctx, ctx->tasks, order_id, t);
    return t;
}

json_t *task_find(order_ctx *ctx, const char *order_id, const char *kind)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(ctx->tasks, order_id), i, t)
    {
        if (strcmp(order_str(t, "status"), "open") == 0 && strcmp(order_str(t, "kind"), kind) == 0)
            return t;
    }
    return NULL;
}

void task_close(order_ctx *ctx, of_item *it, json_t *task, const char *by)
{
    order_set_str(ctx, task, "status", "done");
    order_set_str(ctx, task, "closed_at", it->ev.time);
    order_set_str(ctx, task, "closed_by", by);
}

int ledger_add(order_ctx *ctx, of_item *it, const char *buyer, int64_t delta, const char *order_id,
               const char *kind, const char *staff, const char *reason, int64_t *after)
{
    int64_t balance = json_integer_value(json_object_get(ctx->balances, buyer));
    if (balance + delta < 0) {
        char have[32], want[32];
        of_item_reject(it,
                       "buyer \"%.64s\" has a balance of %s: %s cannot be deducted (a "
                       "balance never goes negative)",
                       buyer, of_money_format(balance, have, sizeof have),
                       of_money_format(-delta, want, sizeof want));
        return -1;
    }
    *after = balance + delta;
    order_set_value(ctx, ctx->balances, buyer, json_integer(*after));
    char d[32], a[32];
    order_append(ctx, ctx->ledger,
                 json_pack("{s:s,s:s,s:s,s:s?,s:s,s:s,s:s,s:s?}", "buyer_id", buyer, "delta",
                           of_money_format(delta, d, sizeof d), "balance_after",
                           of_money_format(*after, a, sizeof a), "order_id", order_id, "at",
                           it->ev.time, "kind", kind, "staff", staff, "reason", reason));
    return 0;
}
