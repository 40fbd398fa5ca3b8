/* db_pool.c — the PostgreSQL connections the request threads share (see app.h). A fixed
 * number of slots; a slot is connected when first taken (or again after its connection
 * broke), so the dashboard starts and answers 503 while the database is down. Every session
 * runs with TimeZone UTC (timestamps in answers are UTC), the statement timeout and no JIT. */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"

struct dash_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *url;
    int timeout_ms;
    int size;
    int nfree;
    PGconn **free_conns; /* stack of free slots; NULL = a slot not connected */
    atomic_int reachable;
};

dash_pool *dash_pool_new(const char *url, int size, int statement_timeout_ms)
{
    dash_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->url = strdup(url);
    p->free_conns = calloc((size_t)size, sizeof(PGconn *));
    if (!p->url || !p->free_conns) {
        free(p->url);
        free(p->free_conns);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    p->size = size;
    p->nfree = size;
    p->timeout_ms = statement_timeout_ms;
    atomic_store(&p->reachable, 1);
    return p;
}

void dash_pool_free(dash_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nfree; i++)
        if (p->free_conns[i])
            PQfinish(p->free_conns[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->freed);
    free(p->free_conns);
    free(p->url);
    free(p);
}

int dash_pool_reachable(dash_pool *p)
{
    return atomic_load(&p->reachable);
}

static int session_setup(PGconn *c, int timeout_ms, of_error *err)
{
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    const char *params[] = {timeout};
    PGresult *r = PQexecParams(c,
                               "SELECT set_config('statement_timeout', $1, false), "
                               "set_config('TimeZone', 'UTC', false), "
                               /* short indexed queries: compiling them costs more than it saves */
                               "set_config('jit', 'off', false)",
                               1, NULL, params, NULL, NULL, 0);
    int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        of_error_set(err, "cannot set up a PostgreSQL session: %s", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

static PGconn *connect_one(dash_pool *p, of_error *err)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {p->url, "orderflow-dashboard", "3", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        of_error_set(err, "cannot connect to PostgreSQL: %s",
                     c ? PQerrorMessage(c) : "out of memory");
        size_t n = err ? strlen(err->msg) : 0;
        if (n && err->msg[n - 1] == '\n')
            err->msg[n - 1] = '\0';
        PQfinish(c);
        return NULL;
    }
    if (session_setup(c, p->timeout_ms, err)) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Whether an idle pooled connection has input waiting: nothing is sent to an idle session
 * but a server closing it (restart, pg_terminate_backend: an error, then end of file), so it
 * is replaced now rather than failing the request's first query. */
static bool idle_input(PGconn *c)
{
    struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
    return pfd.fd < 0 || poll(&pfd, 1, 0) != 0;
}

PGconn *dash_pool_take(dash_pool *p, of_error *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 2;
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) {
        if (pthread_cond_timedwait(&p->freed, &p->mu, &deadline) != 0 && p->nfree == 0) {
            pthread_mutex_unlock(&p->mu);
            of_error_set(err, "all %d database connections are busy", p->size);
            return NULL;
        }
    }
    PGconn *c = p->free_conns[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (c && (PQstatus(c) != CONNECTION_OK || idle_input(c))) {
        PQfinish(c);
        c = NULL;
    }
    if (!c) {
        c = connect_one(p, err);
        atomic_store(&p->reachable, c != NULL);
        if (!c) {
            dash_pool_give(p, NULL, 0); /* the slot goes back empty */
            return NULL;
        }
    }
    return c;
}

void dash_pool_give(dash_pool *p, PGconn *c, int broken)
{
    if (c && !broken && PQstatus(c) != CONNECTION_OK)
        broken = 1;
    if (c && !broken && PQtransactionStatus(c) != PQTRANS_IDLE) {
        /* a handler left a transaction open: end it so the next request starts clean */
        PGresult *r = PQexec(c, "ROLLBACK");
        broken = !r || PQresultStatus(r) != PGRES_COMMAND_OK;
        PQclear(r);
        if (!broken)
            of_warn("a request left a transaction open; rolled back");
    }
    if (c && broken) {
        atomic_store(&p->reachable, PQstatus(c) == CONNECTION_OK);
        PQfinish(c);
        c = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->free_conns[p->nfree++] = c;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}
