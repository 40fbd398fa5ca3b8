/* desk.c — the automated processor (see desk.h). One thread owns the jobs (one per leased
 * order), the desk's PostgreSQL connection and the alert outbox; the caller thread does the
 * HTTP and wakes it when answers are ready. Times are CLOCK_MONOTONIC µs; lease expiry
 * itself is only ever judged by PostgreSQL. */
#include "desk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "caller.h"
#include "clock.h"
#include "db.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "provider.h"

typedef enum { JOB_FREE, JOB_CALLING, JOB_WAITING, JOB_DONE } job_state;

typedef struct job {
    job_state st;
    uint32_t gen; /* tells a late reply for an earlier use of the slot */
    lease l;
    call_kind call; /* the call in flight while CALLING */
    bool posted;    /* this lease POSTed the attempt */
    bool lost;      /* a renewal was refused: the lease is gone */
    int64_t renewed_us, call_us, pending_since_us, next_poll_us, result_us;
    const char *out_state, *out_result; /* DONE: what to commit */
    char ref[129];
    char why[256];
} job;

enum { ST_SUCCESS, ST_FAILED, ST_PENDING, ST_UNKNOWN, ST_NOT_FOUND, ST_N };

struct desk {
    const of_config *cfg;
    const rc_config *rc;
    volatile sig_atomic_t *stop;
    atomic_bool stopping;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken; /* under mu */
    caller *http;
    outbox *out;
    of_db *db;
    lease_params lp;
    job *jobs;
    int njobs, active;
    int *free_slots, nfree;
    lease *taken;            /* lease_lock's buffer */
    lease_outcome *outcomes; /* lease_finish's buffer */
    lease_ref *refs;
    bool *flags;
    int *slots;
    char base_url[512];
    struct {
        of_metric *held, *taken, *retaken, *lost, *fenced, *released, *call_seconds;
        of_metric *lock_calls, *finish_calls;
        of_metric *calls[2][ST_N], *outcome[3], *r1, *r3, *r5;
    } m;
};

/* ---- waking ---------------------------------------------------------------------------- */

static void notify(void *ctx)
{
    desk *d = ctx;
    pthread_mutex_lock(&d->mu);
    d->woken = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* Waits until the monotonic time `until` (µs) or a notification. */
static void wait_until(desk *d, int64_t until)
{
    struct timespec ts = {(time_t)(until / 1000000), (long)(until % 1000000) * 1000L};
    pthread_mutex_lock(&d->mu);
    while (!d->woken && of_mono_us() < until)
        if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) != 0)
            break;
    d->woken = false;
    pthread_mutex_unlock(&d->mu);
}

static void sleep_until(int64_t until)
{
    int64_t left = until - of_mono_us();
    if (left <= 0)
        return;
    struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

/* ---- metrics --------------------------------------------------------------------------- */

static void metrics_setup(desk *d)
{
    d->m.held = of_gauge("orderflow_recharge_leases_held", "Recharge orders this desk holds", NULL);
    d->m.taken = of_counter("orderflow_recharge_leases_taken_total", "Leases taken (R1)", NULL);
    d->m.lock_calls = of_counter("orderflow_recharge_lock_calls_total",
                                 "Lock statements that took at least one order (batching)", NULL);
    d->m.finish_calls = of_counter("orderflow_recharge_finish_calls_total",
                                   "Statements committing outcomes (batching)", NULL);
    d->m.retaken = of_counter("orderflow_recharge_leases_retaken_total",
                              "Leases taken over after the previous holder's had expired", NULL);
    d->m.lost =
        of_counter("orderflow_recharge_leases_lost_total",
                   "Renewals refused: this desk's lease had expired or was taken over", NULL);
    d->m.fenced = of_counter("orderflow_recharge_fenced_writes_total",
                             "Outcomes refused by the fencing token (late writes)", NULL);
    d->m.released = of_counter("orderflow_recharge_leases_released_total",
                               "Leases given back to the queue (stopping)", NULL);
    static const double call_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                          0.5,   1,    2.5,   5,    10,    30};
    d->m.call_seconds =
        of_histogram("orderflow_recharge_provider_call_seconds", "Provider call time", NULL,
                     call_buckets, sizeof call_buckets / sizeof call_buckets[0]);
    static const char *const kinds[] = {"recharge", "status"};
    static const char *const sts[] = {"success", "failed", "pending", "unknown", "not_found"};
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < ST_N; s++) {
            char l[80];
            snprintf(l, sizeof l, "call=\"%s\",status=\"%s\"", kinds[k], sts[s]);
            d->m.calls[k][s] = of_counter("orderflow_recharge_provider_calls_total",
                                          "Provider calls by kind and answer", l);
        }
    static const char *const outs[] = {"succeeded", "failed", "suspended"};
    for (int i = 0; i < 3; i++) {
        char l[40];
        snprintf(l, sizeof l, "state=\"%s\"", outs[i]);
        d->m.outcome[i] = of_counter("orderflow_recharge_outcomes_total",
                                     "Recharge outcomes committed by this desk", l);
    }
    d->m.r1 = of_counter("orderflow_recharge_breaches_total", "Recharge breaches seen by this desk",
                         "rule=\"R1\"");
    d->m.r3 = of_counter("orderflow_recharge_breaches_total", "Recharge breaches seen by this desk",
                         "rule=\"R3\"");
    d->m.r5 = of_counter("orderflow_recharge_breaches_total", "Recharge breaches seen by this desk",
                         "rule=\"R5\"");
}

