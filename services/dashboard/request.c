/* request.c — the request/response helpers of http.h a handler uses (dash_json, dash_error,
 * dash_query, dash_body_object, dash_sql…) and the pure helpers the server matches routes
 * with (URL decoding, {param} patterns, strict integers). */
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "server.h"

/* ---- answering ---- */

static void resp_reset(dash_resp *rs)
{
    json_decref(rs->json);
    rs->json = NULL;
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    rs->content_type[0] = '\0';
}

void dash_json(dash_resp *rs, int status, json_t *body)
{
    resp_reset(rs);
    rs->status = status;
    rs->json = body;
}

void dash_error(dash_resp *rs, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    of_utf8_repair(msg);
    dash_json(rs, status, json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg));
}

void dash_raw(dash_resp *rs, int status, const char *content_type, char *body, size_t len)
{
    resp_reset(rs);
    rs->status = status;
    rs->body = body;
    rs->body_len = len;
    snprintf(rs->content_type, sizeof rs->content_type, "%s", content_type);
}

/* ---- input ---- */

const char *dash_query(const dash_req *rq, const char *name)
{
    if (!rq->conn)
        return NULL;
    const char *v = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

int dash_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || *end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int dash_query_int(const dash_req *rq, dash_resp *rs, const char *name, long def, long min,
                   long max, long *out)
{
    const char *v = dash_query(rq, name);
    if (!v) {
        *out = def;
        return 0;
    }
    if (dash_parse_long(v, min, max, out)) {
        dash_error(rs, 400, "%s must be a whole number from %ld to %ld", name, min, max);
        return -1;
    }
    return 0;
}

json_t *dash_body_object(const dash_req *rq, dash_resp *rs)
{
    size_t len = rq->body_len;
    const char *p = rq->body ? rq->body : "";
    while (len && isspace((unsigned char)*p)) {
        p++;
        len--;
    }
    if (len == 0) /* no body: the same as {} (an action without arguments) */
        return json_object();
    json_error_t jerr;
    json_t *j = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        dash_error(rs, 400, "the request body is not valid JSON: %s (line %d, column %d)",
                   jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        dash_error(rs, 400, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- SQL ---- */

static _Thread_local bool sql_broken;

bool dash_sql_take_broken(void)
{
    bool b = sql_broken;
    sql_broken = false;
    return b;
}

PGresult *dash_sql(dash_req *rq, dash_resp *rs, const char *sql, int n, const char *const *params)
{
    if (!rq->db) {
        dash_error(rs, 503, "the database is unreachable; try again shortly");
        return NULL;
    }
    PGresult *r = PQexecParams(rq->db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char cause[600];
    snprintf(cause, sizeof cause, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(rq->db));
    size_t cl = strlen(cause);
    while (cl && (cause[cl - 1] == '\n' || cause[cl - 1] == ' '))
        cause[--cl] = '\0';
    if (!state)
        state = "";
    bool down = PQstatus(rq->db) != CONNECTION_OK;
    of_err("SQL failed on %s %s: [%s] %s (statement: %.160s)", rq->method ? rq->method : "?",
           rq->path ? rq->path : "?", state, cause, sql);
    if (down) {
        sql_broken = true;
        dash_error(rs, 503, "the database is unreachable; try again shortly");
    } else if (strcmp(state, "57014") == 0) {
        dash_error(rs, 503,
                   "the database took too long to answer; try again or narrow the "
                   "filters");
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        dash_error(rs, 503, "the database was busy with a conflicting change; try again");
    } else if (strncmp(state, "22", 2) == 0) {
        /* data exception: a value from the request the database could not take */
        dash_error(rs, 400, "a value in the request is not valid: %s", primary ? primary : cause);
    } else {
        dash_error(rs, 500, "the server could not do this (the cause is in its log)");
    }
    PQclear(r);
    return NULL;
}

/* ---- routes ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int dash_url_decode(const char *in, size_t len, char *out, size_t outsz, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int h = hexval((unsigned char)in[i + 1]), l = hexval((unsigned char)in[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outsz)
            return -1;
        out[o++] = (char)c;
    }
    if (o >= outsz)
        return -1;
    out[o] = '\0';
    return 0;
}

int dash_route_match(const char *pattern, const char *raw_path, char *buf, size_t bufsz,
                     const char **params, int *nparams)
{
    const char *p = pattern, *u = raw_path;
    size_t used = 0;
    int np = 0, bad = 0;
    *nparams = 0;
    while (*p && *u) {
        if (*p != '/' || *u != '/')
            return 0;
        p++;
        u++;
        const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t ul = ue ? (size_t)(ue - u) : strlen(u);
        if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (ul == 0)
                return 0;
            if (np >= 4 || used >= bufsz ||
                dash_url_decode(u, ul, buf + used, bufsz - used, false)) {
                bad = 1;
            } else {
                params[np++] = buf + used;
                used += strlen(buf + used) + 1;
            }
        } else if (pl != ul || memcmp(p, u, pl) != 0) {
            return 0;
        }
        p += pl;
        u += ul;
    }
    if (*p || *u)
        return 0;
    if (bad)
        return -1;
    *nparams = np;
    return 1;
}
