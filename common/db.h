/* db.h — PostgreSQL access for the services: one connection per worker loop, reconnected
 * with backoff, parameterized statements only (PQexecParams, or prepared once per session
 * and run by name; no SQL is ever built from data), statement_timeout on every session, and a
 * "reachable" flag for /readyz. */
#ifndef OF_DB_H
#define OF_DB_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "of_error.h"

typedef struct of_db of_db;

of_db *of_db_new(const char *url, int statement_timeout_ms, const char *application_name);
void of_db_free(of_db *db); /* NULL allowed */

/* Connects when not connected (one attempt). */
int of_db_ensure(of_db *db, of_error *err) OF_MUST_CHECK;
/* From now on each distinct statement text of_db_exec/of_db_run runs is prepared once per
 * connection and executed by name (for a loop that runs the same few statements again and
 * again: PostgreSQL skips parsing them). Only for constant statement texts. */
void of_db_prepare_statements(of_db *db);
/* Drops the connection; the next of_db_ensure reconnects. */
void of_db_reset(of_db *db);
bool of_db_reachable(const of_db *db); /* thread-safe; false after a connection failure */
PGconn *of_db_conn(of_db *db);

/* Runs one parameterized statement (params are text, NULL = SQL NULL). Returns the result
 * on success (caller PQclear()s it) or NULL with err; a broken connection is dropped so the
 * next of_db_ensure reconnects. */
PGresult *of_db_exec(of_db *db, const char *sql, int nparams, const char *const *params,
                     of_error *err);
/* The same, for statements whose result is not needed. */
int of_db_run(of_db *db, const char *sql, int nparams, const char *const *params,
              of_error *err) OF_MUST_CHECK;

/* Runs `COPY ... FROM STDIN` (text format, sql a constant) with rows of len bytes (built
 * with copy_rows.h). 0, or -1 with err (the connection is dropped when broken). */
int of_db_copy(of_db *db, const char *sql, const char *rows, size_t len,
               of_error *err) OF_MUST_CHECK;
/* The same in two halves, so the caller computes while PostgreSQL stores the rows: start
 * sends them and returns; finish waits for the outcome (0, or -1 with err). Every other
 * call on db finishes a started COPY first and fails with its error, so a COPY that failed
 * is never passed over. */
int of_db_copy_start(of_db *db, const char *sql, const char *rows, size_t len,
                     of_error *err) OF_MUST_CHECK;
int of_db_copy_finish(of_db *db, of_error *err) OF_MUST_CHECK;

/* SQLSTATE of the last failed statement ("" when none), e.g. "23505" unique violation. */
const char *of_db_last_sqlstate(const of_db *db);
/* The constraint the last failed statement broke ("" when none or not named), e.g.
 * "applied_events_pkey" with "23505". */
const char *of_db_last_constraint(const of_db *db);

/* Sleeps with exponential backoff: 100 ms doubling to 5 s, ±20 % jitter. attempt from 0. */
void of_backoff_sleep(int attempt);

#endif
