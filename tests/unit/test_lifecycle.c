/* test_lifecycle.c — the order lifecycle of order-worker (services/order-worker/lifecycle.c)
 * without a database: the batch's order_set lives in memory, events are real decoded
 * events (of_event_decode), and the handlers are called directly — then once more through
 * order_apply_one, which adds the version count and undoes a rejected event's changes. */
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "notes.h"
#include "of_test.h"
#include "order_apply.h"
#include "shop_time.h"

static of_validator *validator;
static of_config cfg;

/* A decoded shop.orders event (check it->state: PENDING unless decoding failed). */
static void make(of_item *it, const char *type, const char *time, const char *order_id,
                 json_t *data /* stolen; order_id is added */)
{
    static int seq;
    char id[32];
    snprintf(id, sizeof id, "ev-%d", ++seq);
    json_object_set_new(data, "order_id", json_string(order_id));
    json_t *ev =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "specversion", "1.0", "id", id, "source",
                  "shop/demo-shop", "type", type, "time", time, "subject", order_id, "data", data);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    memset(it, 0, sizeof *it);
    of_message_in m = {.topic = type[0] == 'r' ? NULL : OF_TOPIC_ORDERS,
                       .key = order_id,
                       .key_len = strlen(order_id),
                       .value = text,
                       .len = strlen(text),
                       .max_bytes = 262144};
    of_error err = {{0}};
    if (of_event_decode(validator, &m, &it->ev, &err) != 0) {
        fprintf(stderr, "test event %s does not decode: %s\n", type, err.msg);
        it->state = OF_ITEM_INVALID;
    } else {
        it->state = OF_ITEM_PENDING;
    }
    CHECK(it->state == OF_ITEM_PENDING);
    free(text);
}

static void created(of_item *it, const char *order_id, const char *time)
{
    make(it, "order.created", time, order_id,
         json_pack("{s:s,s:s,s:[{s:s,s:s,s:i,s:s}],s:s,s:s,s:b}", "shop_id", "demo-shop",
                   "buyer_id", "tb_buyer01", "items", "sku", "DRESS-RED", "size", "M", "qty", 1,
                   "unit_price", "89.00", "total", "99.00", "postage", "10.00", "auction", 0));
}

static void paid(of_item *it, const char *order_id, const char *time)
{
    make(it, "order.paid", time, order_id,
         json_pack("{s:s,s:s}", "amount", "99.00", "method", "alipay"));
}

static void printed(of_item *it, const char *order_id, const char *time, const char *waybill)
{
    make(it, "order.printed", time, order_id,
         json_pack("{s:s,s:s}", "waybill_no", waybill, "staff", "小美"));
}

static void shipped(of_item *it, const char *order_id, const char *time)
{
    make(it, "order.shipped", time, order_id,
         json_pack("{s:s,s:s}", "carrier", "圓通速遞", "waybill_no", "YT200"));
}

static void closed(of_item *it, const char *order_id, const char *time)
{
    make(it, "order.closed", time, order_id,
         json_pack("{s:s}", "reason", "買家未付款,交易超時關閉"));
}

static const char *field(order_ctx *ctx, const char *order_id, const char *key)
{
    return json_string_value(json_object_get(order_set_get(&ctx->orders, order_id), key));
}

static json_int_t version(order_ctx *ctx, const char *order_id)
{
    return json_integer_value(json_object_get(order_set_get(&ctx->orders, order_id), "version"));
}

static int dirty(order_ctx *ctx, const char *order_id)
{
    return json_is_true(json_object_get(ctx->orders.dirty, order_id));
}

static size_t notes_of(order_ctx *ctx, const char *order_id)
{
    return json_array_size(json_object_get(ctx->notes, order_id));
}

/* Runs handler on a fresh item and checks it was applied (left PENDING). */
#define APPLIED(handler, it)                                                                       \
    do {                                                                                           \
        handler(&ctx, &(it));                                                                      \
        CHECK((it).state == OF_ITEM_PENDING);                                                      \
        if ((it).state != OF_ITEM_PENDING)                                                         \
            fprintf(stderr, "  rejected: %s\n", (it).reason);                                      \
    } while (0)

