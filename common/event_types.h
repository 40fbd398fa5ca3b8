/* event_types.h — the one table of event types (SPEC §3): which topic carries each type and
 * which data field the CloudEvents subject (and the Kafka key) must equal. Validation and
 * each worker's handler table are keyed by it. */
#ifndef OF_EVENT_TYPES_H
#define OF_EVENT_TYPES_H

#include <stddef.h>

#define OF_TOPIC_ORDERS "shop.orders"
#define OF_TOPIC_RECHARGES "shop.recharges"
#define OF_TOPIC_REMITTANCES "shop.remittances"
#define OF_TOPIC_DEADLETTER "shop.deadletter"
#define OF_TOPIC_ALERTS "ops.alerts"

typedef struct of_event_type {
    const char *type;          /* "order.paid" */
    const char *topic;         /* "shop.orders" */
    const char *subject_field; /* data field the subject must equal when present */
} of_event_type;

extern const of_event_type of_event_types[];
extern const size_t of_event_type_count;

const of_event_type *of_event_type_find(const char *type); /* NULL when unknown */

#endif
