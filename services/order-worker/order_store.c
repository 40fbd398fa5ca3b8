/* order_store.c — loading and saving a batch's state (see order_store.h). */
#include "order_store.h"

#include <stdlib.h>
#include <string.h>

#include "copy_rows.h"
#include "json_fast.h"
#include "money.h"
#include "order_apply.h"

/* One index probe per id (LATERAL ... LIMIT 1: a join or = ANY is planned as a scan of the
 * whole table while it is small), locking in the order of the array, which is sorted. */
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
    "FROM unnest($1::text[]) AS k(id) CROSS JOIN LATERAL (SELECT * FROM orders o "
    "WHERE o.order_id = k.id LIMIT 1 FOR UPDATE) AS o";

static const char load_tasks_sql[] =
    "SELECT json_build_object('task_id', task_id, 'order_id', order_id, 'kind', kind, "
    "'assignee', assignee, 'status', status, 'created_at', created_at, 'detail', detail)::text "
    "FROM tasks WHERE status = 'open' AND order_id = ANY ($1::text[]) ORDER BY task_id";

/* Buyers' rows exist once their first order or balance event is applied: they are locked as
 * they are (one statement), and only the missing ones are inserted, then locked. */
static const char insert_buyers_sql[] =
    "INSERT INTO buyer_balances (buyer_id) SELECT b FROM unnest($1::text[]) AS b ORDER BY b "
    "ON CONFLICT DO NOTHING";

static const char load_remits_sql[] =
    "SELECT json_build_object('remit_id', remit_id, 'buyer_id', buyer_id, 'items', items, "
    "'staff', staff)::text FROM remittances WHERE NOT placed_on_shop AND duplicate_order_id "
    "IS NULL AND buyer_id = ANY ($1::text[]) ORDER BY ordered_at, remit_id";

static const char save_remit_dups_sql[] =
    "UPDATE remittances r SET duplicate_order_id = u.order_id, updated_at = now() "
    "FROM json_to_recordset($1::json) AS u(remit_id text, order_id text) "
    "WHERE r.remit_id = u.remit_id AND r.duplicate_order_id IS NULL";

/* A buyer whose balance the batch may change is locked FOR NO KEY UPDATE; one only seen (a
 * new order's buyer, M5) FOR KEY SHARE. The two never conflict, so the lanes of a worker
 * (and other workers) do not wait on each other for a buyer they both only see, while
 * remittance-worker's FOR UPDATE waits for either, and either waits for it. */
static const char lock_buyers_sql[] =
    "SELECT buyer_id, (balance * 100)::bigint FROM buyer_balances "
    "WHERE buyer_id = ANY ($1::text[]) ORDER BY buyer_id FOR NO KEY UPDATE";
static const char see_buyers_sql[] =
    "SELECT buyer_id, (balance * 100)::bigint FROM buyer_balances "
    "WHERE buyer_id = ANY ($1::text[]) ORDER BY buyer_id FOR KEY SHARE";
#define ORDER_COLUMNS                                                                              \
    "order_id, shop_id, buyer_id, state, total, postage, auction, items, created_at, "             \
    "paid_at, paid_amount, pay_method, printed_at, waybill_no, shipped_at, carrier, closed, "      \
    "closed_at, close_reason, version, address, struck_skus, ship_by, refund_from, refunded"

/* Orders read from PostgreSQL are written back with one UPDATE over typed arrays (one per
 * column, the n-th element of each is row n): only the columns a rule can change, since
 * shop, buyer, items, postage, auction and created_at are fixed by order.created. */
static const char *const update_columns[] = {
    "order_id",    "state",      "total",        "paid_at",    "paid_amount",
    "pay_method",  "printed_at", "waybill_no",   "shipped_at", "carrier",
    "closed",      "closed_at",  "close_reason", "version",    "address",
    "struck_skus", "ship_by",    "refund_from",  "refunded"};
enum { UPDATE_COLUMNS = sizeof update_columns / sizeof *update_columns };

