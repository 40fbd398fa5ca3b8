/* api_tasks.c — staff tasks (tasks_v): the list ("mine" = assigned to the user's name or one
 * of their queues), completing one task, and completing many at once.
 *
 * A task that an event closes is completed by publishing that event, with the logged-in user
 * as its actor (A0), so the same rules run as for a shop's event and leave the same notes:
 *   fix_waybill      → order.waybill_fixed      (A11 fixed, A12 not found)
 *   cancel_waybill   → order.waybill_cancelled  (A16 cancelled, A17 not found)
 *   register_refund,
 *   refund_due       → refund.registered        (F3)
 *   register_balance → balance.registered       (F3)
 * Any other kind (relist, special_order, print_watch, cancel_done, cancel_followup,
 * after_sales) has no event and no rule: the user marks it done, alone or in bulk.
 *
 * The list reads tasks_assignee (one index range per name and status, merged), tasks_status
 * or tasks_created in (created_at, task_id) order with keyset pagination. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "api_util.h"
#include "handlers.h"

static const char *const task_kinds[] = {"fix_waybill",     "cancel_waybill",   "register_refund",
                                         "refund_due",      "register_balance", "relist",
                                         "special_order",   "print_watch",      "cancel_done",
                                         "cancel_followup", "after_sales",      NULL};
/* kinds that no event closes: marked done by the user */
static const char no_event_kinds_json[] = "[\"relist\",\"special_order\",\"print_watch\","
                                          "\"cancel_done\",\"cancel_followup\",\"after_sales\"]";
static const char *const task_statuses[] = {"open", "done", "all", NULL};
static const char *const task_filters[] = {"mine",     "status", "kind", "assignee",
                                           "order_id", "from",   "to",   NULL};

static bool no_event_kind(const char *kind)
{
    char q[72];
    snprintf(q, sizeof q, "\"%.64s\"", kind);
    return strstr(no_event_kinds_json, q) != NULL;
}

#define TASK_COLS                                                                                  \
    "task_id, order_id, kind, assignee, status, created_at, closed_at, closed_by, detail"

/* Tasks of some assignees: one index range of tasks_assignee (assignee, status, created_at)
 * per name and status, each cut at the page size, merged. */
static const char tasks_of_sql[] =
    "SELECT t.* FROM (SELECT DISTINCT json_array_elements_text($1::json)) AS a(name) "
    "CROSS JOIN json_array_elements_text($2::json) AS s(status) "
    "CROSS JOIN LATERAL (SELECT " TASK_COLS " FROM tasks_v t WHERE t.assignee = a.name "
    "AND t.status = s.status AND ($3::text IS NULL OR t.kind = $3) "
    "AND ($4::text IS NULL OR t.order_id = $4) "
    "AND ($5::timestamptz IS NULL OR t.created_at >= $5) "
    "AND ($6::timestamptz IS NULL OR t.created_at < $6) "
    "AND ($7::timestamptz IS NULL OR (t.created_at, t.task_id) < ($7, $8::bigint)) "
    "ORDER BY t.created_at DESC, t.task_id DESC LIMIT $9) t "
    "ORDER BY t.created_at DESC, t.task_id DESC LIMIT $9";

/* Everyone's tasks: tasks_status (status, created_at, task_id) or tasks_created. */
static const char tasks_all_sql[] =
    "SELECT " TASK_COLS " FROM tasks_v t WHERE ($1::text IS NULL OR t.status = $1) "
    "AND ($2::text IS NULL OR t.kind = $2) AND ($3::text IS NULL OR t.order_id = $3) "
    "AND ($4::timestamptz IS NULL OR t.created_at >= $4) "
    "AND ($5::timestamptz IS NULL OR t.created_at < $5) "
    "AND ($6::timestamptz IS NULL OR (t.created_at, t.task_id) < ($6, $7::bigint)) "
    "ORDER BY t.created_at DESC, t.task_id DESC LIMIT $8";

/* Runs the list query for the arguments in a (query string or a bulk filter), newest first,
 * after the cursor of pg (NULL: from the start), at most fetch rows. NULL with a 400 (bad
 * argument) or a database error set. */