/* ---- jobs ------------------------------------------------------------------------------ */

static job *job_new(desk *d, const lease *l, int64_t now)
{
    if (d->nfree == 0)
        return NULL;
    int slot = d->free_slots[--d->nfree];
    job *j = &d->jobs[slot];
    uint32_t gen = j->gen + 1;
    memset(j, 0, sizeof *j);
    j->gen = gen;
    j->l = *l;
    j->renewed_us = now;
    d->active++;
    return j;
}

static void job_free(desk *d, job *j)
{
    j->st = JOB_FREE;
    j->gen++;
    d->free_slots[d->nfree++] = (int)(j - d->jobs);
    d->active--;
}

static void done(job *j, const char *state, const char *result, const char *ref, const char *why,
                 int64_t at_us)
{
    j->st = JOB_DONE;
    j->out_state = state;
    j->out_result = result;
    snprintf(j->ref, sizeof j->ref, "%s", ref ? ref : "");
    snprintf(j->why, sizeof j->why, "%s", why ? why : "");
    j->result_us = at_us;
}

static void start_call(desk *d, job *j, call_kind kind, int64_t now)
{
    char url[700];
    char *body = NULL;
    int bad =
        provider_url(d->base_url, kind == CALL_STATUS ? j->l.attempt_id : NULL, url, sizeof url);
    if (!bad && kind == CALL_RECHARGE) {
        body = provider_request_body(j->l.attempt_id, j->l.order_id, j->l.account, j->l.product,
                                     j->l.face_value);
        bad = !body;
    }
    uint64_t tag = ((uint64_t)j->gen << 32) | (uint64_t)(j - d->jobs);
    if (bad || caller_submit(d->http, tag, kind, url, body, d->rc->call_timeout_ms)) {
        free(body);
        done(j, "suspended", "unknown", NULL, "the provider could not be called (out of memory)",
             now);
        return;
    }
    free(body);
    j->st = JOB_CALLING;
    j->call = kind;
    j->call_us = now;
    if (kind == CALL_RECHARGE)
        j->posted = true;
}

