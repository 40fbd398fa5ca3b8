/* order_store.c — loading and saving a batch's state (see order_store.h). */
#include "order_store.h"

#include <stdlib.h>
#include <string.h>

#include "copy_rows.h"
#include "money.h"
#include "order_apply.h"

static const char load_orders_sql[] =
    "SELECT json_build_object('order_id', order_id, 'shop_id', shop_id, 'buyer_id', buyer_id, "
    "'state', state, 'total', total::text, 'postage', postage::text, 'auction', auction, "
    "'items', items, 'created_at', created_at, 'paid_at', paid_at, "
    "'paid_amount', paid_amount::text, 'pay_method', pay_method, 'printed_at', printed_at, "
    "'waybill_no', waybill_no, 'shipped_at', shipped_at, 'carrier', carrier, "
    "'closed', closed, 'closed_at', closed_at, 'close_reason', close_reason, "
    "'version', version, 'address', address, 'struck_skus', struck_skus, 'ship_by', ship_by, "
    "'refund_from', refund_from, 'refunded', refunded::text, 'note_seq', "
    "(SELECT coalesce(max(n.seq), 0) FROM order_notes n WHERE n.order_id = o.order_id))::text "
    "FROM orders o WHERE order_id IN (SELECT json_array_elements_text($1::json)) "
    "ORDER BY order_id FOR UPDATE";

static const char load_tasks_sql[] =
    "SELECT json_build_object('task_id', task_id, 'order_id', order_id, 'kind', kind, "
    "'assignee', assignee, 'status', status, 'created_at', created_at, 'detail', detail)::text "
    "FROM tasks WHERE status = 'open' AND order_id IN "
    "(SELECT json_array_elements_text($1::json)) ORDER BY task_id";

static const char ensure_buyers_sql[] =
    "INSERT INTO buyer_balances (buyer_id) SELECT json_array_elements_text($1::json) "
    "ON CONFLICT DO NOTHING";

static const char load_remits_sql[] =
    "SELECT json_build_object('remit_id', remit_id, 'buyer_id', buyer_id, 'items', items, "
    "'staff', staff)::text FROM remittances WHERE NOT placed_on_shop AND duplicate_order_id "
    "IS NULL AND buyer_id IN (SELECT json_array_elements_text($1::json)) ORDER BY ordered_at, "
    "remit_id";

static const char save_remit_dups_sql[] =
    "UPDATE remittances r SET duplicate_order_id = u.order_id, updated_at = now() "
    "FROM json_to_recordset($1::json) AS u(remit_id text, order_id text) "
    "WHERE r.remit_id = u.remit_id AND r.duplicate_order_id IS NULL";

static const char load_buyers_sql[] =
    "SELECT buyer_id, (balance * 100)::bigint FROM buyer_balances "
    "WHERE buyer_id IN (SELECT json_array_elements_text($1::json)) ORDER BY buyer_id FOR UPDATE";

#define ORDER_COLUMNS                                                                              \
    "order_id, shop_id, buyer_id, state, total, postage, auction, items, created_at, "             \
    "paid_at, paid_amount, pay_method, printed_at, waybill_no, shipped_at, carrier, closed, "      \
    "closed_at, close_reason, version, address, struck_skus, ship_by, refund_from, refunded"

static const char save_orders_sql[] =
    "INSERT INTO orders (" ORDER_COLUMNS ") SELECT " ORDER_COLUMNS
    " FROM json_populate_recordset(NULL::orders, $1::json) "
    "ON CONFLICT (order_id) DO UPDATE SET state = EXCLUDED.state, total = EXCLUDED.total, "
    "postage = EXCLUDED.postage, items = EXCLUDED.items, paid_at = EXCLUDED.paid_at, "
    "paid_amount = EXCLUDED.paid_amount, pay_method = EXCLUDED.pay_method, "
    "printed_at = EXCLUDED.printed_at, waybill_no = EXCLUDED.waybill_no, "
    "shipped_at = EXCLUDED.shipped_at, carrier = EXCLUDED.carrier, closed = EXCLUDED.closed, "
    "closed_at = EXCLUDED.closed_at, close_reason = EXCLUDED.close_reason, "
    "version = EXCLUDED.version, address = EXCLUDED.address, "
    "struck_skus = EXCLUDED.struck_skus, ship_by = EXCLUDED.ship_by, "
    "refund_from = EXCLUDED.refund_from, refunded = EXCLUDED.refunded, updated_at = now()";