static PGresult *tasks_query(dash_req *rq, dash_resp *rs, api_args *a, const dash_page *pg,
                             long fetch)
{
    const char *status, *kind, *assignee, *order_id;
    int mine;
    api_range tr;
    if (api_args_known(a, rs, task_filters) || api_bool(a, rs, "mine", &mine) ||
        api_enum(a, rs, "status", task_statuses, &status) ||
        api_enum(a, rs, "kind", task_kinds, &kind) || api_text(a, rs, "assignee", 64, &assignee) ||
        api_text(a, rs, "order_id", 64, &order_id) || api_range_read(a, rs, &tr))
        return NULL;
    if (!status)
        status = "open";
    /* an explicit assignee replaces "mine"; mine is the default otherwise */
    char *names = NULL;
    if (assignee) {
        json_t *one = json_pack("[s]", assignee);
        names = json_dumps(one, JSON_COMPACT);
        json_decref(one);
    } else if (mine != 0) {
        names = api_user_names_json(rq);
    }
    const char *statuses = strcmp(status, "all") == 0    ? "[\"open\",\"done\"]"
                           : strcmp(status, "open") == 0 ? "[\"open\"]"
                                                         : "[\"done\"]";
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", fetch);
    const char *p[] = {names,
                       names ? statuses : (strcmp(status, "all") == 0 ? NULL : status),
                       kind,
                       order_id,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       pg ? api_nz(pg->after_key) : NULL,
                       pg && pg->after_id[0] ? pg->after_id : NULL,
                       lim};
    PGresult *r =
        names ? dash_sql(rq, rs, tasks_of_sql, 9, p) : dash_sql(rq, rs, tasks_all_sql, 8, p + 1);
    free(names);
    return r;
}

/* GET /api/v1/tasks?mine&status&kind&assignee&order_id&from&to */
void dash_h_tasks(dash_req *rq, dash_resp *rs)
{
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    if (dash_page_read(rq, rs, &pg) || api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT))
        return;
    PGresult *r = tasks_query(rq, rs, &a, &pg, pg.limit + 1);
    if (!r)
        return;
    json_t *page = dash_page_result(r, &pg, "created_at", "task_id");
    PQclear(r);
    api_mask_task_details(rq, json_object_get(page, "items"));
    dash_json(rs, 200, page);
}

/* ---- completing one task ---- */

typedef struct task_row {
    char id[24];
    char order_id[80];
    char kind[40];
    char assignee[136];
    char status[16];
    char closed_by[136];
    char closed_at[48];
    char shop_id[80];   /* of the order; "" when the order is unknown */
    char buyer_id[136]; /* of the order */
    json_t *detail;
} task_row;

static void copy(char *dst, size_t sz, const char *src)
{
    snprintf(dst, sz, "%s", src ? src : "");
}

/* 1 found, 0 not found (404 set), -1 database error (set). */
static int load_task(dash_req *rq, dash_resp *rs, long long id, task_row *t)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[] = {ids};
    PGresult *r = dash_sql(rq, rs,
                           "SELECT t.task_id, t.order_id, t.kind, t.assignee, t.status, "
                           "coalesce(t.closed_by, ''), coalesce(t.closed_at::text, ''), "
                           "coalesce(o.shop_id, ''), coalesce(o.buyer_id, ''), t.detail::text "
                           "FROM tasks t LEFT JOIN orders o ON o.order_id = t.order_id "
                           "WHERE t.task_id = $1",
                           1, p);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        dash_error(rs, 404, "no task %lld", id);
        return 0;
    }
    copy(t->id, sizeof t->id, PQgetvalue(r, 0, 0));
    copy(t->order_id, sizeof t->order_id, PQgetvalue(r, 0, 1));
    copy(t->kind, sizeof t->kind, PQgetvalue(r, 0, 2));
    copy(t->assignee, sizeof t->assignee, PQgetvalue(r, 0, 3));
    copy(t->status, sizeof t->status, PQgetvalue(r, 0, 4));
    copy(t->closed_by, sizeof t->closed_by, PQgetvalue(r, 0, 5));
    copy(t->closed_at, sizeof t->closed_at, PQgetvalue(r, 0, 6));
    copy(t->shop_id, sizeof t->shop_id, PQgetvalue(r, 0, 7));
    copy(t->buyer_id, sizeof t->buyer_id, PQgetvalue(r, 0, 8));
    t->detail = json_loads(PQgetvalue(r, 0, 9), 0, NULL);
    if (!json_is_object(t->detail)) {
        json_decref(t->detail);
        t->detail = json_object();
    }
    PQclear(r);
    return 1;
}

