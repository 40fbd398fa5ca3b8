/* server.h — the dashboard server's internals shared by its files and the unit tests: the
 * HTTP server's start and stop (http.c) and the pure helpers behind http.h (request.c,
 * rows.c, page.c), kept free of libmicrohttpd and PostgreSQL so tests call them directly. */
#ifndef DASH_SERVER_H
#define DASH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"
#include "of_error.h"

#define DASH_BODY_MAX (1024 * 1024) /* request bodies above this are answered 413 */

/* ---- the server (http.c) ---- */
typedef struct dash_server dash_server;
dash_server *dash_server_start(dash_app *app, of_error *err);
/* Stops accepting, lets requests in flight finish (at most grace_s), then closes. */
void dash_server_stop(dash_server *s, int grace_s);

/* ---- request helpers (request.c) ---- */
/* Decodes %XX escapes of in[0..len) into out; -1 on a bad escape, a NUL byte or no room.
 * plus_space: '+' means ' ' (query strings). */
int dash_url_decode(const char *in, size_t len, char *out, size_t outsz, bool plus_space);
/* Whether the raw (still %-encoded) path matches pattern; each {name} segment matches one
 * non-empty segment, stored URL-decoded in buf and pointed to by params[0..*nparams).
 * Returns 1 on a match, 0 when it does not match, -1 when it matches but a segment does
 * not decode (a bad %-escape) or does not fit. */
int dash_route_match(const char *pattern, const char *raw_path, char *buf, size_t bufsz,
                     const char **params, int *nparams);
/* A whole decimal number within [min, max]; -1 when s is not one. */
int dash_parse_long(const char *s, long min, long max, long *out);
/* Set by dash_sql when the request's connection broke (the pool replaces it). */
bool dash_sql_take_broken(void);

/* ---- typed rows (rows.c) ---- */
/* PostgreSQL's timestamptz text ("2026-11-23 01:02:03.12+00", any offset) as
 * "2026-11-23T01:02:03.120000Z"; -1 when it is not one (infinity, BC, year > 9999). */
int dash_ts_iso(const char *pg, char *out, size_t outsz);
/* One value of a column of type oid as JSON (see dash_rows); never NULL. */
json_t *dash_value(const char *text, Oid type);

/* ---- cursors (page.c) ---- */
/* base64url(key "|" id) without padding; -1 when out is too small or key holds '|'. */
int dash_cursor_encode(const char *key, const char *id, char *out, size_t outsz);
/* The reverse, validating: -1 when the cursor is not one this server made (bad base64url,
 * no '|', empty id, control characters, invalid UTF-8, parts too long). */
int dash_cursor_decode(const char *cursor, char *key, size_t keysz, char *id, size_t idsz);

#endif