/* New orders and notes go in with COPY: no JSON to build here or to parse there. */
static const char *const order_columns[] = {
    "order_id",    "shop_id",     "buyer_id",   "state",        "total",
    "postage",     "auction",     "items",      "created_at",   "paid_at",
    "paid_amount", "pay_method",  "printed_at", "waybill_no",   "shipped_at",
    "carrier",     "closed",      "closed_at",  "close_reason", "version",
    "address",     "struck_skus", "ship_by",    "refund_from",  "refunded"};

static const char copy_orders_sql[] = "COPY orders (" ORDER_COLUMNS ") FROM STDIN";

#define NOTE_COLUMNS                                                                               \
    "order_id, seq, code, template, params, author, noted_at, rendered, rendered_hans, "           \
    "rendered_en, event_source, event_id"

static const char *const note_columns[] = {
    "order_id", "seq",      "code",          "template",    "params",       "author",
    "noted_at", "rendered", "rendered_hans", "rendered_en", "event_source", "event_id"};

static const char copy_notes_sql[] = "COPY order_notes (" NOTE_COLUMNS ") FROM STDIN";

static const char insert_tasks_sql[] =
    "INSERT INTO tasks (order_id, kind, assignee, status, created_at, closed_at, closed_by, "
    "detail, created_by_source, created_by_id) SELECT order_id, kind, assignee, status, "
    "created_at, closed_at, closed_by, detail, created_by_source, created_by_id "
    "FROM json_populate_recordset(NULL::tasks, $1::json)";

static const char close_tasks_sql[] =
    "UPDATE tasks t SET status = 'done', closed_at = u.closed_at, closed_by = u.closed_by "
    "FROM json_to_recordset($1::json) AS u(task_id bigint, closed_at timestamptz, "
    "closed_by text) WHERE t.task_id = u.task_id AND t.status = 'open'";

static const char save_ledger_sql[] =
    "INSERT INTO balance_ledger (buyer_id, delta, balance_after, order_id, at, kind, staff, "
    "reason) SELECT buyer_id, delta, balance_after, order_id, at, kind, staff, reason "
    "FROM json_populate_recordset(NULL::balance_ledger, $1::json)";

static const char save_balances_sql[] =
    "UPDATE buyer_balances b SET balance = j.value::bigint / 100.0 "
    "FROM json_each_text($1::json) AS j WHERE b.buyer_id = j.key";

static const char save_refunds_sql[] =
    "INSERT INTO refund_registrations (order_id, buyer_id, channel, account, real_name, "
    "amount, reason, staff, registered_at) SELECT order_id, buyer_id, channel, account, "
    "real_name, amount, reason, staff, registered_at "
    "FROM json_populate_recordset(NULL::refund_registrations, $1::json)";

/* Runs sql with one JSON parameter (stolen). Nothing to do for an empty array/object. */
static PGresult *exec_json(of_db *db, const char *sql, json_t *arg, of_error *err)
{
    if (json_is_array(arg) ? json_array_size(arg) == 0 : json_object_size(arg) == 0) {
        json_decref(arg);
        return NULL;
    }
    char *js = json_dumps(arg, JSON_COMPACT);
    json_decref(arg);
    if (!js) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    const char *params[] = {js};
    PGresult *r = of_db_exec(db, sql, 1, params, err);
    free(js);
    return r;
}

/* Like exec_json for statements without rows; 0 on success or nothing to do. */
static int run_json(of_db *db, const char *sql, json_t *arg, of_error *err)
{
    err->msg[0] = '\0';
    PGresult *r = exec_json(db, sql, arg, err);
    if (r) {
        PQclear(r);
        return 0;
    }
    return err->msg[0] ? -1 : 0;
}

