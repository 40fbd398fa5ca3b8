/* sse.c — the live-updates stream (see sse.h). The poller thread owns the fingerprints and
 * versions; streams only read them under the mutex and wait on one condition variable that
 * the poller broadcasts when something changed or the server stops. Each stream runs in its
 * connection's own thread (libmicrohttpd thread per connection), so it may block there. */
#include "sse.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define KEEPALIVE_S 15

enum { T_DESK, T_ALERTS, T_BREACHES, T_TASKS, T_DEADLETTERS, NTOPIC };
static const char *const topic_names[NTOPIC] = {"desk", "alerts", "breaches", "tasks",
                                                "deadletters"};

/* One query for every part, each over an index: the id sequences only grow, the recharge
 * queue and suspended orders are partial indexes; a task appears (max task_id) or is closed
 * (max closed_at, tasks_closed — a closure back-dated before the latest one is seen at the
 * next reload only). Nothing here counts a big table: it runs every DASHBOARD_LIVE_POLL_MS. */
static const char fingerprint_sql[] =
    "SELECT "
    "(SELECT count(*) || ':' || coalesce(sum(lock_token), 0) || ':' || "
    "coalesce(max(updated_at)::text, '') FROM recharges WHERE state IN ('queued', 'locked')) "
    "|| '/' || (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') "
    "FROM recharges WHERE state = 'suspended'), "
    "(SELECT coalesce(max(alert_id), 0) FROM alerts)::text, "
    "(SELECT coalesce(max(breach_id), 0) FROM breaches)::text, "
    "(SELECT coalesce(max(task_id), 0) FROM tasks) || ':' || "
    "coalesce((SELECT max(closed_at) FROM tasks WHERE closed_at IS NOT NULL)::text, ''), "
    "(SELECT coalesce(max(dl_id), 0) FROM dead_letters)::text, "
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    long long version[NTOPIC];
    char fp[NTOPIC][160];
    char at[NTOPIC][40];
    bool have_fp;
    bool stopping;
    bool started;
    pthread_t thread;
    dash_app *app;
    atomic_bool db_ok;
    atomic_int streams;
} live = {.mu = PTHREAD_MUTEX_INITIALIZER};

static of_metric *m_streams, *m_events;

bool dash_live_db_ok(void)
{
    return atomic_load(&live.db_ok);
}

static void deadline_after_ms(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits up to ms or until stopping; called and returns with the mutex held. */
static void wait_ms(long ms)
{
    struct timespec ts;
    deadline_after_ms(&ts, ms);
    while (!live.stopping && pthread_cond_timedwait(&live.cond, &live.mu, &ts) == 0)
        ;
}

static void poll_once(of_db *db, int *fails)
{
    of_error err;
    if (of_db_ensure(db, &err)) {
        if ((*fails)++ % 40 == 0)
            of_warn("live updates: %s", err.msg);
        atomic_store(&live.db_ok, false);
        return;
    }
    PGresult *r = of_db_exec(db, fingerprint_sql, 0, NULL, &err);
    if (!r) {
        if ((*fails)++ % 40 == 0)
            of_warn("live updates: %s", err.msg);
        atomic_store(&live.db_ok, of_db_reachable(db));
        return;
    }
    if (*fails)
        of_info("live updates: the database answers again");
    *fails = 0;
    atomic_store(&live.db_ok, true);
    bool changed = false;
    pthread_mutex_lock(&live.mu);
    for (int t = 0; t < NTOPIC; t++) {
        const char *v = PQgetvalue(r, 0, t);
        if (strcmp(v, live.fp[t]) == 0)
            continue;
        snprintf(live.fp[t], sizeof live.fp[t], "%s", v);
        if (live.have_fp) {
            live.version[t]++;
            snprintf(live.at[t], sizeof live.at[t], "%s", PQgetvalue(r, 0, NTOPIC));
            changed = true;
        }
    }
    live.have_fp = true;
    if (changed)
        pthread_cond_broadcast(&live.cond);
    pthread_mutex_unlock(&live.mu);
    PQclear(r);
}

static void *poller(void *arg)
{
    (void)arg;
    dash_app *app = live.app;
    of_db *db = of_db_new(app->cfg.database_url, app->cfg.db_statement_timeout_ms,
                          "orderflow-dashboard-live");
    if (!db) {
        of_err("live updates: out of memory");
        return NULL;
    }
    int fails = 0;
    pthread_mutex_lock(&live.mu);
    while (!live.stopping) {
        pthread_mutex_unlock(&live.mu);
        poll_once(db, &fails);
        pthread_mutex_lock(&live.mu);
        /* after a failure, retry no faster than once a second */
        wait_ms(fails ? (app->dcfg.live_poll_ms > 1000 ? app->dcfg.live_poll_ms : 1000)
                      : app->dcfg.live_poll_ms);
    }
    pthread_mutex_unlock(&live.mu);
    of_db_free(db);
    return NULL;
}

int dash_live_start(dash_app *app, of_error *err)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&live.cond, &ca);
    pthread_condattr_destroy(&ca);
    live.app = app;
    live.stopping = false;
    m_streams = of_gauge("dashboard_live_streams", "Open live-update (SSE) streams", NULL);
    m_events = of_counter("dashboard_live_changes_total",
                          "Changes the live-update poller found (one event per stream each)", NULL);
    if (pthread_create(&live.thread, NULL, poller, NULL) != 0)
        return of_error_set(err, "cannot start the live-updates thread");
    live.started = true;
    return 0;
}