/* Runs handler and checks it rejected the item with reason. */
#define REJECTED(handler, it, want)                                                                \
    do {                                                                                           \
        handler(&ctx, &(it));                                                                      \
        CHECK((it).state == OF_ITEM_REJECTED);                                                     \
        CHECK_STR((it).reason, want);                                                              \
    } while (0)

static void test_created(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    created(&it, "TB1", "2024-05-06T01:20:00Z");
    APPLIED(lifecycle_created, it);
    json_t *o = order_set_get(&ctx.orders, "TB1");
    CHECK(json_is_object(o));
    CHECK_STR(field(&ctx, "TB1", "order_id"), "TB1");
    CHECK_STR(field(&ctx, "TB1", "shop_id"), "demo-shop");
    CHECK_STR(field(&ctx, "TB1", "buyer_id"), "tb_buyer01");
    CHECK_STR(field(&ctx, "TB1", "state"), "unpaid");
    CHECK_STR(field(&ctx, "TB1", "total"), "99.00");
    CHECK_STR(field(&ctx, "TB1", "postage"), "10.00");
    CHECK_STR(field(&ctx, "TB1", "created_at"), "2024-05-06T01:20:00Z");
    CHECK_STR(field(&ctx, "TB1", "refunded"), "0.00");
    CHECK(json_is_false(json_object_get(o, "auction")));
    CHECK(json_is_false(json_object_get(o, "closed")));
    CHECK(json_array_size(json_object_get(o, "items")) == 1);
    CHECK(json_array_size(json_object_get(o, "struck_skus")) == 0);
    CHECK(json_integer_value(json_object_get(o, "note_seq")) == 0);
    CHECK(version(&ctx, "TB1") == 0); /* order_apply_one counts it */
    CHECK(dirty(&ctx, "TB1"));
    /* the row is a copy: the event can go */
    of_event_clear(&it.ev);
    CHECK_STR(field(&ctx, "TB1", "total"), "99.00");

    created(&it, "TB1", "2024-05-06T01:21:00Z");
    REJECTED(lifecycle_created, it,
             "order \"TB1\" already exists: order.created is sent once per order");
    CHECK_STR(field(&ctx, "TB1", "created_at"), "2024-05-06T01:20:00Z");
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

/* M5: a shop order duplicating an off-shop remittance order of the same buyer is closed. */
static void test_created_remitted(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    /* another buyer's remittance, and one of this buyer's with other goods */
    json_object_set_new(ctx.remits, "someone_else",
                        json_pack("[{s:s,s:s,s:[{s:s,s:i}]}]", "remit_id", "RM9", "staff", "阿明",
                                  "items", "sku", "DRESS-RED", "qty", 1));
    json_object_set_new(ctx.remits, "tb_buyer01",
                        json_pack("[{s:s,s:s,s:[{s:s,s:i}]}]", "remit_id", "RM1", "staff", "阿明",
                                  "items", "sku", "DRESS-RED", "qty", 2));
    created(&it, "TB1", "2024-05-06T01:20:00Z");
    APPLIED(lifecycle_created, it);
    CHECK(json_is_false(json_object_get(order_set_get(&ctx.orders, "TB1"), "closed")));
    CHECK(json_array_size(ctx.remit_dups) == 0);
    CHECK(notes_of(&ctx, "TB1") == 0);
    of_event_clear(&it.ev);

    /* the same goods (size aside): closed as a duplicate, noted for the remittance's staff */
    json_array_append_new(json_object_get(ctx.remits, "tb_buyer01"),
                          json_pack("{s:s,s:s,s:[{s:s,s:i}]}", "remit_id", "RM2", "staff", "小美",
                                    "items", "sku", "DRESS-RED", "qty", 1));
    created(&it, "TB2", "2024-05-06T17:20:00Z");
    APPLIED(lifecycle_created, it);
    json_t *o = order_set_get(&ctx.orders, "TB2");
    CHECK(json_is_true(json_object_get(o, "closed")));
    CHECK_STR(field(&ctx, "TB2", "close_reason"), "remittance_duplicate");
    CHECK_STR(field(&ctx, "TB2", "closed_at"), "2024-05-06T17:20:00Z");
    CHECK(dirty(&ctx, "TB2"));
    CHECK(notes_of(&ctx, "TB2") == 1);
    json_t *note = json_array_get(json_object_get(ctx.notes, "TB2"), 0);
    CHECK_STR(json_string_value(json_object_get(note, "code")), "M5");
    CHECK_STR(json_string_value(json_object_get(note, "author")), "小美");
    CHECK_STR(json_string_value(json_object_get(note, "rendered")),
              "重複拍下,已按匯款訂單RM2處理,交易關閉+小美+2024-05-07");
    CHECK(json_array_size(ctx.remit_dups) == 1);
    json_t *dup = json_array_get(ctx.remit_dups, 0);
    CHECK_STR(json_string_value(json_object_get(dup, "remit_id")), "RM2");
    CHECK_STR(json_string_value(json_object_get(dup, "order_id")), "TB2");
    /* one remittance closes one duplicate: RM1 is left */
    CHECK(json_array_size(json_object_get(ctx.remits, "tb_buyer01")) == 1);
    of_event_clear(&it.ev);
    created(&it, "TB3", "2024-05-06T17:30:00Z");
    APPLIED(lifecycle_created, it);
    CHECK(json_is_false(json_object_get(order_set_get(&ctx.orders, "TB3"), "closed")));
    CHECK(json_array_size(ctx.remit_dups) == 1);
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

static void test_paid(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    paid(&it, "TB404", "2024-05-06T01:30:00Z");
    REJECTED(lifecycle_paid, it,
             "order.paid for unknown order \"TB404\": order.created must come first");
    CHECK(order_set_get(&ctx.orders, "TB404") == NULL);
    CHECK(!dirty(&ctx, "TB404"));
    of_event_clear(&it.ev);

    /* orders as loaded from the database: not dirty until changed */
    json_object_set_new(ctx.orders.rows, "TB1",
                        json_pack("{s:s,s:s,s:b,s:i}", "order_id", "TB1", "state", "unpaid",
                                  "closed", 0, "version", 3));
    json_object_set_new(ctx.orders.rows, "TB2",
                        json_pack("{s:s,s:s,s:b,s:i}", "order_id", "TB2", "state", "unpaid",
                                  "closed", 1, "version", 5));

    paid(&it, "TB2", "2024-05-06T01:30:00Z");
    REJECTED(lifecycle_paid, it, "order \"TB2\" is closed: it cannot be paid");
    CHECK(!dirty(&ctx, "TB2"));
    CHECK_STR(field(&ctx, "TB2", "state"), "unpaid");
    of_event_clear(&it.ev);

    /* 09:30 in Shanghai, before the 12:00 cut-off: ships the same day */
    paid(&it, "TB1", "2024-05-06T01:30:00Z");
    APPLIED(lifecycle_paid, it);
    CHECK_STR(field(&ctx, "TB1", "state"), "paid");
    CHECK_STR(field(&ctx, "TB1", "paid_at"), "2024-05-06T01:30:00Z");
    CHECK_STR(field(&ctx, "TB1", "paid_amount"), "99.00");
    CHECK_STR(field(&ctx, "TB1", "pay_method"), "alipay");
    CHECK_STR(field(&ctx, "TB1", "ship_by"), "2024-05-06");
    CHECK_STR(field(&ctx, "TB1", "refund_from"), "2024-05-07T01:30:00Z");
    CHECK(dirty(&ctx, "TB1"));
    CHECK(version(&ctx, "TB1") == 3);
    of_event_clear(&it.ev);

    paid(&it, "TB1", "2024-05-06T01:31:00Z");
    REJECTED(lifecycle_paid, it, "order \"TB1\" is already paid (state paid)");
    CHECK_STR(field(&ctx, "TB1", "paid_at"), "2024-05-06T01:30:00Z");
    of_event_clear(&it.ev);
    json_object_set_new(order_set_get(&ctx.orders, "TB1"), "state", json_string("shipped"));
    paid(&it, "TB1", "2024-05-06T01:31:00Z");
    REJECTED(lifecycle_paid, it, "order \"TB1\" is already paid (state shipped)");
    of_event_clear(&it.ev);

    /* T1 at and after the cut-off (shop time), across a month end; T2 from the config */
    static const struct {
        const char *time, *ship_by, *refund_from;
    } t1[] = {
        {"2024-05-06T03:59:00Z", "2024-05-06", "2024-05-07T03:59:00Z"},      /* 11:59 */
        {"2024-05-06T04:00:00Z", "2024-05-07", "2024-05-07T04:00:00Z"},      /* 12:00 */
        {"2024-02-29T15:59:59+00:00", "2024-03-01", "2024-03-01T15:59:59Z"}, /* 23:59 */
        {"2024-02-29T16:00:00Z", "2024-03-01", "2024-03-01T16:00:00Z"},      /* 00:00 next day */
        {"2024-12-31T13:00:00+08:00", "2025-01-01", "2025-01-01T05:00:00Z"},
    };
    for (size_t i = 0; i < sizeof t1 / sizeof t1[0]; i++) {
        json_object_set_new(
            ctx.orders.rows, "TB3",
            json_pack("{s:s,s:s,s:b}", "order_id", "TB3", "state", "unpaid", "closed", 0));
        paid(&it, "TB3", t1[i].time);
        APPLIED(lifecycle_paid, it);
        CHECK_STR(field(&ctx, "TB3", "ship_by"), t1[i].ship_by);
        CHECK_STR(field(&ctx, "TB3", "refund_from"), t1[i].refund_from);
        of_event_clear(&it.ev);
    }
    order_ctx_free(&ctx);

    /* another configuration: cut-off 16:30, refunds 48 h after payment */
    of_config other = cfg;
    memcpy(other.ship_cutoff, "16:30", 6);
    other.refund_after_h = 48;
    order_ctx_init(&ctx, &other);
    static const char *const times[] = {"2024-05-06T08:29:00Z", "2024-05-06T08:30:00Z"};
    static const char *const days[] = {"2024-05-06", "2024-05-07"};
    for (int i = 0; i < 2; i++) {
        json_object_set_new(
            ctx.orders.rows, "TB4",
            json_pack("{s:s,s:s,s:b}", "order_id", "TB4", "state", "unpaid", "closed", 0));
        paid(&it, "TB4", times[i]);
        APPLIED(lifecycle_paid, it);
        CHECK_STR(field(&ctx, "TB4", "ship_by"), days[i]);
        of_event_clear(&it.ev);
    }
    CHECK_STR(field(&ctx, "TB4", "refund_from"), "2024-05-08T08:30:00Z");
    order_ctx_free(&ctx);

    /* without a configuration: 12:00 and 24 h */
    order_ctx_init(&ctx, NULL);
    json_object_set_new(
        ctx.orders.rows, "TB5",
        json_pack("{s:s,s:s,s:b}", "order_id", "TB5", "state", "unpaid", "closed", 0));
    paid(&it, "TB5", "2024-05-06T04:00:00Z");
    APPLIED(lifecycle_paid, it);
    CHECK_STR(field(&ctx, "TB5", "ship_by"), "2024-05-07");
    CHECK_STR(field(&ctx, "TB5", "refund_from"), "2024-05-07T04:00:00Z");
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

/* An order in a given state, as loaded (not dirty). */
static void seed(order_ctx *ctx, const char *order_id, const char *state, int is_closed)
{
    json_object_set_new(ctx->orders.rows, order_id,
                        json_pack("{s:s,s:s,s:b,s:i,s:i}", "order_id", order_id, "state", state,
                                  "closed", is_closed, "version", 1, "note_seq", 0));
}

static void test_printed(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    printed(&it, "TB404", "2024-05-06T03:05:00Z", "YT1");
    REJECTED(lifecycle_printed, it,
             "order.printed for unknown order \"TB404\": order.created must come first");
    of_event_clear(&it.ev);

    seed(&ctx, "TBu", "unpaid", 0);
    printed(&it, "TBu", "2024-05-06T03:05:00Z", "YT1");
    REJECTED(lifecycle_printed, it,
             "order \"TBu\" is not paid: a waybill is printed only after payment");
    CHECK(!dirty(&ctx, "TBu") && notes_of(&ctx, "TBu") == 0);
    of_event_clear(&it.ev);

    seed(&ctx, "TBs", "shipped", 0);
    printed(&it, "TBs", "2024-05-06T03:05:00Z", "YT1");
    REJECTED(lifecycle_printed, it,
             "order \"TBs\" has shipped: its waybill cannot be printed again");
    CHECK_STR(field(&ctx, "TBs", "state"), "shipped");
    of_event_clear(&it.ev);

    seed(&ctx, "TBc", "paid", 1);
    printed(&it, "TBc", "2024-05-06T03:05:00Z", "YT1");
    REJECTED(lifecycle_printed, it, "order \"TBc\" is closed: its waybill cannot be printed");
    of_event_clear(&it.ev);

    /* paid → printed; 17:00 UTC is the next day in Shanghai, which the A7 note shows */
    seed(&ctx, "TB1", "paid", 0);
    printed(&it, "TB1", "2024-05-06T17:00:00Z", "YT1");
    APPLIED(lifecycle_printed, it);
    CHECK_STR(field(&ctx, "TB1", "state"), "printed");
    CHECK_STR(field(&ctx, "TB1", "printed_at"), "2024-05-06T17:00:00Z");
    CHECK_STR(field(&ctx, "TB1", "waybill_no"), "YT1");
    CHECK(dirty(&ctx, "TB1"));
    CHECK(notes_of(&ctx, "TB1") == 1);
    json_t *note = json_array_get(json_object_get(ctx.notes, "TB1"), 0);
    CHECK_STR(json_string_value(json_object_get(note, "code")), "A7");
    CHECK_STR(json_string_value(json_object_get(note, "rendered")), "2024-05-07");
    CHECK_STR(json_string_value(json_object_get(note, "author")), "小美");
    CHECK_STR(json_string_value(json_object_get(note, "noted_at")), "2024-05-06T17:00:00Z");
    CHECK(json_integer_value(json_object_get(note, "seq")) == 1);
    CHECK_STR(json_string_value(json_object_get(note, "event_id")), it.ev.id);
    of_event_clear(&it.ev);

    /* a reprint keeps the first print time and takes the new waybill */
    printed(&it, "TB1", "2024-05-08T02:00:00Z", "YT2");
    APPLIED(lifecycle_printed, it);
    CHECK_STR(field(&ctx, "TB1", "state"), "printed");
    CHECK_STR(field(&ctx, "TB1", "printed_at"), "2024-05-06T17:00:00Z");
    CHECK_STR(field(&ctx, "TB1", "waybill_no"), "YT2");
    CHECK(notes_of(&ctx, "TB1") == 2);
    CHECK(json_integer_value(json_object_get(order_set_get(&ctx.orders, "TB1"), "note_seq")) == 2);
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

static void test_shipped(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    shipped(&it, "TB404", "2024-05-06T08:40:00Z");
    REJECTED(lifecycle_shipped, it,
             "order.shipped for unknown order \"TB404\": order.created must come first");
    of_event_clear(&it.ev);

    static const char *const early[] = {"unpaid", "paid"};
    for (int i = 0; i < 2; i++) {
        seed(&ctx, "TB1", early[i], 0);
        shipped(&it, "TB1", "2024-05-06T08:40:00Z");
        char want[128];
        snprintf(want, sizeof want,
                 "order \"TB1\" cannot ship in state %s: it must be paid and printed", early[i]);
        REJECTED(lifecycle_shipped, it, want);
        CHECK(!dirty(&ctx, "TB1"));
        of_event_clear(&it.ev);
    }
    seed(&ctx, "TB1", "printed", 1);
    shipped(&it, "TB1", "2024-05-06T08:40:00Z");
    REJECTED(lifecycle_shipped, it, "order \"TB1\" is closed: it cannot ship");
    of_event_clear(&it.ev);

    seed(&ctx, "TB1", "printed", 0);
    shipped(&it, "TB1", "2024-05-06T08:40:00Z");
    APPLIED(lifecycle_shipped, it);
    CHECK_STR(field(&ctx, "TB1", "state"), "shipped");
    CHECK_STR(field(&ctx, "TB1", "shipped_at"), "2024-05-06T08:40:00Z");
    CHECK_STR(field(&ctx, "TB1", "carrier"), "圓通速遞");
    CHECK_STR(field(&ctx, "TB1", "waybill_no"), "YT200");
    CHECK(dirty(&ctx, "TB1"));
    of_event_clear(&it.ev);

    shipped(&it, "TB1", "2024-05-06T08:41:00Z");
    REJECTED(lifecycle_shipped, it,
             "order \"TB1\" cannot ship in state shipped: it must be paid and printed");
    CHECK_STR(field(&ctx, "TB1", "shipped_at"), "2024-05-06T08:40:00Z");
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

static void test_closed(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;
    closed(&it, "TB404", "2024-05-07T02:00:00Z");
    REJECTED(lifecycle_closed, it,
             "order.closed for unknown order \"TB404\": order.created must come first");
    of_event_clear(&it.ev);

    seed(&ctx, "TBc", "unpaid", 1);
    closed(&it, "TBc", "2024-05-07T02:00:00Z");
    REJECTED(lifecycle_closed, it, "order \"TBc\" is already closed");
    CHECK(!dirty(&ctx, "TBc"));
    of_event_clear(&it.ev);

    /* any state can close */
    static const char *const states[] = {"unpaid", "paid", "printed", "shipped"};
    for (int i = 0; i < 4; i++) {
        seed(&ctx, "TB1", states[i], 0);
        json_object_del(ctx.orders.dirty, "TB1");
        closed(&it, "TB1", "2024-05-07T02:00:00Z");
        APPLIED(lifecycle_closed, it);
        json_t *o = order_set_get(&ctx.orders, "TB1");
        CHECK(json_is_true(json_object_get(o, "closed")));
        CHECK_STR(field(&ctx, "TB1", "closed_at"), "2024-05-07T02:00:00Z");
        CHECK_STR(field(&ctx, "TB1", "close_reason"), "買家未付款,交易超時關閉");
        CHECK_STR(field(&ctx, "TB1", "state"), states[i]); /* closing keeps the state */
        CHECK(dirty(&ctx, "TB1"));
        of_event_clear(&it.ev);
    }
    order_ctx_free(&ctx);
}

/* Through order_apply_one: dispatch, versions, and nothing left behind by a rejection. */
static void test_apply_one(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    of_item it;

    created(&it, "TB1", "2024-05-06T01:20:00Z");
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_PENDING);
    CHECK(version(&ctx, "TB1") == 1);
    of_event_clear(&it.ev);
    paid(&it, "TB1", "2024-05-06T01:30:00Z");
    order_apply_one(&ctx, &it);
    CHECK(version(&ctx, "TB1") == 2);
    of_event_clear(&it.ev);
    printed(&it, "TB1", "2024-05-06T03:05:00Z", "YT1");
    order_apply_one(&ctx, &it);
    CHECK(version(&ctx, "TB1") == 3);
    CHECK(notes_of(&ctx, "TB1") == 1);
    of_event_clear(&it.ev);

    /* rejected: no version, no change */
    json_t *before = json_deep_copy(order_set_get(&ctx.orders, "TB1"));
    created(&it, "TB1", "2024-05-06T09:00:00Z");
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_REJECTED);
    CHECK(json_equal(before, order_set_get(&ctx.orders, "TB1")));
    of_event_clear(&it.ev);
    paid(&it, "TB1", "2024-05-06T09:00:00Z");
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_REJECTED);
    CHECK(json_equal(before, order_set_get(&ctx.orders, "TB1")));
    CHECK(notes_of(&ctx, "TB1") == 1);
    of_event_clear(&it.ev);
    json_decref(before);

    shipped(&it, "TB1", "2024-05-06T08:40:00Z");
    order_apply_one(&ctx, &it);
    CHECK(version(&ctx, "TB1") == 4);
    of_event_clear(&it.ev);
    closed(&it, "TB1", "2024-05-07T02:00:00Z");
    order_apply_one(&ctx, &it);
    CHECK(version(&ctx, "TB1") == 5);
    CHECK(json_is_true(json_object_get(order_set_get(&ctx.orders, "TB1"), "closed")));
    of_event_clear(&it.ev);
    closed(&it, "TB1", "2024-05-07T03:00:00Z");
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_REJECTED);
    CHECK(version(&ctx, "TB1") == 5);
    of_event_clear(&it.ev);

    /* a loaded order that a rejected event touched is still not dirty */
    seed(&ctx, "TB2", "paid", 1);
    paid(&it, "TB2", "2024-05-06T01:30:00Z");
    order_apply_one(&ctx, &it);
    CHECK_STR(it.reason, "order \"TB2\" is closed: it cannot be paid");
    CHECK(!dirty(&ctx, "TB2"));
    CHECK(version(&ctx, "TB2") == 1);
    of_event_clear(&it.ev);
    /* an unknown order is not created by the rejection */
    shipped(&it, "TB404", "2024-05-06T08:40:00Z");
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_REJECTED);
    CHECK(order_set_get(&ctx.orders, "TB404") == NULL && !dirty(&ctx, "TB404"));
    of_event_clear(&it.ev);

    /* a type order-worker has no rule for */
    make(&it, "recharge.requested", "2024-05-06T00:50:00Z", "CZ1",
         json_pack("{s:s,s:s,s:s,s:s,s:s}", "shop_id", "demo-shop", "account", "13800138000",
                   "product", "mobile-50", "face_value", "50.00", "amount", "49.50"));
    order_apply_one(&ctx, &it);
    CHECK(it.state == OF_ITEM_REJECTED);
    CHECK_STR(it.reason, "type: recharge.requested events are not applied by order-worker");
    CHECK(order_set_get(&ctx.orders, "CZ1") == NULL);
    of_event_clear(&it.ev);
    order_ctx_free(&ctx);
}

