/* db.c — PostgreSQL connection handling (see db.h). */
#include "db.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Statements prepared per connection (the workers use about twenty; beyond this many, the
 * rest run unprepared). */
#define DB_PREPARED_MAX 64

struct of_db {
    char *url;
    char *app;
    int statement_timeout_ms;
    PGconn *conn;
    atomic_bool reachable;
    char sqlstate[6];
    char constraint[64];          /* of the last failed statement, when it names one */
    bool copy_running;            /* of_db_copy_start sent a COPY whose result is not read yet */
    bool prepare;                 /* of_db_prepare_statements: statements are prepared once */
    char *stmts[DB_PREPARED_MAX]; /* the texts prepared on this connection, as "s<i>" */
    int nstmts;
};

static void forget_prepared(of_db *db)
{
    for (int i = 0; i < db->nstmts; i++)
        free(db->stmts[i]);
    db->nstmts = 0;
}

of_db *of_db_new(const char *url, int statement_timeout_ms, const char *application_name)
{
    of_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->url = strdup(url);
    db->app = strdup(application_name);
    if (!db->url || !db->app) {
        of_db_free(db);
        return NULL;
    }
    db->statement_timeout_ms = statement_timeout_ms;
    return db;
}

void of_db_free(of_db *db)
{
    if (!db)
        return;
    if (db->conn)
        PQfinish(db->conn);
    forget_prepared(db);
    free(db->url);
    free(db->app);
    free(db);
}

void of_db_reset(of_db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->copy_running = false;
    forget_prepared(db); /* they lived in the session */
}

void of_db_prepare_statements(of_db *db)
{
    db->prepare = true;
}

bool of_db_reachable(const of_db *db)
{
    return atomic_load(&((of_db *)db)->reachable);
}

PGconn *of_db_conn(of_db *db)
{
    return db->conn;
}

const char *of_db_last_sqlstate(const of_db *db)
{
    return db->sqlstate;
}

const char *of_db_last_constraint(const of_db *db)
{
    return db->constraint;
}

static void clear_failure(of_db *db)
{
    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
}

int of_db_ensure(of_db *db, of_error *err)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    of_db_reset(db);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", db->statement_timeout_ms);
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {db->url, db->app, "5", NULL};
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        of_error_set(err, "cannot connect to PostgreSQL: %s",
                     db->conn ? PQerrorMessage(db->conn) : "out of memory");
        /* libpq messages end with a newline */
        size_t n = strlen(err ? err->msg : "");
        if (err && n && err->msg[n - 1] == '\n')
            err->msg[n - 1] = '\0';
        of_db_reset(db);
        atomic_store(&db->reachable, false);
        return -1;
    }
    atomic_store(&db->reachable, true);
    const char *p[] = {timeout};
    if (of_db_run(db, "SELECT set_config('statement_timeout', $1, false)", 1, p, err))
        return -1;
    if (of_db_run(db, "SET TIME ZONE 'UTC'", 0, NULL, err))
        return -1;
    /* prepared statements are still planned for their arguments each time: a plan made once
     * knows neither how many elements an array holds nor how large the tables grow */
    if (db->prepare && of_db_run(db, "SET plan_cache_mode = force_custom_plan", 0, NULL, err))
        return -1;
    return 0;
}

/* Records a failed result (r may be NULL) in err and sqlstate; drops a broken connection. */
static void failed(of_db *db, PGresult *r, of_error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    snprintf(db->constraint, sizeof db->constraint, "%s", constraint ? constraint : "");
    of_error_set(err, "PostgreSQL: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
    size_t n = err ? strlen(err->msg) : 0;
    if (n && err->msg[n - 1] == '\n')
        err->msg[n - 1] = '\0';
    if (PQstatus(db->conn) != CONNECTION_OK) {
        atomic_store(&db->reachable, false);
        of_db_reset(db);
    } else if (strcmp(db->sqlstate, "0A000") == 0 && db->nstmts) {
        of_db_reset(db); /* "cached plan must not change result type" (a migration ran): the
                            next session prepares the statements again */
    }
}

/* The name of prepared statement slot i. */
static void stmt_name(char name[16], int i)
{
    snprintf(name, 16, "s%d", i);
}

/* The slot of sql among the statements prepared on this connection, preparing it when new
 * (parse and analysis once per session, not per call); -1 when there is no room (run it
 * unprepared), -2 with err when PostgreSQL refused it. */
static int prepared(of_db *db, const char *sql, of_error *err)
{
    for (int i = 0; i < db->nstmts; i++)
        if (strcmp(db->stmts[i], sql) == 0)
            return i;
    if (db->nstmts == DB_PREPARED_MAX)
        return -1;
    char *copy = strdup(sql);
    if (!copy)
        return -1;
    char name[16];
    stmt_name(name, db->nstmts);
    PGresult *r = PQprepare(db->conn, name, sql, 0, NULL);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        failed(db, r, err);
        PQclear(r);
        free(copy);
        return -2;
    }
    PQclear(r);
    db->stmts[db->nstmts] = copy;
    return db->nstmts++;
}

PGresult *of_db_exec(of_db *db, const char *sql, int nparams, const char *const *params,
                     of_error *err)
{
    if (of_db_copy_finish(db, err))
        return NULL;
    clear_failure(db);
    if (!db->conn) {
        of_error_set(err, "not connected to PostgreSQL");
        return NULL;
    }
    int slot = db->prepare ? prepared(db, sql, err) : -1;
    if (slot == -2)
        return NULL;
    PGresult *r;
    if (slot >= 0) {
        char name[16];
        stmt_name(name, slot);
        r = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
    } else {
        r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    failed(db, r, err);
    PQclear(r);
    return NULL;
}

int of_db_run(of_db *db, const char *sql, int nparams, const char *const *params, of_error *err)
{
    PGresult *r = of_db_exec(db, sql, nparams, params, err);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int of_db_copy_start(of_db *db, const char *sql, const char *rows, size_t len, of_error *err)
{
    if (of_db_copy_finish(db, err))
        return -1;
    clear_failure(db);
    if (!db->conn)
        return of_error_set(err, "not connected to PostgreSQL");
    PGresult *r = PQexecParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        failed(db, r, err);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int sent = PQputCopyData(db->conn, rows, (int)len) == 1;
    if (PQputCopyEnd(db->conn, sent ? NULL : "the rows could not be sent") != 1) {
        failed(db, NULL, err);
        return -1;
    }
    db->copy_running = true;
    return 0;
}

int of_db_copy_finish(of_db *db, of_error *err)
{
    if (!db->copy_running)
        return 0;
    db->copy_running = false;
    int rc = 0;
    PGresult *r;
    while (db->conn && (r = PQgetResult(db->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
            failed(db, r, err);
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

int of_db_copy(of_db *db, const char *sql, const char *rows, size_t len, of_error *err)
{
    if (of_db_copy_start(db, sql, rows, len, err))
        return -1;
    return of_db_copy_finish(db, err);
}

void of_backoff_sleep(int attempt)
{
    double ms = 100;
    for (int i = 0; i < attempt && ms < 5000; i++)
        ms *= 2;
    if (ms > 5000)
        ms = 5000;
    ms *= 0.8 + 0.4 * ((double)rand() / RAND_MAX);
    struct timespec ts = {(time_t)(ms / 1000), (long)((long long)ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
