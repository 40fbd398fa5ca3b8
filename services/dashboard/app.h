/* app.h — the dashboard process: its configuration, the PostgreSQL connection pool the
 * request threads share, and the Kafka producer through which actions are published as
 * events (so they go through the same rules as a shop's events). */
#ifndef DASH_APP_H
#define DASH_APP_H

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>

#include "config.h"
#include "dashboard_config.h"
#include "http.h" /* dash_app */
#include "of_error.h"

typedef struct dash_pool dash_pool; /* db_pool.c */

struct dash_app {
    of_config cfg;    /* the common settings (DATABASE_URL, KAFKA_BOOTSTRAP, SHOP_TZ…) */
    dash_config dcfg; /* the dashboard's own (DASHBOARD_*) */
    dash_pool *pool;
    rd_kafka_t *producer; /* NULL until the first action needs it; see app_producer() */
};

/* A connection from the pool (blocks up to 2 s); NULL with err when none is free or the
 * database is unreachable. Sessions run with TimeZone UTC and the statement timeout. */
PGconn *dash_pool_take(dash_pool *p, of_error *err);
/* Gives it back; broken = the connection failed and must be replaced. */
void dash_pool_give(dash_pool *p, PGconn *c, int broken);

/* The producer, created on first use (thread-safe). NULL with err when Kafka is not
 * configured or the client cannot be created. */
rd_kafka_t *dash_app_producer(dash_app *app, of_error *err);

/* ---- set-up and shutdown (main.c) ---- */
/* A pool of size connections, opened on demand (so the dashboard starts while PostgreSQL is
 * down). NULL only when out of memory. */
dash_pool *dash_pool_new(const char *url, int size, int statement_timeout_ms);
void dash_pool_free(dash_pool *p); /* NULL allowed; every connection must have been given */
/* false after the last connection attempt or statement on a pooled connection failed */
int dash_pool_reachable(dash_pool *p);
/* Flushes (up to 5 s) and destroys the producer when one was created. */
void dash_app_close(dash_app *app);

#endif
