/* api_util.c — the argument, cursor, body and rights checks the API handlers share (see
 * api_util.h). Messages name the argument and say what it takes, so a person (or the front
 * end) can correct the request. */
#include "api_util.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "event.h"
#include "log.h"

/* ---- where arguments come from ---- */

void api_args_query(api_args *a, const dash_req *rq)
{
    a->rq = rq;
    a->obj = NULL;
    a->buf[0] = '\0';
}

void api_args_json(api_args *a, const dash_req *rq, const json_t *obj)
{
    a->rq = rq;
    a->obj = obj;
    a->buf[0] = '\0';
}

const char *api_arg(api_args *a, const char *name)
{
    if (!a->obj)
        return dash_query(a->rq, name);
    const json_t *v = json_object_get(a->obj, name);
    if (json_is_string(v))
        return *json_string_value(v) ? json_string_value(v) : NULL;
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_integer(v)) {
        snprintf(a->buf, sizeof a->buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return a->buf;
    }
    return NULL; /* null (or a type api_args_known refused) */
}

/* "state", or "filter.state" for a bulk action's filter. */
static const char *label(const api_args *a, const char *name, char *buf, size_t sz)
{
    snprintf(buf, sz, "%s%s", a->obj ? "filter." : "", name);
    return buf;
}

static bool in_list(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(s, *names) == 0)
            return true;
    return false;
}

/* "a, b, c" */
static void join(const char *const *names, char *buf, size_t sz)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < sz; i++)
        o += (size_t)snprintf(buf + o, sz - o, "%s%s", i ? ", " : "", names[i]);
}

typedef struct unknown_arg {
    const char *const *names;
    char bad[96];
} unknown_arg;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    unknown_arg *u = cls;
    if (strcmp(key, "limit") == 0 || strcmp(key, "cursor") == 0 || in_list(key, u->names))
        return MHD_YES;
    snprintf(u->bad, sizeof u->bad, "%s", key);
    return MHD_NO;
}

int api_args_known(api_args *a, dash_resp *rs, const char *const *names)
{
    char allowed[512];
    unknown_arg u = {names, ""};
    if (a->obj) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)a->obj, key, v)
        {
            if (!in_list(key, names)) {
                snprintf(u.bad, sizeof u.bad, "%s", key);
                break;
            }
            if (!json_is_string(v) && !json_is_boolean(v) && !json_is_integer(v) &&
                !json_is_null(v)) {
                dash_error(rs, 400, "filter.%.64s must be a string, a number or true/false", key);
                return -1;
            }
        }
    } else if (a->rq->conn) {
        MHD_get_connection_values(a->rq->conn, MHD_GET_ARGUMENT_KIND, check_arg, &u);
    }
    if (!u.bad[0])
        return 0;
    of_utf8_repair(u.bad);
    join(names, allowed, sizeof allowed);
    if (a->obj)
        dash_error(rs, 400, "filter.%s is not a filter of this list (it takes: %s)", u.bad,
                   *names ? allowed : "nothing");
    else
        dash_error(rs, 400, "unknown query argument \"%s\" (this list takes: %s%slimit, cursor)",
                   u.bad, allowed, *names ? ", " : "");
    return -1;
}

int api_enum(api_args *a, dash_resp *rs, const char *name, const char *const *allowed,
             const char **out)
{
    const char *v = api_arg(a, name);
    *out = NULL;
    if (!v)
        return 0;
    if (in_list(v, allowed)) {
        *out = v;
        return 0;
    }
    char list[512], lb[96], got[72];
    join(allowed, list, sizeof list);
    snprintf(got, sizeof got, "%.64s", v);
    of_utf8_repair(got);
    dash_error(rs, 400, "%s must be one of %s (got \"%s\")", label(a, name, lb, sizeof lb), list,
               got);
    return -1;
}

int api_bool(api_args *a, dash_resp *rs, const char *name, int *out)
{
    static const char *const tf[] = {"true", "false", NULL};
    const char *v;
    if (api_enum(a, rs, name, tf, &v))
        return -1;
    *out = v ? strcmp(v, "true") == 0 : -1;
    return 0;
}

