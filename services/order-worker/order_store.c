/* order_store.c — loading and saving the orders of a batch (see order_store.h). All SQL of
 * the orders table lives here. */
#include "order_store.h"

#include <stdlib.h>
#include <string.h>

static const char load_sql[] =
    "SELECT json_build_object('order_id', order_id, 'shop_id', shop_id, 'buyer_id', buyer_id, "
    "'state', state, 'total', total::text, 'postage', postage::text, 'auction', auction, "
    "'items', items, 'created_at', created_at, 'paid_at', paid_at, "
    "'paid_amount', paid_amount::text, 'pay_method', pay_method, 'printed_at', printed_at, "
    "'waybill_no', waybill_no, 'shipped_at', shipped_at, 'carrier', carrier, "
    "'closed', closed, 'closed_at', closed_at, 'close_reason', close_reason, "
    "'version', version)::text "
    "FROM orders WHERE order_id IN (SELECT json_array_elements_text($1::json)) "
    "ORDER BY order_id FOR UPDATE";

/* Columns written back; updated_at is set by the statement. */
#define ORDER_COLUMNS                                                                              \
    "order_id, shop_id, buyer_id, state, total, postage, auction, items, created_at, "             \
    "paid_at, paid_amount, pay_method, printed_at, waybill_no, shipped_at, carrier, closed, "      \
    "closed_at, close_reason, version"

static const char save_sql[] =
    "INSERT INTO orders (" ORDER_COLUMNS ") SELECT " ORDER_COLUMNS
    " FROM json_populate_recordset(NULL::orders, $1::json) "
    "ON CONFLICT (order_id) DO UPDATE SET state = EXCLUDED.state, total = EXCLUDED.total, "
    "postage = EXCLUDED.postage, items = EXCLUDED.items, paid_at = EXCLUDED.paid_at, "
    "paid_amount = EXCLUDED.paid_amount, pay_method = EXCLUDED.pay_method, "
    "printed_at = EXCLUDED.printed_at, waybill_no = EXCLUDED.waybill_no, "
    "shipped_at = EXCLUDED.shipped_at, carrier = EXCLUDED.carrier, closed = EXCLUDED.closed, "
    "closed_at = EXCLUDED.closed_at, close_reason = EXCLUDED.close_reason, "
    "version = EXCLUDED.version, updated_at = now()";

int order_set_load(order_set *set, of_db *db, const of_batch *batch, of_error *err)
{
    set->rows = json_object();
    set->dirty = json_object();
    json_t *ids = json_object(); /* distinct ids */
    for (size_t i = 0; i < batch->n; i++) {
        const of_item *it = &batch->items[i];
        if (it->state == OF_ITEM_PENDING)
            json_object_set_new(ids, it->ev.subject, json_true());
    }
    json_t *arr = json_array();
    const char *id;
    json_t *v;
    json_object_foreach(ids, id, v) json_array_append_new(arr, json_string(id));
    json_decref(ids);
    char *js = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!js)
        return of_error_set(err, "out of memory");
    const char *params[] = {js};
    PGresult *r = of_db_exec(db, load_sql, 1, params, err);
    free(js);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        json_error_t jerr;
        json_t *o = json_loads(PQgetvalue(r, row, 0), 0, &jerr);
        const char *oid = json_string_value(json_object_get(o, "order_id"));
        if (oid)
            json_object_set(set->rows, oid, o);
        json_decref(o);
    }
    PQclear(r);
    return 0;
}

int order_set_save(order_set *set, of_db *db, of_error *err)
{
    if (json_object_size(set->dirty) == 0)
        return 0;
    json_t *arr = json_array();
    const char *id;
    json_t *v;
    json_object_foreach(set->dirty, id, v) json_array_append(arr, json_object_get(set->rows, id));
    char *js = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!js)
        return of_error_set(err, "out of memory");
    const char *params[] = {js};
    int rc = of_db_run(db, save_sql, 1, params, err);
    free(js);
    return rc;
}

void order_set_free(order_set *set)
{
    json_decref(set->rows);
    json_decref(set->dirty);
    set->rows = set->dirty = NULL;
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
    json_t *o = json_object_get(set->rows, order_id);
    json_object_set_new(o, "version",
                        json_integer(json_integer_value(json_object_get(o, "version")) + 1));
    json_object_set_new(set->dirty, order_id, json_true());
}