static void on_provider_reply(desk *d, job *j, const call_reply *r)
{
    provider_http in = {.transport_failed = r->curl_code != 0,
                        .timed_out = r->timed_out,
                        .error = r->error,
                        .timeout_ms = d->rc->call_timeout_ms,
                        .http_status = r->http_status,
                        .body = r->body,
                        .len = r->len,
                        .status_query = r->kind == CALL_STATUS};
    provider_answer a;
    provider_parse(&in, &a);
    int k = r->kind == CALL_STATUS ? 1 : 0;
    of_metric_add(d->m.calls[k][a.status], 1);
    of_metric_observe(d->m.call_seconds, (double)(r->done_us - j->call_us) / 1e6);
    int64_t now = of_mono_us();
    switch (a.status) {
    case PROVIDER_SUCCESS:
        done(j, "succeeded", "success", a.ref, NULL, r->done_us);
        break;
    case PROVIDER_FAILED:
        done(j, "failed", "failed", a.ref, NULL, r->done_us);
        break;
    case PROVIDER_NOT_FOUND:
        if (!j->posted) {
            /* R7: the provider never received this attempt: send it, under the same id (a
             * late copy from the previous holder is then the same top-up) */
            of_info("order %s: attempt %s unknown to the provider; sending it", j->l.order_id,
                    j->l.attempt_id);
            start_call(d, j, CALL_RECHARGE, now);
        } else {
            done(j, "suspended", "unknown", a.ref,
                 "status query: the provider has no record of the attempt it was sent", r->done_us);
        }
        break;
    case PROVIDER_PENDING:
        if (!j->pending_since_us)
            j->pending_since_us = r->done_us;
        if (now - j->pending_since_us >= (int64_t)d->rc->pending_max_s * 1000000) {
            char why[160];
            snprintf(why, sizeof why, "still pending after %d s", d->rc->pending_max_s);
            done(j, "suspended", "pending", a.ref, why, r->done_us);
        } else {
            j->st = JOB_WAITING;
            j->next_poll_us = now + (int64_t)d->rc->pending_poll_ms * 1000;
        }
        break;
    case PROVIDER_UNKNOWN:
        done(j, "suspended", "unknown", a.ref, a.why, r->done_us);
        break;
    }
}

static void collect_replies(desk *d)
{
    call_reply *rs = NULL;
    size_t n = caller_take(d->http, &rs);
    for (size_t i = 0; i < n; i++) {
        const call_reply *r = &rs[i];
        if (r->kind == CALL_WEBHOOK) {
            outbox_on_reply(d->out, r);
            continue;
        }
        uint32_t slot = (uint32_t)(r->tag & 0xffffffffu), gen = (uint32_t)(r->tag >> 32);
        if (slot >= (uint32_t)d->njobs)
            continue;
        job *j = &d->jobs[slot];
        if (j->gen == gen && j->st == JOB_CALLING)
            on_provider_reply(d, j, r);
    }
    call_replies_free(rs, n);
}

/* WAITING jobs: poll the provider again, or give up (suspend) past the pending bound. A call
 * whose reply never came back from the HTTP thread (it could not be recorded) is given up
 * too, so its lease is not renewed for ever. */
static void poll_waiting(desk *d, int64_t now, bool draining)
{
    int64_t lost_after = ((int64_t)d->rc->call_timeout_ms + 5000) * 1000;
    for (int i = 0; i < d->njobs; i++) {
        job *j = &d->jobs[i];
        if (j->st == JOB_CALLING && now - j->call_us > lost_after) {
            done(j, "suspended", "unknown", NULL, "no answer recorded for the provider call", now);
            continue;
        }
        if (j->st != JOB_WAITING)
            continue;
        if (j->lost) {
            of_warn("order %s: lease lost while the provider said pending; left to the next "
                    "holder",
                    j->l.order_id);
            job_free(d, j);
        } else if (now - j->pending_since_us >= (int64_t)d->rc->pending_max_s * 1000000) {
            char why[160];
            snprintf(why, sizeof why, "still pending after %d s", d->rc->pending_max_s);
            done(j, "suspended", "pending", NULL, why, now);
        } else if (!draining && now >= j->next_poll_us) {
            start_call(d, j, CALL_STATUS, now);
        }
    }
}

/* ---- database work --------------------------------------------------------------------- */