/* A handler that changes every kind of state an event can (a field, a new order, marks, a
 * note, tasks opened on a new and an existing list, a task closed, an array grown, a
 * balance), then rejects the event or not. */
static int journal_rejects;

static void change_everything(order_ctx *ctx, of_item *it)
{
    json_t *o = order_set_get(&ctx->orders, "TJ1");
    order_set_str(ctx, o, "state", "printed");
    order_set_value(ctx, o, "closed", json_true());
    order_touch(ctx, "TJ1");
    order_put(ctx, "TJ2",
              json_pack("{s:s,s:i,s:[]}", "order_id", "TJ2", "note_seq", 0, "struck_skus"));
    order_append(ctx, json_object_get(o, "struck_skus"), json_string("SKU-1"));
    CHECK(note_add(ctx, it, "TJ1", "A7", "小王", json_object()) == 0);
    task_open(ctx, it, "TJ2", "relist", "小李", NULL);
    task_open(ctx, it, "TJ1", "relist", "小李", NULL);
    task_close(ctx, it, task_find(ctx, "TJ1", "fix_waybill"), "小王");
    int64_t after;
    CHECK(ledger_add(ctx, it, "tb_buyer01", 500, "TJ1", "refund", "小王", NULL, &after) == 0);
    if (journal_rejects)
        of_item_reject(it, "rejected after its changes");
}

