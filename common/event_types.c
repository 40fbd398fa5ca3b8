/* event_types.c — the table behind event_types.h, in SPEC §3's order. */
#include "event_types.h"

#include <string.h>

const of_event_type of_event_types[] = {
    {"order.created", OF_TOPIC_ORDERS, "order_id"},
    {"order.paid", OF_TOPIC_ORDERS, "order_id"},
    {"order.printed", OF_TOPIC_ORDERS, "order_id"},
    {"order.copied", OF_TOPIC_ORDERS, "order_id"},
    {"order.shipped", OF_TOPIC_ORDERS, "order_id"},
    {"order.closed", OF_TOPIC_ORDERS, "order_id"},
    {"order.price_changed", OF_TOPIC_ORDERS, "order_id"},
    {"order.address_changed", OF_TOPIC_ORDERS, "order_id"},
    {"order.waybill_fixed", OF_TOPIC_ORDERS, "order_id"},
    {"order.buyer_cancelled", OF_TOPIC_ORDERS, "order_id"},
    {"order.waybill_cancelled", OF_TOPIC_ORDERS, "order_id"},
    {"order.exchanged", OF_TOPIC_ORDERS, "order_id"},
    {"order.out_of_stock", OF_TOPIC_ORDERS, "order_id"},
    {"refund.claimable", OF_TOPIC_ORDERS, "order_id"},
    {"refund.due", OF_TOPIC_ORDERS, "order_id"},
    {"refund.registered", OF_TOPIC_ORDERS, "order_id"},
    {"balance.registered", OF_TOPIC_ORDERS, "order_id"},
    {"balance.used", OF_TOPIC_ORDERS, "order_id"},
    {"recharge.requested", OF_TOPIC_RECHARGES, "order_id"},
    {"recharge.result", OF_TOPIC_RECHARGES, "order_id"},
    {"remittance.ordered", OF_TOPIC_REMITTANCES, "remit_id"},
    {"remittance.notified", OF_TOPIC_REMITTANCES, "remit_id"},
    {"remittance.verified", OF_TOPIC_REMITTANCES, "remit_id"},
    {"remittance.shipped", OF_TOPIC_REMITTANCES, "remit_id"},
    {"remittance.reviewed", OF_TOPIC_REMITTANCES, "day"},
};
const size_t of_event_type_count = sizeof of_event_types / sizeof of_event_types[0];

const of_event_type *of_event_type_find(const char *type)
{
    for (size_t i = 0; i < of_event_type_count; i++)
        if (strcmp(of_event_types[i].type, type) == 0)
            return &of_event_types[i];
    return NULL;
}