static int commit(desk *d, bool *alerts_queued, of_error *err)
{
    int n = 0;
    int64_t now = of_mono_us();
    for (int i = 0; i < d->njobs; i++) {
        job *j = &d->jobs[i];
        if (j->st != JOB_DONE)
            continue;
        d->outcomes[n] = (lease_outcome){.order_id = j->l.order_id,
                                         .token = j->l.token,
                                         .state = j->out_state,
                                         .result = j->out_result,
                                         .provider_ref = j->ref,
                                         .attempt_id = j->l.attempt_id,
                                         .age_ms = (now - j->result_us) / 1000,
                                         .why = j->why[0] ? j->why : NULL};
        d->slots[n++] = i;
    }
    if (n == 0)
        return 0;
    int alerts = 0;
    if (lease_finish(d->db, &d->lp, d->outcomes, (size_t)n, &alerts, err))
        return -1;
    of_metric_add(d->m.finish_calls, 1);
    if (alerts)
        *alerts_queued = true;
    for (int k = 0; k < n; k++) {
        lease_outcome *o = &d->outcomes[k];
        job *j = &d->jobs[d->slots[k]];
        if (o->accepted) {
            int s = strcmp(o->state, "succeeded") == 0 ? 0
                    : strcmp(o->state, "failed") == 0  ? 1
                                                       : 2;
            of_metric_add(d->m.outcome[s], 1);
            if (o->late)
                of_metric_add(d->m.r3, 1);
            if (s == 2)
                of_info("order %s suspended: %s", o->order_id, o->why ? o->why : "");
        } else {
            of_metric_add(d->m.fenced, 1);
            of_warn("order %s: late write refused by the fencing token %lld (the lease expired, "
                    "was taken over, or the order was settled meanwhile); the provider's %s for "
                    "attempt %s is left to the order's current holder",
                    o->order_id, o->token, o->result, j->l.attempt_id);
            bool recorded = false;
            of_error e2;
            if (o->age_ms > (long long)d->cfg->result_window_s * 1000) {
                if (lease_late_result(d->db, &d->lp, o, &recorded, &e2))
                    of_warn("order %s: R3 breach not recorded: %s", o->order_id, e2.msg);
                if (recorded) {
                    of_metric_add(d->m.r3, 1);
                    *alerts_queued = true;
                }
            }
        }
        job_free(d, j);
    }
    return 0;
}

static int renew(desk *d, int64_t now, of_error *err)
{
    int64_t every = (int64_t)d->cfg->lock_window_s * 1000000 / 3;
    int n = 0;
    for (int i = 0; i < d->njobs; i++) {
        job *j = &d->jobs[i];
        if ((j->st == JOB_CALLING || j->st == JOB_WAITING) && !j->lost &&
            now - j->renewed_us >= every) {
            d->refs[n] = (lease_ref){j->l.order_id, j->l.token};
            d->slots[n++] = i;
        }
    }
    if (n == 0)
        return 0;
    if (lease_renew(d->db, &d->lp, d->refs, (size_t)n, d->flags, err))
        return -1;
    for (int k = 0; k < n; k++) {
        job *j = &d->jobs[d->slots[k]];
        if (d->flags[k]) {
            j->renewed_us = now;
            continue;
        }
        j->lost = true;
        of_metric_add(d->m.lost, 1);
        of_warn("order %s: renewal refused (lease with token %lld expired or taken over)",
                j->l.order_id, j->l.token);
    }
    return 0;
}

/* Releases the leases of jobs in the given states (draining). */
static int release(desk *d, bool calling_too, of_error *err)
{
    int n = 0;
    for (int i = 0; i < d->njobs; i++) {
        job *j = &d->jobs[i];
        if (j->st == JOB_WAITING || (calling_too && j->st == JOB_CALLING)) {
            d->refs[n] = (lease_ref){j->l.order_id, j->l.token};
            d->slots[n++] = i;
        }
    }
    if (n == 0)
        return 0;
    if (lease_release(d->db, &d->lp, d->refs, (size_t)n, d->flags, err))
        return -1;
    for (int k = 0; k < n; k++) {
        job *j = &d->jobs[d->slots[k]];
        if (d->flags[k]) {
            of_metric_add(d->m.released, 1);
            of_info("order %s released to the queue (attempt %s to be reconciled)", j->l.order_id,
                    j->l.attempt_id);
        }
        job_free(d, j);
    }
    return 0;
}

static int take(desk *d, int64_t now, int64_t *next_lock, of_error *err)
{
    int want = d->njobs - d->active, got = 0;
    if (lease_lock(d->db, &d->lp, want, d->taken, &got, err))
        return -1;
    if (got > 0)
        of_metric_add(d->m.lock_calls, 1);
    for (int i = 0; i < got; i++) {
        job *j = job_new(d, &d->taken[i], now);
        if (!j)
            break; /* cannot happen: want counted the free slots */
        of_metric_add(d->m.taken, 1);
        if (j->l.retaken) {
            of_metric_add(d->m.retaken, 1);
            of_metric_add(d->m.r1, 1);
        }
        /* R7: a new attempt is sent; an existing one is reconciled first */
        start_call(d, j, j->l.fresh ? CALL_RECHARGE : CALL_STATUS, now);
    }
    *next_lock = got == want ? now : now + (int64_t)d->rc->idle_poll_ms * 1000;
    return 0;
}