/* The state an event can change, deep-copied. */
static json_t *state_of(const order_ctx *ctx)
{
    return json_pack("[O,O,O,O,O,O,O]", ctx->orders.rows, ctx->orders.dirty, ctx->notes, ctx->tasks,
                     ctx->balances, ctx->ledger, ctx->refunds);
}

static void test_rejection_undoes_every_change(void)
{
    order_ctx ctx;
    order_ctx_init(&ctx, &cfg);
    seed(&ctx, "TJ1", "paid", 0);
    json_object_set_new(order_set_get(&ctx.orders, "TJ1"), "struck_skus", json_array());
    json_object_set_new(ctx.tasks, "TJ1",
                        json_pack("[{s:I,s:s,s:s,s:s}]", "task_id", (json_int_t)7, "kind",
                                  "fix_waybill", "status", "open", "assignee", "小李"));
    json_object_set_new(ctx.balances, "tb_buyer01", json_integer(1000));
    json_t *s0 = state_of(&ctx), *before = json_deep_copy(s0);
    json_decref(s0);
    of_item it;
    paid(&it, "TJ1", "2024-05-06T01:30:00Z");
    journal_rejects = 1;
    order_apply_handler(&ctx, &it, change_everything);
    CHECK(it.state == OF_ITEM_REJECTED);
    json_t *now = state_of(&ctx), *now_copy = json_deep_copy(now);
    CHECK(json_equal(before, now_copy));
    json_decref(now);
    json_decref(now_copy);
    CHECK(ctx.njournal == 0);
    /* the same changes kept when the event is applied */
    it.state = OF_ITEM_PENDING;
    journal_rejects = 0;
    order_apply_handler(&ctx, &it, change_everything);
    CHECK(it.state == OF_ITEM_PENDING && ctx.njournal == 0);
    CHECK_STR(field(&ctx, "TJ1", "state"), "printed");
    CHECK(version(&ctx, "TJ1") == 2);
    CHECK(order_set_get(&ctx.orders, "TJ2") != NULL && dirty(&ctx, "TJ2"));
    CHECK(json_array_size(json_object_get(order_set_get(&ctx.orders, "TJ1"), "struck_skus")) == 1);
    CHECK(notes_of(&ctx, "TJ1") == 1);
    CHECK(json_array_size(json_object_get(ctx.tasks, "TJ1")) == 2);
    CHECK(json_array_size(json_object_get(ctx.tasks, "TJ2")) == 1);
    CHECK(json_integer_value(json_object_get(ctx.balances, "tb_buyer01")) == 1500);
    of_event_clear(&it.ev);
    json_decref(before);
    order_ctx_free(&ctx);
}

