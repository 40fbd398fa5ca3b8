/* rule_util.h — small checks the rule handlers share: optional fields a rule needs, skus of
 * an order, amounts against what was paid. Each rejects the event with a reason on failure. */
#ifndef RULE_UTIL_H
#define RULE_UTIL_H

#include <stdint.h>

#include "order_apply.h"

/* data.<field>, or NULL after rejecting: "data.<field>: required <when> (<rule>)". */
const char *need(of_item *it, const char *field, const char *when, const char *rule);
/* data.<field> or NULL (optional, absent) */
const char *opt(const of_item *it, const char *field);
/* 1 when sku is an item of the order (and not struck), else 0 after rejecting. */
int need_sku(of_item *it, const json_t *o, const char *field);
/* The order's state as the rule tables name it: "unpaid", "paid" (not printed), "printed",
 * "shipped"; rejects and returns NULL when the order is closed. */
const char *open_state(of_item *it, const json_t *o);
/* Parses data.<field> as money (validated by the schema, so it cannot fail). */
int64_t cents_of(const of_item *it, const char *field);
/* What is left of the payment to refund, in cents (paid amount - registered refunds). */
int64_t refundable(const json_t *o);

#endif