static int heartbeat(desk *d, bool *alerts_queued, of_error *err)
{
    double timeout = 3.0 * d->rc->heartbeat_s;
    int found = 0;
    if (lease_heartbeat(d->db, &d->lp, timeout, d->rc->expected, err) ||
        lease_check_readiness(d->db, d->cfg->shift_start, d->cfg->shop_tz, timeout, &found, err))
        return -1;
    if (found) {
        of_metric_add(d->m.r5, found);
        of_warn("R5: %d processor(s) missing at the shift start %s", found, d->cfg->shift_start);
        *alerts_queued = true;
    }
    return 0;
}

/* ---- the thread ------------------------------------------------------------------------ */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* When the next timed duty of the jobs falls due. */
static int64_t jobs_next_due(const desk *d, int64_t until)
{
    int64_t every = (int64_t)d->cfg->lock_window_s * 1000000 / 3;
    for (int i = 0; i < d->njobs; i++) {
        const job *j = &d->jobs[i];
        if (j->st == JOB_WAITING)
            until = min64(until, j->next_poll_us);
        if ((j->st == JOB_CALLING || j->st == JOB_WAITING) && !j->lost)
            until = min64(until, j->renewed_us + every);
    }
    return until;
}

static bool any_done(const desk *d)
{
    for (int i = 0; i < d->njobs; i++)
        if (d->jobs[i].st == JOB_DONE)
            return true;
    return false;
}

static void *run(void *arg)
{
    desk *d = arg;
    int64_t next_lock = 0, next_hb = 0, next_alerts = 0, db_retry_at = 0, drain_deadline = 0;
    int db_attempt = 0;
    bool registered = false, claim_now = false;
    of_info("desk %s: up to %d orders at a time, lease %d s", d->lp.processor, d->njobs,
            d->cfg->lock_window_s);
    for (;;) {
        int64_t round = of_mono_us();
        bool draining = *d->stop || atomic_load(&d->stopping);
        if (draining && !drain_deadline) {
            drain_deadline = round + ((int64_t)d->rc->call_timeout_ms + 1000) * 1000;
            of_info("desk %s stopping: %d order(s) in progress", d->lp.processor, d->active);
        }
        collect_replies(d);
        poll_waiting(d, round, draining);
        if (round >= db_retry_at) {
            of_error e;
            int failed = of_db_ensure(d->db, &e);
            if (!failed && !registered) {
                failed = lease_settings(d->db, d->cfg->shop_tz, &e) || heartbeat(d, &claim_now, &e);
                if (!failed) {
                    registered = true;
                    next_hb = round + (int64_t)d->rc->heartbeat_s * 1000000;
                }
            }
            if (!failed)
                failed = commit(d, &claim_now, &e);
            if (!failed)
                failed = renew(d, round, &e);
            if (!failed && draining)
                failed = release(d, round >= drain_deadline, &e);
            if (!failed && !draining && round >= next_lock && d->active < d->njobs)
                failed = take(d, round, &next_lock, &e);
            if (!failed && round >= next_hb) {
                failed = heartbeat(d, &claim_now, &e);
                next_hb = round + (int64_t)d->rc->heartbeat_s * 1000000;
            }
            bool claim = claim_now || round >= next_alerts;
            if (!failed && (claim || outbox_busy(d->out))) {
                int sent = 0;
                failed = outbox_run(d->out, d->db, claim, &sent, &e);
                if (!failed && claim) {
                    claim_now = false;
                    next_alerts = round + (int64_t)d->rc->alert_poll_ms * 1000;
                }
            }
            if (failed) {
                int64_t delay = 100000LL << (db_attempt < 6 ? db_attempt : 6);
                db_attempt++;
                db_retry_at = of_mono_us() + (delay > 5000000 ? 5000000 : delay);
                of_warn("desk %s: database work failed, retrying: %s", d->lp.processor, e.msg);
            } else {
                db_attempt = 0;
            }
        }
        of_metric_set(d->m.held, d->active);
        if (draining && d->active == 0 && (outbox_busy(d->out) == 0 || round >= drain_deadline))
            break;
        /* sleep until the next duty, a reply, or a stop */
        int64_t wake = round + 1000000;
        if (!draining && d->active < d->njobs)
            wake = min64(wake, next_lock);
        wake = min64(wake, next_hb);
        wake = min64(wake, next_alerts);
        if (claim_now || any_done(d))
            wake = round;
        if (outbox_busy(d->out))
            wake = min64(wake, round + 10000);
        wake = jobs_next_due(d, wake);
        wake = db_retry_at > round ? db_retry_at : wake;
        int64_t tick = round + (int64_t)d->rc->tick_ms * 1000;
        if (draining)
            wake = min64(wake, round + 50000);
        wait_until(d, wake < tick ? tick : wake);
        sleep_until(tick); /* batch: at most one round per tick */
    }
    of_error e;
    if (of_db_ensure(d->db, &e) == 0 && lease_offline(d->db, &d->lp, &e) == 0)
        of_info("desk %s stopped", d->lp.processor);
    else
        of_warn("desk %s stopped; could not record it: %s", d->lp.processor, e.msg);
    return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

static void desk_free(desk *d)
{
    caller_free(d->http); /* first: no more notifications */
    outbox_free(d->out);
    of_db_free(d->db);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->jobs);
    free(d->free_slots);
    free(d->taken);
    free(d->outcomes);
    free(d->refs);
    free(d->flags);
    free(d->slots);
    free(d);
}