int api_text(api_args *a, dash_resp *rs, const char *name, size_t max, const char **out)
{
    const char *v = api_arg(a, name);
    char lb[96];
    *out = NULL;
    if (!v)
        return 0;
    size_t n = strlen(v);
    if (n > max) {
        dash_error(rs, 400, "%s is too long (at most %zu bytes)", label(a, name, lb, sizeof lb),
                   max);
        return -1;
    }
    if (of_utf8_invalid_at(v, n) >= 0) {
        dash_error(rs, 400, "%s must be valid UTF-8 text", label(a, name, lb, sizeof lb));
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            dash_error(rs, 400, "%s must not hold control characters",
                       label(a, name, lb, sizeof lb));
            return -1;
        }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* Y, M, D of a real date "YYYY-MM-DD"; false otherwise. */
static bool parse_day(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
    return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= days_in_month(*y, *m);
}

bool api_is_day(const char *s)
{
    int y, m, d;
    return s && parse_day(s, &y, &m, &d);
}

int api_day_arg(api_args *a, dash_resp *rs, const char *name, const char **out)
{
    const char *v = api_arg(a, name);
    char lb[96];
    *out = NULL;
    if (!v)
        return 0;
    if (!api_is_day(v)) {
        dash_error(rs, 400, "%s must be a date like 2026-11-23 (YYYY-MM-DD)",
                   label(a, name, lb, sizeof lb));
        return -1;
    }
    *out = v;
    return 0;
}

/* A bound of the time range as timestamptz input; next_day: the day after a date. */
static int time_bound(api_args *a, dash_resp *rs, const char *name, bool next_day, char *out,
                      size_t sz)
{
    const char *v = api_arg(a, name);
    char lb[96];
    out[0] = '\0';
    if (!v)
        return 0;
    int y, m, d;
    int64_t us;
    if (parse_day(v, &y, &m, &d)) {
        if (next_day) {
            struct tm t = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + 1, .tm_hour = 12};
            time_t tt = timegm(&t);
            gmtime_r(&tt, &t);
            y = t.tm_year + 1900;
            m = t.tm_mon + 1;
            d = t.tm_mday;
        }
        snprintf(out, sz, "%04d-%02d-%02d 00:00:00 %s", y, m, d, a->rq->app->cfg.shop_tz);
        return 0;
    }
    if (strlen(v) < 64 && of_parse_rfc3339(v, &us) == 0) {
        snprintf(out, sz, "%s", v);
        return 0;
    }
    dash_error(rs, 400,
               "%s must be a date like 2026-11-23 or an RFC 3339 timestamp like "
               "2026-11-23T09:30:00+08:00",
               label(a, name, lb, sizeof lb));
    return -1;
}

int api_range_read(api_args *a, dash_resp *rs, api_range *r)
{
    return time_bound(a, rs, "from", false, r->from, sizeof r->from) ||
                   time_bound(a, rs, "to", true, r->to, sizeof r->to)
               ? -1
               : 0;
}

/* ---- cursors ---- */

/* A timestamp as PostgreSQL writes it ("2026-11-23 01:02:03.123456+00") or RFC 3339. */
static bool is_time(const char *s)
{
    char buf[80];
    size_t n = strlen(s);
    if (n < 19 || n > 40)
        return false;
    snprintf(buf, sizeof buf, "%s", s);
    if (buf[10] == ' ')
        buf[10] = 'T';
    /* "+00" (PostgreSQL's whole-hour offset) → "+00:00" */
    char *off = strpbrk(buf + 19, "+-");
    if (off && strlen(off) == 3)
        strcat(buf, ":00");
    int64_t us;
    return of_parse_rfc3339(buf, &us) == 0;
}

static bool is_int(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool key_ok(const char *s, api_key_kind k)
{
    switch (k) {
    case API_KEY_TIME:
        return is_time(s);
    case API_KEY_DAY:
        return api_is_day(s);
    case API_KEY_INT:
        return is_int(s);
    case API_KEY_TEXT:
        return of_utf8_invalid_at(s, strlen(s)) < 0;
    }
    return false;
}

int api_cursor_check(const dash_page *pg, dash_resp *rs, api_key_kind key, api_key_kind id)
{
    if (!pg->after_key[0] && !pg->after_id[0])
        return 0;
    if (key_ok(pg->after_key, key) && key_ok(pg->after_id, id))
        return 0;
    dash_error(rs, 400,
               "cursor is not one of this list's cursors: use next_cursor of the "
               "previous page as it is");
    return -1;
}

const char *api_nz(const char *s)
{
    return s && *s ? s : NULL;
}

void api_fetch_limit(const dash_page *pg, char *buf, size_t sz)
{
    snprintf(buf, sz, "%ld", pg->limit + 1);
}

int api_path_id(const dash_req *rq, dash_resp *rs, int param, const char *what, long long *out)
{
    const char *s = param < rq->nparams ? rq->params[param] : NULL;
    if (!s || !is_int(s) || (*out = atoll(s)) <= 0) {
        char got[72];
        snprintf(got, sizeof got, "%.64s", s ? s : "");
        of_utf8_repair(got);
        dash_error(rs, 400, "%s must be a positive whole number (got \"%s\")", what, got);
        return -1;
    }
    return 0;
}

/* ---- the user ---- */

char *api_user_names_json(const dash_req *rq)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(rq->user->name));
    size_t i;
    json_t *q;
    json_array_foreach(rq->user->queues, i, q) if (json_is_string(q)) json_array_append(a, q);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

