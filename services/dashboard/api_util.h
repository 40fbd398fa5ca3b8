/* api_util.h — what the API handlers (api_*.c) share: list arguments (query string or a
 * bulk action's filter) checked against those a route knows, filters validated with a message
 * naming the argument and what it takes, the `from`/`to` time range, cursor keys checked before
 * they reach SQL, and the rights of a user over a task (their own name or one of their queues).
 *
 * Every checker returns 0, or -1 with a 400 already set on the response. An absent or empty
 * argument is NULL (no filter). */
#ifndef DASH_API_UTIL_H
#define DASH_API_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "of_error.h"

/* The largest set of rows one bulk action touches (ids or a filter). */
#define API_BULK_CAP 10000

/* Where the arguments of a list come from: the query string, or the "filter" object of a
 * bulk action's body (the same keys; strings, or true/false/numbers written as text). */
typedef struct api_args {
    const dash_req *rq;
    const json_t *obj; /* NULL: the query string */
    char buf[64];      /* a number or boolean of obj as text */
} api_args;
void api_args_query(api_args *a, const dash_req *rq);
void api_args_json(api_args *a, const dash_req *rq, const json_t *obj);
/* The argument (NULL when absent or ""). */
const char *api_arg(api_args *a, const char *name);

/* 400 unless every argument is limit, cursor or one of names (NULL-terminated). A filter
 * object (bulk actions) takes neither limit nor cursor. */
int api_args_known(api_args *a, dash_resp *rs, const char *const *names);

/* An argument that must be one of allowed (NULL-terminated): "state must be one of unpaid,
 * paid, printed, shipped (got \"x\")". */
int api_enum(api_args *a, dash_resp *rs, const char *name, const char *const *allowed,
             const char **out);
/* true|false; *out = -1 when absent, else 0 or 1. */
int api_bool(api_args *a, dash_resp *rs, const char *name, int *out);
/* Free text of at most max bytes, valid UTF-8, no control characters. */
int api_text(api_args *a, dash_resp *rs, const char *name, size_t max, const char **out);
/* A day YYYY-MM-DD (a real date). */
int api_day_arg(api_args *a, dash_resp *rs, const char *name, const char **out);
bool api_is_day(const char *s);

/* The from/to filter: an ISO date (YYYY-MM-DD, a shop day in SHOP_TZ: `to` includes the
 * whole day) or an RFC 3339 timestamp; from is inclusive, to exclusive. Each bound becomes
 * timestamptz input text, "" when not given. */
typedef struct api_range {
    char from[128];
    char to[128];
} api_range;
int api_range_read(api_args *a, dash_resp *rs, api_range *r);

/* Checks the sort key and id of a cursor (dash_page) before they reach SQL: a timestamp, a
 * day, an integer or any text. The first page ("") passes. */
typedef enum { API_KEY_TIME, API_KEY_DAY, API_KEY_INT, API_KEY_TEXT } api_key_kind;
int api_cursor_check(const dash_page *pg, dash_resp *rs, api_key_kind key, api_key_kind id);

/* "" → NULL (an SQL NULL parameter: no filter). */
const char *api_nz(const char *s);

/* The limit+1 rows a list fetches, as text for a parameter. */
void api_fetch_limit(const dash_page *pg, char *buf, size_t sz);

/* A positive integer id in a path segment (task id, dead-letter id); -1 with a 400. */
int api_path_id(const dash_req *rq, dash_resp *rs, int param, const char *what, long long *out);

/* ---- the user ---- */
/* ["name", "queue1", …] as JSON text (malloc'd): the assignees whose tasks are "mine". */
char *api_user_names_json(const dash_req *rq);
/* The user may work a task of this assignee: their name, one of their queues, or they are a
 * supervisor. */
bool api_may_work(const dash_req *rq, const char *assignee);

/* Task details may carry a refund's account and real name (F2): masked in place unless the
 * user is a supervisor. Returns tasks. */
json_t *api_mask_task_details(const dash_req *rq, json_t *tasks);

/* ---- the audit log ---- */
/* Writes the action's audit row from the answer given: 2xx → ok, 4xx → refused, 5xx →
 * error; detail (may be NULL, not stolen) gets the status and, for an error, its message. */
void api_audit(dash_req *rq, const dash_resp *rs, const char *action, const char *target,
               json_t *detail);
/* An action handler: fn answers and adds what it did to audit; then the audit row is
 * written, its target the route's {param} (none on bulk routes). */
typedef void (*api_action_fn)(dash_req *rq, dash_resp *rs, json_t *audit);
void api_audited(dash_req *rq, dash_resp *rs, const char *action, api_action_fn fn);

/* ---- bodies ---- */
/* 400 unless every key of body is one of names (NULL-terminated): "unexpected field 'x'
 * (this action takes a, b)". */
int api_body_keys(dash_resp *rs, const json_t *body, const char *const *names);
/* body.name as a string (NULL when absent or null); 400 when another type or empty. */
int api_body_str(dash_resp *rs, const json_t *body, const char *name, bool required,
                 const char **out);
/* The request body as an object; an empty body is {}. NULL with a 400 set. */
json_t *api_body(const dash_req *rq, dash_resp *rs);
/* A bulk body: {"ids": [positive integers]} → *ids_json (malloc'd JSON array text) and *n,
 * or {"filter": {…}} → *filter (borrowed). -1 with a 400 when both, neither, more than
 * API_BULK_CAP ids, or a bad id. */
int api_bulk_body(dash_resp *rs, const json_t *body, char **ids_json, size_t *n,
                  const json_t **filter);

#endif