desk *desk_start(const of_config *cfg, const rc_config *rc, volatile sig_atomic_t *stop,
                 of_error *err)
{
    desk *d = calloc(1, sizeof *d);
    if (!d) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    d->cfg = cfg;
    d->rc = rc;
    d->stop = stop;
    atomic_init(&d->stopping, false);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    d->njobs = rc->concurrency;
    size_t n = (size_t)d->njobs;
    d->jobs = calloc(n, sizeof *d->jobs);
    d->free_slots = calloc(n, sizeof *d->free_slots);
    d->taken = calloc(n, sizeof *d->taken);
    d->outcomes = calloc(n, sizeof *d->outcomes);
    d->refs = calloc(n, sizeof *d->refs);
    d->flags = calloc(n, sizeof *d->flags);
    d->slots = calloc(n, sizeof *d->slots);
    if (!d->jobs || !d->free_slots || !d->taken || !d->outcomes || !d->refs || !d->flags ||
        !d->slots) {
        desk_free(d);
        of_error_set(err, "out of memory");
        return NULL;
    }
    for (int i = d->njobs - 1; i >= 0; i--)
        d->free_slots[d->nfree++] = i;
    snprintf(d->base_url, sizeof d->base_url, "%s", cfg->recharge_provider_url);
    d->lp = (lease_params){.processor = rc->processor,
                           .kind = "worker",
                           .lease_s = cfg->lock_window_s,
                           .result_window_s = cfg->result_window_s,
                           .gap_s = rc->gap_s,
                           .tz = cfg->shop_tz};
    metrics_setup(d);
    char app[160];
    snprintf(app, sizeof app, "recharge-desk %s", rc->processor);
    d->db = of_db_new(cfg->database_url, cfg->db_statement_timeout_ms, app);
    d->http = caller_new(d->njobs + 16, notify, d, err);
    if (!d->db || !d->http) {
        if (!d->db)
            of_error_set(err, "out of memory");
        desk_free(d);
        return NULL;
    }
    d->out = outbox_new(cfg, d->http, rc->webhook_timeout_ms, err);
    if (!d->out) {
        desk_free(d);
        return NULL;
    }
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        desk_free(d);
        of_error_set(err, "cannot start the desk thread");
        return NULL;
    }
    d->started = true;
    return d;
}

void desk_stop(desk *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    notify(d);
    if (d->started)
        pthread_join(d->thread, NULL);
    desk_free(d);
}