void dash_live_end_streams(void)
{
    pthread_mutex_lock(&live.mu);
    live.stopping = true;
    pthread_cond_broadcast(&live.cond);
    pthread_mutex_unlock(&live.mu);
}

void dash_live_stop(void)
{
    dash_live_end_streams();
    if (live.started)
        pthread_join(live.thread, NULL);
    live.started = false;
}

/* ---- a stream ---- */

typedef struct stream {
    long long seen[NTOPIC];
    bool hello;
    struct timespec next_keepalive;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    if (!s->hello) {
        s->hello = true;
        deadline_after_ms(&s->next_keepalive, KEEPALIVE_S * 1000L);
        int n = snprintf(buf, max, "retry: 3000\n: connected\n\n");
        return n > 0 && (size_t)n < max ? n : 0;
    }
    size_t o = 0;
    pthread_mutex_lock(&live.mu);
    for (;;) {
        if (live.stopping) {
            pthread_mutex_unlock(&live.mu);
            return o ? (ssize_t)o : MHD_CONTENT_READER_END_OF_STREAM;
        }
        for (int t = 0; t < NTOPIC; t++) {
            if (s->seen[t] == live.version[t])
                continue;
            int n =
                snprintf(buf + o, max - o, "event: %s\ndata: {\"version\":%lld,\"at\":\"%s\"}\n\n",
                         topic_names[t], live.version[t], live.at[t]);
            if (n < 0 || (size_t)n >= max - o)
                break; /* the rest goes in the next call */
            o += (size_t)n;
            s->seen[t] = live.version[t];
            of_metric_add(m_events, 1);
        }
        if (o)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > s->next_keepalive.tv_sec ||
            (now.tv_sec == s->next_keepalive.tv_sec && now.tv_nsec >= s->next_keepalive.tv_nsec)) {
            int n = snprintf(buf, max, ": keepalive\n\n");
            o = n > 0 && (size_t)n < max ? (size_t)n : 0;
            break;
        }
        pthread_cond_timedwait(&live.cond, &live.mu, &s->next_keepalive);
    }
    pthread_mutex_unlock(&live.mu);
    deadline_after_ms(&s->next_keepalive, KEEPALIVE_S * 1000L);
    return (ssize_t)o;
}

static void stream_free(void *cls)
{
    free(cls);
    atomic_fetch_sub(&live.streams, 1);
    of_metric_add(m_streams, -1);
}

struct MHD_Response *dash_live_response(void)
{
    stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_lock(&live.mu);
    memcpy(s->seen, live.version, sizeof s->seen); /* only changes from now on */
    pthread_mutex_unlock(&live.mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r) {
        free(s);
        return NULL;
    }
    atomic_fetch_add(&live.streams, 1);
    of_metric_add(m_streams, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}

void dash_h_live(dash_req *rq, dash_resp *rs)
{
    (void)rq;
    rs->status = 200;
    rs->stream_sse = true;
}