bool api_may_work(const dash_req *rq, const char *assignee)
{
    if (dash_is_supervisor(rq) || strcmp(rq->user->name, assignee) == 0)
        return true;
    size_t i;
    json_t *q;
    json_array_foreach(rq->user->queues, i,
                       q) if (json_is_string(q) &&
                              strcmp(json_string_value(q), assignee) == 0) return true;
    return false;
}

/* Task details may carry a refund's account and real name (F2): masked unless supervisor. */
json_t *api_mask_task_details(const dash_req *rq, json_t *tasks)
{
    if (dash_is_supervisor(rq))
        return tasks;
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        json_t *d = json_object_get(t, "detail");
        static const char *const keys[] = {"account", "real_name"};
        for (size_t k = 0; k < 2; k++) {
            const char *v = json_string_value(json_object_get(d, keys[k]));
            if (!v)
                continue;
            char masked[256];
            of_mask(v, k == 0, masked, sizeof masked); /* account: last 4; name: first */
            json_object_set_new(d, keys[k], json_string(masked));
        }
    }
    return tasks;
}

/* ---- the audit log ---- */

void api_audit(dash_req *rq, const dash_resp *rs, const char *action, const char *target,
               json_t *detail)
{
    json_t *d = detail ? json_incref(detail) : json_object();
    int status = rs->status ? rs->status : 500;
    json_object_set_new(d, "status", json_integer(status));
    const char *msg =
        json_string_value(json_object_get(json_object_get(rs->json, "error"), "message"));
    if (status >= 400 && msg)
        json_object_set_new(d, "message", json_string(msg));
    dash_audit(rq, action, target, status < 400 ? "ok" : status < 500 ? "refused" : "error", d);
    json_decref(d);
}

/* ---- bodies ---- */

int api_body_keys(dash_resp *rs, const json_t *body, const char *const *names)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (in_list(key, names))
            continue;
        char allowed[512], bad[72];
        join(names, allowed, sizeof allowed);
        snprintf(bad, sizeof bad, "%.64s", key);
        of_utf8_repair(bad);
        dash_error(rs, 400, "unexpected field \"%s\" (this action takes: %s)", bad,
                   *names ? allowed : "no fields");
        return -1;
    }
    return 0;
}

int api_body_str(dash_resp *rs, const json_t *body, const char *name, bool required,
                 const char **out)
{
    const json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        dash_error(rs, 400, "%s is required", name);
        return -1;
    }
    if (!json_is_string(v) || !*json_string_value(v)) {
        dash_error(rs, 400, "%s must be a non-empty string", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

json_t *api_body(const dash_req *rq, dash_resp *rs)
{
    return dash_body_object(rq, rs); /* an empty body is {} */
}

int api_bulk_body(dash_resp *rs, const json_t *body, char **ids_json, size_t *n,
                  const json_t **filter)
{
    const json_t *ids = json_object_get(body, "ids");
    const json_t *f = json_object_get(body, "filter");
    *ids_json = NULL;
    *n = 0;
    *filter = NULL;
    if (api_body_keys(rs, body, (const char *const[]){"ids", "filter", NULL}))
        return -1;
    if ((ids && f) || (!ids && !f)) {
        dash_error(rs, 400,
                   "give either ids (the selected rows) or filter (everything "
                   "matching), not %s",
                   ids ? "both" : "neither");
        return -1;
    }
    if (f) {
        if (!json_is_object(f)) {
            dash_error(rs, 400, "filter must be an object of the list's filters");
            return -1;
        }
        *filter = f;
        return 0;
    }
    if (!json_is_array(ids) || json_array_size(ids) == 0) {
        dash_error(rs, 400, "ids must be a non-empty array of ids");
        return -1;
    }
    if (json_array_size(ids) > API_BULK_CAP) {
        dash_error(rs, 400, "ids: at most %d at a time (got %zu)", API_BULK_CAP,
                   json_array_size(ids));
        return -1;
    }
    size_t i;
    const json_t *v;
    json_array_foreach((json_t *)ids, i, v)
    {
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
        if (json_is_string(v) && is_int(json_string_value(v)))
            x = atoll(json_string_value(v));
        if (x <= 0) {
            dash_error(rs, 400, "ids[%zu] must be a positive whole number", i);
            return -1;
        }
    }
    /* as text: a bigint beyond a double's precision stays exact */
    json_t *out = json_array();
    json_array_foreach((json_t *)ids, i, v)
    {
        char b[32];
        snprintf(b, sizeof b, "%lld",
                 json_is_integer(v) ? (long long)json_integer_value(v)
                                    : atoll(json_string_value(v)));
        json_array_append_new(out, json_string(b));
    }
    *ids_json = json_dumps(out, JSON_COMPACT);
    *n = json_array_size(out);
    json_decref(out);
    return 0;
}

void api_audited(dash_req *rq, dash_resp *rs, const char *action, api_action_fn fn)
{
    json_t *audit = json_object();
    fn(rq, rs, audit);
    api_audit(rq, rs, action, rq->nparams ? rq->params[0] : NULL, audit);
    json_decref(audit);
}