/* M5: the key order-worker writes to orders.items_key is the text of PostgreSQL's
 * items_key(items) (0007): "sku×qty" sorted bytewise, joined by ';'; reals as jansson writes
 * them (jsonb prints 2.0 as 2.0); NULL for no items, as string_agg of no rows. */
static void test_items_key(void)
{
    json_t *items = json_loads("[{\"sku\":\"b\",\"qty\":2},{\"sku\":\"B\",\"qty\":2.0},"
                               "{\"sku\":\"a\",\"qty\":1},{\"sku\":\"款號\",\"qty\":3}]",
                               0, NULL);
    char *k = items_key(items);
    CHECK_STR(k, "B\xc3\x97"
                 "2.0;a\xc3\x97"
                 "1;b\xc3\x97"
                 "2;款號\xc3\x97"
                 "3");
    free(k);
    json_decref(items);
    char longsku[200];
    memset(longsku, 'x', sizeof longsku - 1);
    longsku[sizeof longsku - 1] = '\0';
    items = json_pack("[{s:s,s:i}]", "sku", longsku, "qty", 9999);
    k = items_key(items); /* never cut short */
    CHECK(k && strlen(k) == strlen(longsku) + 2 + 4);
    free(k);
    json_decref(items);
    items = json_array();
    CHECK(items_key(items) == NULL);
    json_decref(items);
}

int main(void)
{
    of_error err = {{0}};
    unsetenv("SHIP_CUTOFF"); /* the defaults: 12:00 and 24 h */
    unsetenv("REFUND_AFTER_H");
    validator = of_validator_new(&err);
    if (!validator || of_config_load(&cfg, &err) || of_shop_tz_init("Asia/Shanghai", &err) ||
        notes_init(&err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    test_items_key();
    test_created();
    test_created_remitted();
    test_paid();
    test_printed();
    test_shipped();
    test_closed();
    test_apply_one();
    test_rejection_undoes_every_change();
    of_validator_free(validator);
    return TEST_DONE();
}