static const char update_orders_sql[] =
    "UPDATE orders o SET state = u.state, total = u.total, paid_at = u.paid_at, "
    "paid_amount = u.paid_amount, pay_method = u.pay_method, printed_at = u.printed_at, "
    "waybill_no = u.waybill_no, shipped_at = u.shipped_at, carrier = u.carrier, "
    "closed = u.closed, closed_at = u.closed_at, close_reason = u.close_reason, "
    "version = u.version, address = u.address, struck_skus = u.struck_skus, "
    "ship_by = u.ship_by, refund_from = u.refund_from, refunded = u.refunded, "
    "updated_at = now() "
    "FROM unnest($1::text[], $2::text[], $3::numeric[], $4::timestamptz[], $5::numeric[], "
    "$6::text[], $7::timestamptz[], $8::text[], $9::timestamptz[], $10::text[], "
    "$11::boolean[], $12::timestamptz[], $13::text[], $14::integer[], $15::text[], "
    "$16::jsonb[], $17::date[], $18::timestamptz[], $19::numeric[]) "
    "AS u(order_id, state, total, paid_at, paid_amount, pay_method, printed_at, waybill_no, "
    "shipped_at, carrier, closed, closed_at, close_reason, version, address, struck_skus, "
    "ship_by, refund_from, refunded) WHERE o.order_id = ANY ($1::text[]) "
    "AND o.order_id = u.order_id";

/* New orders and notes go in with COPY: no JSON to build here or to parse there. */
static const char *const order_columns[] = {
    "order_id",    "shop_id",     "buyer_id",   "state",        "total",
    "postage",     "auction",     "items",      "created_at",   "paid_at",
    "paid_amount", "pay_method",  "printed_at", "waybill_no",   "shipped_at",
    "carrier",     "closed",      "closed_at",  "close_reason", "version",
    "address",     "struck_skus", "ship_by",    "refund_from",  "refunded"};

/* items_key last: computed here (items_key() in C), not by PostgreSQL per row (0007) */
static const char copy_orders_sql[] = "COPY orders (" ORDER_COLUMNS ", items_key) FROM STDIN";

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

/* One COPY row's fields of an object, its columns in the order of cols (no row end). */
static void copy_fields(of_rows *out, const json_t *row, const char *const *cols, size_t ncols)
{
    for (size_t c = 0; c < ncols; c++)
        of_rows_json(out, json_object_get(row, cols[c]));
}

static void copy_row(of_rows *out, const json_t *row, const char *const *cols, size_t ncols)
{
    copy_fields(out, row, cols, ncols);
    of_rows_end(out);
}

