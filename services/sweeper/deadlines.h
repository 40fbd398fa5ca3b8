/* deadlines.h — the timed rules the sweeper evaluates each cycle (SPEC T3): each finds what
 * is past its deadline, marks it once, records a breach and queues an alert, in one
 * statement bounded by a LIMIT and served by a partial index. Rows are claimed with
 * FOR UPDATE SKIP LOCKED and breaches are unique per rule and subject, so several sweepers
 * never record or alert twice. */
#ifndef DEADLINES_H
#define DEADLINES_H

#include "config.h"
#include "db.h"

typedef struct deadline_rule {
    const char *rule; /* M3, T1, R5 */
    const char *what;
    const char *sql; /* $1 limit, $2 REMITTANCE_VERIFY_DAYS, $3 SHOP_TZ, $4 SHIFT_START;
                      * returns a count */
} deadline_rule;

extern const deadline_rule deadline_rules[];
extern const size_t deadline_rule_count;

/* Runs one rule; *found receives how many breaches it recorded. */
int deadline_sweep(of_db *db, const of_config *cfg, const deadline_rule *r, int limit, long *found,
                   of_error *err) OF_MUST_CHECK;

#endif
