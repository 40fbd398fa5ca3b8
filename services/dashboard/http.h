/* http.h — the dashboard's request/response model: what a route handler gets (the request,
 * the logged-in user, a pooled PostgreSQL connection) and the helpers it answers with. The
 * server (http.c, libmicrohttpd) parses the request, checks the session and CSRF token
 * (auth.c) and the route's roles before calling the handler; a handler only validates its
 * own input, runs parameterized SQL and fills the response.
 *
 * Errors are JSON a person can act on: {"error": {"status": 400, "message": "…"}}. */
#ifndef DASH_HTTP_H
#define DASH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

struct MHD_Connection;
typedef struct dash_app dash_app; /* the process: config, DB pool, Kafka producer (app.h) */

/* Roles, as a bit set for route tables. */
enum {
    DASH_STAFF = 1 << 0,
    DASH_ASSISTANT = 1 << 1,
    DASH_SUPERVISOR = 1 << 2,
    DASH_OPERATIONS = 1 << 3,
    DASH_ANY_ROLE = DASH_STAFF | DASH_ASSISTANT | DASH_SUPERVISOR | DASH_OPERATIONS,
};

typedef struct dash_user {
    char name[128];
    char role[16];  /* staff | assistant | supervisor | operations */
    int role_bit;   /* DASH_STAFF ... */
    char csrf[80];  /* the session's CSRF token */
    json_t *queues; /* array of strings: task queues this user works besides own name */
} dash_user;

typedef struct dash_req {
    dash_app *app;
    struct MHD_Connection *conn;
    const char *method;    /* "GET", "POST", ... */
    const char *path;      /* without the query string */
    const char *params[4]; /* the {…} segments of the route pattern, URL-decoded */
    int nparams;
    const char *body; /* request body (NUL-terminated), "" when none */
    size_t body_len;
    const dash_user *user; /* NULL on public routes */
    const char *client;    /* the client's address, for the audit log */
    PGconn *db;            /* a pooled connection, held for the request */
} dash_req;

typedef struct dash_resp {
    int status;   /* 0 until set */
    json_t *json; /* the body as JSON (owned), or */
    char *body;   /* a raw body (malloc'd, owned) */
    size_t body_len;
    char content_type[96]; /* for a raw body */
    char set_cookie[512];  /* a Set-Cookie header, "" for none */
    char disposition[256]; /* a Content-Disposition header, "" for none */
    bool stream_sse;       /* the live-updates stream (sse.c) takes the connection */
} dash_resp;

typedef void (*dash_handler)(dash_req *rq, dash_resp *rs);

/* A route: METHOD and a pattern whose {name} segments match one path segment each. */
enum {
    DASH_PUBLIC = 1 << 0,  /* no session needed (login, static files) */
    DASH_NO_CSRF = 1 << 1, /* state-changing but before a session exists (login) */
};
typedef struct dash_route {
    const char *method;
    const char *pattern; /* e.g. "/api/v1/orders/{id}" */
    dash_handler handler;
    int roles; /* roles allowed (DASH_*); 0 with DASH_PUBLIC */
    int flags;
} dash_route;

/* The route table (routes.c). */
extern const dash_route dash_routes[];
extern const size_t dash_routes_count;

/* ---- answering ---- */
void dash_json(dash_resp *rs, int status, json_t *body); /* steals body */
/* {"error":{"status":status,"message":…}} (message printf-style, valid UTF-8) */
void dash_error(dash_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dash_raw(dash_resp *rs, int status, const char *content_type, char *body, size_t len);

/* ---- input ---- */
const char *dash_query(const dash_req *rq, const char *name); /* NULL when absent or "" */
/* An integer query argument within [min, max] (def when absent); -1 with a 400 set. */
int dash_query_int(const dash_req *rq, dash_resp *rs, const char *name, long def, long min,
                   long max, long *out);
/* The body as a JSON object; NULL with a 400 set (not JSON / not an object). An empty body
 * is {} (an action without arguments). The caller json_decref()s it. */
json_t *dash_body_object(const dash_req *rq, dash_resp *rs);

/* ---- SQL (parameterized only) ---- */
/* Runs sql with text params on rq->db; NULL with a 500 (or 503 when the database is
 * unreachable) set and the cause logged. The caller PQclear()s. */
PGresult *dash_sql(dash_req *rq, dash_resp *rs, const char *sql, int n, const char *const *params);
/* A result's rows as an array of objects, one key per column, typed by the column's type:
 * bool → true/false, int2/4/8 → integer, numeric → string (exact amounts), json/jsonb →
 * parsed JSON, timestamptz → "YYYY-MM-DDTHH:MM:SS.ffffffZ" (sessions run in UTC),
 * text[] → array of strings, NULL → null, anything else → string. */
json_t *dash_rows(const PGresult *r);

/* ---- keyset pagination ----
 * Lists return {"items": […], "next_cursor": "…" | null}. A cursor is an opaque string
 * encoding the sort key of the last row (e.g. "2026-11-23T01:02:03.123456Z|o-17"). */
typedef struct dash_page {
    long limit;          /* 1..200, default 50 */
    char after_key[128]; /* "" for the first page: the sort key part of the cursor */
    char after_id[256];  /* and the tie-breaking id */
} dash_page;
/* Reads limit= and cursor=; -1 with a 400 set on a bad value. */
int dash_page_read(const dash_req *rq, dash_resp *rs, dash_page *pg);
/* Builds {"items": rows[0..limit), "next_cursor"}: the handler fetched limit+1 rows; the
 * cursor is made from the columns key_col and id_col of the last returned row. */
json_t *dash_page_result(const PGresult *r, const dash_page *pg, const char *key_col,
                         const char *id_col);

/* ---- who may do what ---- */
bool dash_is_supervisor(const dash_req *rq);
/* Writes an audit_log row (actor = the user, or actor for a login). detail may be NULL;
 * it is not stolen. Failures are logged, never fatal. */
void dash_audit(dash_req *rq, const char *action, const char *target, const char *outcome,
                json_t *detail);

#endif