/* Marks the task done by the user if it is still open; 1 when it was, 0 when it was not,
 * -1 with the response set. */
static int mark_done(dash_req *rq, dash_resp *rs, const char *task_id)
{
    const char *p[] = {task_id, rq->user->name};
    PGresult *r = dash_sql(rq, rs,
                           "UPDATE tasks SET status = 'done', closed_at = clock_timestamp(), "
                           "closed_by = $2 WHERE task_id = $1 AND status = 'open'",
                           2, p);
    if (!r)
        return -1;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n > 0;
}

/* body.name, or detail.name when the body leaves it out (a task opened by F2 carries the
 * refund's channel, account and real name, so the registrar need not retype them). */
static int field_or_detail(dash_resp *rs, const json_t *body, const json_t *detail,
                           const char *name, const char **out)
{
    if (api_body_str(rs, body, name, false, out))
        return -1;
    if (!*out) {
        const char *d = json_string_value(json_object_get(detail, name));
        *out = d && *d ? d : NULL;
    }
    if (!*out) {
        dash_error(rs, 400, "%s is required", name);
        return -1;
    }
    return 0;
}

static void set_opt(json_t *data, const char *key, const char *v)
{
    if (v)
        json_object_set_new(data, key, json_string(v));
}

/* The event that completes a task of an event-backed kind: its type and data (the actor is
 * the user), from the body. NULL data with a 400 set on bad input. */
static json_t *event_data(dash_req *rq, dash_resp *rs, const task_row *t, const json_t *body,
                          const char **type)
{
    const char *user = rq->user->name;
    const char *outcome, *cause, *courier, *relister;
    if (strcmp(t->kind, "fix_waybill") == 0 || strcmp(t->kind, "cancel_waybill") == 0) {
        bool fix = t->kind[0] == 'f';
        if (api_body_keys(
                rs, body,
                fix ? (const char *const[]){"outcome", "cause", "courier", NULL}
                    : (const char *const[]){"outcome", "cause", "courier", "relister", NULL}) ||
            api_body_str(rs, body, "outcome", true, &outcome) ||
            api_body_str(rs, body, "cause", false, &cause) ||
            api_body_str(rs, body, "courier", false, &courier) ||
            api_body_str(rs, body, "relister", false, &relister))
            return NULL;
        *type = fix ? "order.waybill_fixed" : "order.waybill_cancelled";
        json_t *data = json_pack("{s:s,s:s,s:s}", "order_id", t->order_id, "assistant", user,
                                 "outcome", outcome);
        set_opt(data, "cause", cause);
        set_opt(data, "courier", courier);
        set_opt(data, "relister", relister);
        /* not found: whoever reports it notes it and follows it up (A12/A17, A0) */
        if (strcmp(outcome, "not_found") == 0)
            set_opt(data, "staff", user);
        return data;
    }
    if (strcmp(t->kind, "register_refund") == 0 || strcmp(t->kind, "refund_due") == 0) {
        const char *channel, *account, *real_name, *amount, *reason;
        if (api_body_keys(rs, body,
                          (const char *const[]){"channel", "account", "real_name", "amount",
                                                "reason", NULL}) ||
            field_or_detail(rs, body, t->detail, "channel", &channel) ||
            field_or_detail(rs, body, t->detail, "account", &account) ||
            field_or_detail(rs, body, t->detail, "real_name", &real_name) ||
            field_or_detail(rs, body, t->detail, "amount", &amount) ||
            api_body_str(rs, body, "reason", true, &reason))
            return NULL;
        *type = "refund.registered";
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "order_id", t->order_id, "staff",
                         user, "buyer_id", t->buyer_id, "channel", channel, "account", account,
                         "real_name", real_name, "amount", amount, "reason", reason);
    }
    /* register_balance */
    const char *amount, *reason;
    if (api_body_keys(rs, body, (const char *const[]){"amount", "reason", NULL}) ||
        field_or_detail(rs, body, t->detail, "amount", &amount) ||
        api_body_str(rs, body, "reason", true, &reason))
        return NULL;
    const char *buyer = json_string_value(json_object_get(t->detail, "buyer_id"));
    *type = "balance.registered";
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "buyer_id", buyer && *buyer ? buyer : t->buyer_id,
                     "staff", user, "amount", amount, "reason", reason, "order_id", t->order_id);
}

