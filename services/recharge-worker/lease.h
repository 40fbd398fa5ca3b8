/* lease.h — the recharge lease (SPEC R1) as a C API, for every processor: recharge-worker's
 * automated desk (desk.c) and staff at the dashboard. The protocol itself is the set of
 * SQL functions of schemas/sql/0004_recharge.sql (recharge_lock, _renew, _finish,
 * _release, _heartbeat, _check_readiness, _resolve; lock and finish rewritten cheaper, same
 * signatures, in 0006_recharge_faster.sql), so every program speaks the same one;
 * lease_store.c calls them with parameters only.
 *
 * A lease is an order locked for one processor until lock_expires_at (the DATABASE clock)
 * with a fencing token. Renew it only while work on the order is really in progress; every
 * later write names the token, and a write with an old token or an expired lease changes
 * nothing: the call reports it as refused (its `accepted`/`renewed` flag stays false). */
#ifndef LEASE_H
#define LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

typedef struct lease_params {
    const char *processor;  /* name in processors; NULL in lease_finish = the provider's word */
    const char *kind;       /* "worker" or "staff" (heartbeats) */
    double lease_s;         /* LOCK_WINDOW_S */
    double result_window_s; /* RESULT_WINDOW_S (R3) */
    double gap_s;           /* R2 next-lock gap */
    const char *tz;         /* SHOP_TZ: the day of the daily record */
} lease_params;

typedef struct lease {
    char order_id[72];
    long long token;
    char attempt_id[80];
    bool fresh; /* true: a new attempt, POST it; false: reconcile it first (GET status, R7) */
    char account[72];
    char product[136];
    char face_value[40];
    bool retaken; /* the order's previous lease had expired (an R1 breach) */
} lease;

typedef struct lease_ref {
    const char *order_id;
    long long token;
} lease_ref;

typedef struct lease_outcome {
    const char *order_id;
    long long token;
    const char *state;        /* succeeded, failed or suspended */
    const char *result;       /* success, failed, unknown or pending */
    const char *provider_ref; /* may be NULL */
    const char *attempt_id;   /* NULL: the order's current attempt */
    long long age_ms;         /* how long ago the result arrived (R3) */
    const char *result_time;  /* RFC 3339 time of the result instead of age_ms, or NULL */
    const char *why;          /* suspension reason, or NULL */
    bool accepted;            /* out: the write was made (false: refused by fencing) */
    bool late;                /* out: accepted, but after the result window (R3 breach) */
} lease_outcome;

/* Says the processor is online (R5). expected: 1/0 sets the flag, -1 keeps it. */
int lease_heartbeat(of_db *db, const lease_params *p, double timeout_s, int expected,
                    of_error *err) OF_MUST_CHECK;
/* The processor goes offline on purpose. */
int lease_offline(of_db *db, const lease_params *p, of_error *err) OF_MUST_CHECK;

/* Takes up to max orders; *n receives how many (out holds at least max). */
int lease_lock(of_db *db, const lease_params *p, int max, lease *out, int *n,
               of_error *err) OF_MUST_CHECK;

/* Renews the leases; renewed[i] tells whether refs[i] is still held. */
int lease_renew(of_db *db, const lease_params *p, const lease_ref *refs, size_t n, bool *renewed,
                of_error *err) OF_MUST_CHECK;

/* Commits outcomes (each one's `accepted` is set). *alerts (may be NULL) receives how many
 * alerts were queued (R3 breaches, R4 suspensions). */
int lease_finish(of_db *db, const lease_params *p, lease_outcome *o, size_t n, int *alerts,
                 of_error *err) OF_MUST_CHECK;

/* R3 for a result whose write was refused (the lease had expired) when it is older than the
 * result window; *recorded tells whether the breach is new. */
int lease_late_result(of_db *db, const lease_params *p, const lease_outcome *o, bool *recorded,
                      of_error *err) OF_MUST_CHECK;

/* Gives leases back to the queue; released[i] (may be NULL) as in lease_renew. */
int lease_release(of_db *db, const lease_params *p, const lease_ref *refs, size_t n, bool *released,
                  of_error *err) OF_MUST_CHECK;

/* R5: records missing readiness once today's shift start (HH:MM, SHOP_TZ) has passed. */
int lease_check_readiness(of_db *db, const char *shift_start, const char *tz, double timeout_s,
                          int *found, of_error *err) OF_MUST_CHECK;

/* A staff member settles a suspended order: outcome success, failed or retry. state receives
 * the new state, or "" when the order was not suspended. */
int lease_resolve(of_db *db, const char *staff, const char *order_id, const char *outcome,
                  const char *provider_ref, const char *tz, char *state, size_t statesz,
                  of_error *err) OF_MUST_CHECK;

/* Records the shop's time zone for the views (recharge_daily_v). */
int lease_settings(of_db *db, const char *tz, of_error *err) OF_MUST_CHECK;

#endif