/* The UPDATE of existing orders: the arrays are built in cols[], one per column. */
static int update_orders(of_db *db, of_rows *cols, size_t nrows, of_error *err)
{
    if (!nrows)
        return 0;
    const char *params[UPDATE_COLUMNS];
    for (size_t c = 0; c < UPDATE_COLUMNS; c++) {
        of_rows_array_end(&cols[c]);
        if (!of_rows_ok(&cols[c]))
            return of_error_set(err, "out of memory");
        params[c] = cols[c].buf;
    }
    return of_db_run(db, update_orders_sql, UPDATE_COLUMNS, params, err);
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

/* Parses each row's JSON text (PostgreSQL's: valid UTF-8) and hands it to add. */
static void each_row(PGresult *r, void (*add)(void *, json_t *), void *arg)
{
    for (int row = 0; row < PQntuples(r); row++) {
        const char *text = PQgetvalue(r, row, 0);
        size_t len = (size_t)PQgetlength(r, row, 0);
        json_t *o = of_json_fast_object(text, len); /* NULL: not its shape, jansson reads it */
        if (!o)
            o = json_loadb(text, len, 0, NULL);
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

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of set as a text[] literal in arr, in byte order (rows are locked in that order
 * by every worker, so two never wait for each other in a cycle). */
static int text_array(of_rows *arr, json_t *set, of_error *err)
{
    size_t n = json_object_size(set), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return of_error_set(err, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_key);
    of_rows_reset(arr);
    of_rows_array_begin(arr);
    for (i = 0; i < n; i++)
        of_rows_array_text(arr, keys[i]);
    of_rows_array_end(arr);
    free(keys);
    return of_rows_ok(arr) ? 0 : of_error_set(err, "out of memory");
}

/* Locks the rows of the buyers in set that exist (with sql), their balances into
 * ctx->balances (cents). */
static int lock_buyers(order_ctx *ctx, of_db *db, const char *sql, json_t *set, of_rows *arr,
                       of_error *err)
{
    if (!json_object_size(set))
        return 0;
    if (text_array(arr, set, err))
        return -1;
    const char *p[] = {arr->buf};
    PGresult *r = of_db_exec(db, sql, 1, p, err);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++)
        json_object_set_new(ctx->balances, PQgetvalue(r, row, 0),
                            json_integer(atoll(PQgetvalue(r, row, 1))));
    PQclear(r);
    return 0;
}

/* The buyers in set without a row: inserted, then locked like the others (with sql). */
static int add_buyers(order_ctx *ctx, of_db *db, const char *sql, json_t *set, of_rows *arr,
                      of_error *err)
{
    json_t *missing = json_object();
    const char *b;
    json_t *v;
    json_object_foreach(set, b, v) if (!json_object_get(ctx->balances, b))
        json_object_set_new(missing, b, json_true());
    int rc = 0;
    if (json_object_size(missing)) {
        rc = text_array(arr, missing, err);
        const char *p[] = {arr->buf};
        if (rc == 0)
            rc = of_db_run(db, insert_buyers_sql, 1, p, err);
        if (rc == 0)
            rc = lock_buyers(ctx, db, sql, missing, arr, err);
    }
    json_decref(missing);
    return rc;
}

/* The open remittances of the buyers in a and b, into ctx->remits. */
static int load_remits(order_ctx *ctx, of_db *db, json_t *a, json_t *b, of_rows *arr, of_error *err)
{
    json_t *all = json_deep_copy(a);
    json_object_update(all, b);
    int rc = 0;
    if (json_object_size(all)) {
        rc = text_array(arr, all, err);
        const char *p[] = {arr->buf};
        PGresult *r = rc ? NULL : of_db_exec(db, load_remits_sql, 1, p, err);
        if (r) {
            each_row(r, add_remit, ctx);
            PQclear(r);
        } else {
            rc = -1;
        }
    }
    json_decref(all);
    return rc;
}

/* Whether an item of the batch may change its buyer's balance (ledger_add's callers). */
static int changes_balance(const of_item *it)
{
    const char *reason = json_string_value(json_object_get(it->ev.data, "reason"));
    return strncmp(it->ev.type, "balance.", 8) == 0 ||
           (strcmp(it->ev.type, "order.price_changed") == 0 && reason &&
            strcmp(reason, "balance_deduction") == 0);
}

int order_store_load(order_ctx *ctx, of_db *db, const of_batch *batch, of_error *err)
{
    json_t *ids = json_object(), *changing = json_object(), *seen = json_object();
    for (size_t i = 0; i < batch->n; i++) {
        const of_item *it = &batch->items[i];
        if (it->state != OF_ITEM_PENDING)
            continue;
        add_unique(ids, it->ev.subject);
        add_unique(ids, json_string_value(json_object_get(it->ev.data, "new_order_id")));
        add_unique(ids, json_string_value(json_object_get(it->ev.data, "order_id")));
        /* a new order's buyer is locked too: an off-shop remittance of the same goods
         * (remittance-worker locks the buyer as well) must see it or be seen (M5) */
        if (strncmp(it->ev.type, "balance.", 8) == 0)
            add_unique(changing, json_string_value(json_object_get(it->ev.data, "buyer_id")));
        else if (strcmp(it->ev.type, "order.created") == 0)
            add_unique(seen, json_string_value(json_object_get(it->ev.data, "buyer_id")));
    }
    int rc = 0;
    of_rows arr;
    of_rows_init(&arr);
    if (json_object_size(ids)) {
        rc = text_array(&arr, ids, err);
        const char *idp[] = {arr.buf};
        PGresult *r = rc ? NULL : of_db_exec(db, load_orders_sql, 1, idp, err);
        if (r) {
            each_row(r, add_order, ctx);
            PQclear(r);
            r = of_db_exec(db, load_tasks_sql, 1, idp, err);
        }
        if (r) {
            each_row(r, add_task, ctx);
            PQclear(r);
        }
        rc = r ? 0 : -1;
    }
    /* a balance deduction in a price change touches the order's buyer */
    for (size_t i = 0; rc == 0 && i < batch->n; i++) {
        const of_item *it = &batch->items[i];
        if (it->state == OF_ITEM_PENDING && strcmp(it->ev.type, "order.price_changed") == 0 &&
            changes_balance(it))
            add_unique(changing,
                       json_string_value(json_object_get(
                           json_object_get(ctx->orders.rows, it->ev.subject), "buyer_id")));
    }
    const char *b;
    json_t *v, *tmp;
    json_object_foreach_safe(seen, tmp, b, v) if (json_object_get(changing, b))
        json_object_del(seen, b);
    /* the changing first, then the seen, each in buyer order */
    if (rc == 0)
        rc = lock_buyers(ctx, db, lock_buyers_sql, changing, &arr, err);
    if (rc == 0)
        rc = lock_buyers(ctx, db, see_buyers_sql, seen, &arr, err);
    if (rc == 0)
        rc = add_buyers(ctx, db, lock_buyers_sql, changing, &arr, err);
    if (rc == 0)
        rc = add_buyers(ctx, db, see_buyers_sql, seen, &arr, err);
    /* the open remittances of every buyer seen or changed (M5) */
    json_t *contested = json_object();
    if (rc == 0)
        rc = load_remits(ctx, db, seen, changing, &arr, err);
    /* M5: a seen buyer with an open remittance may close the new order as its duplicate,
     * which one order only may be: such a buyer is locked like a changing one (lanes, and
     * other workers, take turns for it; neither holds what the other waits for) and the
     * remittances read again, as the turn before left them */
    json_object_foreach(seen, b, v) if (json_array_size(json_object_get(ctx->remits, b)))
        json_object_set_new(contested, b, json_true());
    if (rc == 0 && json_object_size(contested)) {
        rc = lock_buyers(ctx, db, lock_buyers_sql, contested, &arr, err);
        json_object_clear(ctx->remits);
        if (rc == 0)
            rc = load_remits(ctx, db, seen, changing, &arr, err);
    }
    json_decref(contested);
    of_rows_free(&arr);
    json_decref(ids);
    json_decref(changing);
    json_decref(seen);
    return rc;
}

int order_store_save(order_ctx *ctx, of_db *db, of_error *err)
{
    of_rows rows, cols[UPDATE_COLUMNS];
    of_rows_init(&rows);
    for (size_t c = 0; c < UPDATE_COLUMNS; c++) {
        of_rows_init(&cols[c]);
        of_rows_array_begin(&cols[c]);
    }
    size_t updated = 0;
    const char *id;
    json_t *v;
    json_object_foreach(ctx->orders.dirty, id, v)
    {
        json_t *row = json_object_get(ctx->orders.rows, id);
        if (!row)
            continue;
        if (json_object_get(ctx->orders.loaded, id)) {
            for (size_t c = 0; c < UPDATE_COLUMNS; c++)
                of_rows_array_json(&cols[c], json_object_get(row, update_columns[c]));
            updated++;
        } else {
            copy_fields(&rows, row, order_columns, sizeof order_columns / sizeof *order_columns);
            char *key = items_key(json_object_get(row, "items"));
            of_rows_text(&rows, key);
            free(key);
            of_rows_end(&rows);
        }
    }
    int rc = run_copy(db, copy_orders_sql, &rows, err);
    if (rc == 0)
        rc = update_orders(db, cols, updated, err);
    for (size_t c = 0; c < UPDATE_COLUMNS; c++)
        of_rows_free(&cols[c]);
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
    if (rc) {
        json_decref(new_tasks);
        json_decref(closed);
        return -1;
    }
    if (run_json(db, insert_tasks_sql, new_tasks, err)) {
        json_decref(closed);
        return -1;
    }
    if (run_json(db, close_tasks_sql, closed, err))
        return -1;
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
    /* each run_json takes its argument, run or not */
    int failed = run_json(db, save_ledger_sql, ctx->ledger, err);
    failed = failed ? (json_decref(changed), -1) : run_json(db, save_balances_sql, changed, err);
    failed = failed ? (json_decref(ctx->refunds), -1)
                    : run_json(db, save_refunds_sql, ctx->refunds, err);
    failed = failed ? (json_decref(ctx->remit_dups), -1)
                    : run_json(db, save_remit_dups_sql, ctx->remit_dups, err);
    return failed ? -1 : 0;
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

void order_set_touch(order_set *set, const char *order_id)
{
    json_object_set_new(set->dirty, order_id, json_true());
}