/* One COPY row per object of rows, its columns in the order of cols. */
static void copy_row(of_rows *out, const json_t *row, const char *const *cols, size_t ncols)
{
    for (size_t c = 0; c < ncols; c++)
        of_rows_json(out, json_object_get(row, cols[c]));
    of_rows_end(out);
}

static int run_copy(of_db *db, const char *sql, of_rows *rows, of_error *err)
{
    if (!of_rows_ok(rows))
        return of_error_set(err, "out of memory");
    return rows->rows ? of_db_copy(db, sql, rows->buf, rows->len, err) : 0;
}

static void add_unique(json_t *set, const char *s)
{
    if (s && *s)
        json_object_set_new(set, s, json_true());
}

static json_t *keys_array(json_t *set)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) json_array_append_new(arr, json_string(k));
    json_decref(set);
    return arr;
}

/* Parses each row's JSON text and hands it to add. */
static void each_row(PGresult *r, void (*add)(void *, json_t *), void *arg)
{
    for (int row = 0; row < PQntuples(r); row++) {
        json_t *o = json_loads(PQgetvalue(r, row, 0), 0, NULL);
        if (o)
            add(arg, o);
        json_decref(o);
    }
}

static void add_order(void *arg, json_t *o)
{
    order_ctx *ctx = arg;
    const char *id = json_string_value(json_object_get(o, "order_id"));
    if (id) {
        json_object_set(ctx->orders.rows, id, o);
        json_object_set_new(ctx->orders.loaded, id, json_true());
    }
}

static void add_task(void *arg, json_t *t)
{
    order_ctx *ctx = arg;
    const char *id = json_string_value(json_object_get(t, "order_id"));
    json_t *list = json_object_get(ctx->tasks, id);
    if (!list) {
        list = json_array();
        json_object_set_new(ctx->tasks, id, list);
    }
    json_array_append(list, t);
}

static void add_remit(void *arg, json_t *r)
{
    order_ctx *ctx = arg;
    const char *buyer = json_string_value(json_object_get(r, "buyer_id"));
    json_t *list = json_object_get(ctx->remits, buyer);
    if (!list) {
        list = json_array();
        json_object_set_new(ctx->remits, buyer, list);
    }
    json_array_append(list, r);
}

int order_store_load(order_ctx *ctx, of_db *db, const of_batch *batch, of_error *err)
{
    json_t *ids = json_object(), *buyers = json_object();
    for (size_t i = 0; i < batch->n; i++) {
        const of_item *it = &batch->items[i];
        if (it->state != OF_ITEM_PENDING)
            continue;
        add_unique(ids, it->ev.subject);
        add_unique(ids, json_string_value(json_object_get(it->ev.data, "new_order_id")));
        add_unique(ids, json_string_value(json_object_get(it->ev.data, "order_id")));
        /* a new order's buyer is locked too: an off-shop remittance of the same goods
         * (remittance-worker locks the buyer as well) must see it or be seen (M5) */
        if (strncmp(it->ev.type, "balance.", 8) == 0 || strcmp(it->ev.type, "order.created") == 0)
            add_unique(buyers, json_string_value(json_object_get(it->ev.data, "buyer_id")));
    }
    json_t *id_list = keys_array(ids);
    json_incref(id_list);
    PGresult *r = exec_json(db, load_orders_sql, id_list, err);
    if (!r) {
        int empty = json_array_size(id_list) == 0;
        json_decref(id_list);
        json_decref(buyers);
        return empty ? 0 : -1;
    }
    each_row(r, add_order, ctx);
    PQclear(r);
    r = exec_json(db, load_tasks_sql, id_list, err);
    if (!r)
        return -1;
    each_row(r, add_task, ctx);
    PQclear(r);
    /* a balance deduction in a price change touches the order's buyer */
    for (size_t i = 0; i < batch->n; i++) {
        const of_item *it = &batch->items[i];
        if (it->state == OF_ITEM_PENDING && strcmp(it->ev.type, "order.price_changed") == 0)
            add_unique(buyers, json_string_value(json_object_get(
                                   json_object_get(ctx->orders.rows, it->ev.subject), "buyer_id")));
    }
    if (json_object_size(buyers) == 0) {
        json_decref(buyers);
        return 0;
    }
    json_t *buyer_list = keys_array(buyers);
    json_incref(buyer_list);
    json_incref(buyer_list);
    if (run_json(db, ensure_buyers_sql, buyer_list, err)) {
        json_decref(buyer_list);
        json_decref(buyer_list);
        return -1;
    }
    r = exec_json(db, load_buyers_sql, buyer_list, err);
    if (!r) {
        json_decref(buyer_list);
        return -1;
    }
    for (int row = 0; row < PQntuples(r); row++)
        json_object_set_new(ctx->balances, PQgetvalue(r, row, 0),
                            json_integer(atoll(PQgetvalue(r, row, 1))));
    PQclear(r);
    r = exec_json(db, load_remits_sql, buyer_list, err);
    if (!r)
        return -1;
    each_row(r, add_remit, ctx);
    PQclear(r);
    return 0;
}

