/* rule_util.c — checks shared by the rule handlers (see rule_util.h). */
#include "rule_util.h"

#include <string.h>

#include "money.h"

const char *opt(const of_item *it, const char *field)
{
    return json_string_value(json_object_get(it->ev.data, field));
}

const char *need(of_item *it, const char *field, const char *when, const char *rule)
{
    const char *v = opt(it, field);
    if (!v)
        of_item_reject(it, "data.%s: required %s (%s)", field, when, rule);
    return v;
}

int need_sku(of_item *it, const json_t *o, const char *field)
{
    const char *sku = opt(it, field);
    if (!sku) {
        of_item_reject(it, "data.%s: required (the sku of an item of the order)", field);
        return 0;
    }
    size_t i, j;
    json_t *item, *struck;
    json_array_foreach(json_object_get(o, "items"), i, item)
    {
        if (strcmp(order_str(item, "sku"), sku) != 0)
            continue;
        json_array_foreach(json_object_get(o, "struck_skus"), j, struck)
        {
            const char *gone = json_string_value(struck);
            if (gone && strcmp(gone, sku) == 0) {
                of_item_reject(it, "data.%s: \"%.64s\" was struck from order \"%.64s\"", field, sku,
                               order_str(o, "order_id"));
                return 0;
            }
        }
        return 1;
    }
    of_item_reject(it, "data.%s: \"%.64s\" is not an item of order \"%.64s\"", field, sku,
                   order_str(o, "order_id"));
    return 0;
}

const char *open_state(of_item *it, const json_t *o)
{
    if (order_is_closed(o)) {
        of_item_reject(it, "order \"%.64s\" is closed: %s does not apply to a closed transaction",
                       order_str(o, "order_id"), it->ev.type);
        return NULL;
    }
    return order_str(o, "state");
}

int64_t cents_of(const of_item *it, const char *field)
{
    int64_t c = 0;
    if (of_money_parse(opt(it, field), &c))
        return 0;
    return c;
}

int64_t refundable(const json_t *o)
{
    int64_t paid = 0, refunded = 0;
    if (of_money_parse(order_str(o, "paid_amount"), &paid))
        return 0;
    if (of_money_parse(order_str(o, "refunded"), &refunded))
        refunded = 0;
    return paid - refunded;
}