static void complete(dash_req *rq, dash_resp *rs, json_t *audit, char *target, size_t tsz)
{
    long long id;
    if (api_path_id(rq, rs, 0, "task_id", &id))
        return;
    snprintf(target, tsz, "%lld", id);
    task_row t = {0};
    if (load_task(rq, rs, id, &t) <= 0)
        return;
    json_object_set_new(audit, "order_id", json_string(t.order_id));
    json_object_set_new(audit, "kind", json_string(t.kind));
    json_t *body = NULL;
    if (!api_may_work(rq, t.assignee)) {
        dash_error(rs, 403,
                   "task %s is assigned to %s: only %s, someone working that queue, or a "
                   "supervisor can complete it",
                   t.id, t.assignee, t.assignee);
        goto out;
    }
    if (strcmp(t.status, "open") != 0) {
        dash_error(rs, 409, "task %s is already done (closed by %s at %s)", t.id,
                   *t.closed_by ? t.closed_by : "?", t.closed_at);
        goto out;
    }
    if (!(body = api_body(rq, rs)))
        goto out;
    if (no_event_kind(t.kind)) {
        if (api_body_keys(rs, body, (const char *const[]){NULL}))
            goto out;
        int n = mark_done(rq, rs, t.id);
        if (n < 0)
            goto out;
        if (n == 0) {
            dash_error(rs, 409, "task %s was completed by someone else just now", t.id);
            goto out;
        }
        dash_json(rs, 200,
                  json_pack("{s:s,s:I,s:s,s:[]}", "status", "done", "task_id", (json_int_t)id,
                            "closed_by", rq->user->name, "notes"));
        goto out;
    }
    if (!*t.shop_id) {
        dash_error(rs, 409, "the order \"%s\" of task %s is unknown: its event cannot be sent",
                   t.order_id, t.id);
        goto out;
    }
    const char *type = NULL;
    json_t *data = event_data(rq, rs, &t, body, &type);
    if (!data)
        goto out;
    char source[96];
    snprintf(source, sizeof source, "shop/%s", t.shop_id);
    dash_action act = {.type = type, .source = source, .subject = t.order_id, .data = data};
    int rc = dash_action_run(rq, rs, &act);
    json_decref(data);
    if (rc)
        goto out;
    json_object_set_new(audit, "event_type", json_string(type));
    json_object_set_new(audit, "event_id", json_string(act.event_id));
    json_object_set_new(audit, "outcome",
                        json_string(act.state == DASH_ACTION_APPLIED    ? "applied"
                                    : act.state == DASH_ACTION_REJECTED ? "rejected"
                                                                        : "pending"));
    /* the user completed this task: when the event's rule closes another one of its kind,
     * or none (refund_due: F3 closes register_refund), this one is closed here */
    if (act.state == DASH_ACTION_APPLIED && mark_done(rq, rs, t.id) < 0)
        goto out;
    dash_action_answer(rq, rs, &act, json_pack("{s:I}", "task_id", (json_int_t)id));
out:
    json_decref(body);
    json_decref(t.detail);
}

/* POST /api/v1/tasks/{task_id}/complete */
void dash_h_task_complete(dash_req *rq, dash_resp *rs)
{
    json_t *audit = json_object();
    char target[32] = "";
    complete(rq, rs, audit, target, sizeof target);
    api_audit(rq, rs, "task.complete", target, audit);
    json_decref(audit);
}

/* ---- completing many ---- */

/* Marks done the tasks of ids_json that are open, of a kind without an event, and the
 * user's (or the user is a supervisor); fills the answer with completed, skipped and why. */