int order_store_save(order_ctx *ctx, of_db *db, of_error *err)
{
    json_t *orders = json_array();
    of_rows rows;
    of_rows_init(&rows);
    const char *id;
    json_t *v;
    json_object_foreach(ctx->orders.dirty, id, v)
    {
        json_t *row = json_object_get(ctx->orders.rows, id);
        if (!row)
            continue;
        if (json_object_get(ctx->orders.loaded, id))
            json_array_append(orders, row);
        else
            copy_row(&rows, row, order_columns, sizeof order_columns / sizeof *order_columns);
    }
    int rc = run_copy(db, copy_orders_sql, &rows, err);
    of_rows_reset(&rows);
    json_t *new_tasks = json_array(), *closed = json_array();
    json_object_foreach(ctx->notes, id, v)
    {
        size_t i;
        json_t *n;
        json_array_foreach(v, i, n)
            copy_row(&rows, n, note_columns, sizeof note_columns / sizeof *note_columns);
    }
    if (rc == 0)
        rc = run_copy(db, copy_notes_sql, &rows, err);
    of_rows_free(&rows);
    json_object_foreach(ctx->tasks, id, v)
    {
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t)
        {
            if (!json_object_get(t, "task_id"))
                json_array_append(new_tasks, t);
            else if (strcmp(order_str(t, "status"), "done") == 0)
                json_array_append(closed, t);
        }
    }
    if (rc || run_json(db, save_orders_sql, orders, err) ||
        run_json(db, insert_tasks_sql, new_tasks, err) ||
        run_json(db, close_tasks_sql, closed, err)) {
        if (rc) {
            json_decref(orders);
            json_decref(new_tasks);
            json_decref(closed);
        }
        return -1;
    }
    /* only the balances that have new ledger entries change */
    json_t *changed = json_object();
    size_t i;
    json_array_foreach(ctx->ledger, i, v)
    {
        const char *buyer = order_str(v, "buyer_id");
        json_object_set(changed, buyer, json_object_get(ctx->balances, buyer));
    }
    json_incref(ctx->ledger);
    json_incref(ctx->refunds);
    json_incref(ctx->remit_dups);
    if (run_json(db, save_ledger_sql, ctx->ledger, err) ||
        run_json(db, save_balances_sql, changed, err) ||
        run_json(db, save_refunds_sql, ctx->refunds, err) ||
        run_json(db, save_remit_dups_sql, ctx->remit_dups, err))
        return -1;
    return 0;
}

void order_set_free(order_set *set)
{
    json_decref(set->rows);
    json_decref(set->dirty);
    json_decref(set->loaded);
    set->rows = set->dirty = set->loaded = NULL;
}

json_t *order_set_get(order_set *set, const char *order_id)
{
    return json_object_get(set->rows, order_id);
}

void order_set_put(order_set *set, const char *order_id, json_t *row)
{
    json_object_set_new(set->rows, order_id, row);
    json_object_set_new(set->dirty, order_id, json_true());
}

void order_set_touch(order_set *set, const char *order_id)
{
    json_object_set_new(set->dirty, order_id, json_true());
}
