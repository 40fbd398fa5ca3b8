/* deadlines.c — the sweeper's timed rules (see deadlines.h). */
#include "deadlines.h"

#include <stdio.h>
#include <stdlib.h>

/* M3: a buyer's remittance notice not verified within REMITTANCE_VERIFY_DAYS: the staff who
 * took the order is told to contact the buyer — online tool if the buyer is online, else
 * phone, and never phone for an overseas buyer. */
static const char m3_sql[] =
    "WITH due AS (SELECT remit_id FROM remittances WHERE state = 'notified' "
    "  AND m3_breached_at IS NULL AND notified_at < now() - make_interval(days => $2::int) "
    "  ORDER BY notified_at LIMIT $1::int FOR UPDATE SKIP LOCKED), "
    "marked AS (UPDATE remittances r SET m3_breached_at = now() FROM due "
    "  WHERE r.remit_id = due.remit_id RETURNING r.remit_id, r.staff, r.buyer_id, r.overseas, "
    "  r.notified_at, r.amount), "
    "b AS (INSERT INTO breaches (rule, subject_id, actor, deadline, detail) "
    "  SELECT 'M3', remit_id, staff, notified_at + make_interval(days => $2::int), "
    "  jsonb_build_object('buyer_id', buyer_id, 'amount', amount::text, 'contact', "
    "  CASE WHEN overseas THEN 'online tool (overseas buyer: no phone)' "
    "  ELSE 'online tool if the buyer is online, else phone' END) FROM marked "
    "  ON CONFLICT (rule, subject_id) DO NOTHING RETURNING subject_id, actor, deadline, detail), "
    "a AS (INSERT INTO alerts (kind, rule, subject_id, reason, payload) "
    "  SELECT 'breach', 'M3', subject_id, "
    "  'remittance not verified ' || $2 || ' day(s) after the notice: ' || actor || "
    "  ' to contact buyer ' || (detail->>'buyer_id'), "
    "  jsonb_build_object('kind', 'breach', 'rule', 'M3', 'subject_id', subject_id, 'reason', "
    "  'remittance not verified ' || $2 || ' day(s) after the notice: ' || actor || "
    "  ' to contact buyer ' || (detail->>'buyer_id'), 'at', now(), 'staff', actor, 'contact', "
    "  detail->>'contact', 'deadline', deadline) FROM b "
    "  ON CONFLICT (rule, subject_id, kind) DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM a), $3::text IS NOT NULL, $4::text IS NOT NULL";

/* T1: a paid order not shipped by the end of its ship-by day (shop time). */
static const char t1_sql[] =
    "WITH due AS (SELECT order_id FROM orders WHERE shipped_at IS NULL AND NOT closed "
    "  AND ship_by IS NOT NULL AND t1_breached_at IS NULL "
    "  AND ship_by < (now() AT TIME ZONE $3::text)::date "
    "  ORDER BY ship_by LIMIT $1::int FOR UPDATE SKIP LOCKED), "
    "marked AS (UPDATE orders o SET t1_breached_at = now() FROM due "
    "  WHERE o.order_id = due.order_id RETURNING o.order_id, o.shop_id, o.ship_by), "
    "b AS (INSERT INTO breaches (rule, subject_id, actor, deadline, detail) "
    "  SELECT 'T1', order_id, NULL, ((ship_by + 1)::timestamp AT TIME ZONE $3::text), "
    "  jsonb_build_object('shop_id', shop_id, 'ship_by', ship_by) FROM marked "
    "  ON CONFLICT (rule, subject_id) DO NOTHING RETURNING subject_id, deadline, detail), "
    "a AS (INSERT INTO alerts (kind, rule, subject_id, reason, payload) "
    "  SELECT 'breach', 'T1', subject_id, 'not shipped by ' || (detail->>'ship_by'), "
    "  jsonb_build_object('kind', 'breach', 'rule', 'T1', 'subject_id', subject_id, 'reason', "
    "  'not shipped by ' || (detail->>'ship_by'), 'at', now(), 'deadline', deadline) FROM b "
    "  ON CONFLICT (rule, subject_id, kind) DO NOTHING RETURNING 1) "
    "SELECT (SELECT count(*) FROM a), $2::int IS NOT NULL, $4::text IS NOT NULL";

/* R5: once the shift start (SHIFT_START, shop time) has passed, a breach and an alert for a
 * day on which no recharge processor was online at the shift start, and for each expected
 * processor that was not (recharge_check_readiness, 0004_recharge.sql: idempotent, the
 * processors table is small). recharge-worker checks the same with its heartbeats; the
 * sweeper makes sure it is checked when no desk is running at all — which is exactly the
 * day R5 is about. A shop without a recharge desk (no processor ever registered) is not
 * checked. Online means a heartbeat within 15 s (3 × recharge-worker's default
 * RECHARGE_HEARTBEAT_S). */
static const char r5_sql[] = "SELECT CASE WHEN EXISTS (SELECT 1 FROM processors) "
                             "  THEN recharge_check_readiness($4::text, $3::text, 15) ELSE 0 END, "
                             "  $1::int IS NOT NULL, $2::int IS NOT NULL";

const deadline_rule deadline_rules[] = {
    {"M3", "remittance notices not verified in time", m3_sql},
    {"T1", "paid orders not shipped by their ship-by day", t1_sql},
    {"R5", "recharge processors not online at the shift start", r5_sql},
};
const size_t deadline_rule_count = sizeof deadline_rules / sizeof deadline_rules[0];

int deadline_sweep(of_db *db, const of_config *cfg, const deadline_rule *r, int limit, long *found,
                   of_error *err)
{
    char lim[16], days[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(days, sizeof days, "%d", cfg->remittance_verify_days);
    const char *p[] = {lim, days, cfg->shop_tz, cfg->shift_start};
    PGresult *res = of_db_exec(db, r->sql, 4, p, err);
    if (!res)
        return -1;
    *found = PQntuples(res) ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return 0;
}