static void complete_ids(dash_req *rq, dash_resp *rs, const char *ids_json, size_t n, json_t *audit)
{
    char *names = api_user_names_json(rq);
    const char *p[] = {ids_json, rq->user->name, no_event_kinds_json, names,
                       dash_is_supervisor(rq) ? "true" : "false"};
    PGresult *r = dash_sql(
        rq, rs,
        "WITH want AS (SELECT DISTINCT json_array_elements_text($1::json)::bigint AS task_id), "
        "sel AS (SELECT t.task_id, t.kind, t.assignee, t.status FROM tasks t "
        "WHERE t.task_id IN (SELECT task_id FROM want) FOR UPDATE), "
        "upd AS (UPDATE tasks t SET status = 'done', closed_at = clock_timestamp(), "
        "closed_by = $2 FROM sel WHERE t.task_id = sel.task_id AND sel.status = 'open' "
        "AND sel.kind IN (SELECT json_array_elements_text($3::json)) "
        "AND ($5::boolean OR sel.assignee IN (SELECT json_array_elements_text($4::json))) "
        "RETURNING t.task_id) "
        "SELECT w.task_id, sel.kind, sel.assignee, sel.status, upd.task_id IS NOT NULL "
        "FROM want w LEFT JOIN sel ON sel.task_id = w.task_id "
        "LEFT JOIN upd ON upd.task_id = w.task_id ORDER BY w.task_id",
        5, p);
    free(names);
    if (!r)
        return;
    long done = 0;
    json_t *skipped = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 4), "t") == 0) {
            done++;
            continue;
        }
        char why[256];
        const char *kind = PQgetvalue(r, i, 1), *assignee = PQgetvalue(r, i, 2);
        if (PQgetisnull(r, i, 1))
            snprintf(why, sizeof why, "no such task");
        else if (strcmp(PQgetvalue(r, i, 3), "open") != 0)
            snprintf(why, sizeof why, "already done");
        else if (!no_event_kind(kind))
            snprintf(why, sizeof why,
                     "a %s task is completed with its own form (it publishes an event)", kind);
        else
            snprintf(why, sizeof why, "assigned to %s, not to you or your queues", assignee);
        json_array_append_new(skipped,
                              json_pack("{s:I,s:s}", "task_id",
                                        (json_int_t)atoll(PQgetvalue(r, i, 0)), "reason", why));
    }
    PQclear(r);
    json_object_set_new(audit, "requested", json_integer((json_int_t)n));
    json_object_set_new(audit, "completed", json_integer(done));
    json_object_set_new(audit, "skipped", json_integer((json_int_t)json_array_size(skipped)));
    dash_json(rs, 200,
              json_pack("{s:I,s:I,s:o}", "completed", (json_int_t)done, "skipped",
                        (json_int_t)json_array_size(skipped), "skipped_tasks", skipped));
}

static void bulk(dash_req *rq, dash_resp *rs, json_t *audit)
{
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    char *ids = NULL;
    size_t n = 0;
    const json_t *filter = NULL;
    if (api_bulk_body(rs, body, &ids, &n, &filter))
        goto out;
    bool capped = false;
    if (filter) {
        json_object_set(audit, "filter", (json_t *)filter);
        api_args a;
        api_args_json(&a, rq, filter);
        PGresult *r = tasks_query(rq, rs, &a, NULL, API_BULK_CAP + 1);
        if (!r)
            goto out;
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(r) && i < API_BULK_CAP; i++)
            json_array_append_new(arr, json_string(PQgetvalue(r, i, 0)));
        capped = PQntuples(r) > API_BULK_CAP;
        PQclear(r);
        n = json_array_size(arr);
        ids = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (n == 0) {
            dash_json(rs, 200,
                      json_pack("{s:i,s:i,s:[],s:b}", "completed", 0, "skipped", 0, "skipped_tasks",
                                "capped", 0));
            goto out;
        }
    }
    complete_ids(rq, rs, ids, n, audit);
    if (rs->status == 200 && json_is_object(rs->json)) {
        json_object_set_new(rs->json, "capped", json_boolean(capped));
        if (capped)
            json_object_set_new(rs->json, "message",
                                json_sprintf("only the first %d matching tasks were taken: "
                                             "run it again for the rest",
                                             API_BULK_CAP));
    }
out:
    free(ids);
    json_decref(body);
}

/* POST /api/v1/tasks/bulk-complete {ids | filter} */
void dash_h_tasks_bulk_complete(dash_req *rq, dash_resp *rs)
{
    api_audited(rq, rs, "task.bulk_complete", bulk);
}
