/* http.c — the dashboard's HTTP server (libmicrohttpd, a thread per connection). For each
 * request: read the body (at most 1 MiB, else 413), match the route table (routes.c) on
 * the raw path so an encoded "/" stays inside its {param}, answer unknown /api paths with a
 * JSON 404 or 405 (with Allow), take a pooled database connection, check the session, the
 * Origin and CSRF token and the route's roles (auth.c), call the handler, then send its
 * answer with the security headers, write one JSON log line and count it in the metrics.
 * Any other GET is the front end (static.c). On shutdown: stop accepting, end the live
 * streams, let requests in flight finish, close. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "sse.h"
#include "static.h"

struct dash_server {
    struct MHD_Daemon *daemon;
    dash_app *app;
};

static atomic_int in_flight; /* requests between their first line and their completion */

typedef struct req_ctx {
    dash_req rq;
    dash_resp rs;
    dash_user user;
    char *raw_path; /* as sent, %-encoded, without the query string */
    char *body;
    size_t body_len, body_cap;
    bool started, too_large;
    struct timespec start;
    const char *route_label;
    char allow[64];
    char params_buf[1024];
    char client[64];
} req_ctx;

/* ---- metrics: one counter per (route, status), one histogram per route ---- */

typedef struct metric_slot {
    const char *route; /* a pattern from the table, or a fixed label */
    int status;        /* 0: the latency histogram */
    of_metric *m;
    struct metric_slot *next;
} metric_slot;

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static metric_slot *metric_slots;

static of_metric *metric_for(const char *route, int status)
{
    pthread_mutex_lock(&metrics_mu);
    metric_slot *s = metric_slots;
    while (s && !(s->status == status && strcmp(s->route, route) == 0))
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s))) {
        char labels[160];
        s->route = route;
        s->status = status;
        if (status) {
            snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route, status);
            s->m = of_counter("dashboard_http_requests_total",
                              "HTTP requests answered, by route pattern and status", labels);
        } else {
            snprintf(labels, sizeof labels, "route=\"%s\"", route);
            s->m = of_histogram("dashboard_http_request_duration_seconds",
                                "Time from a request's first line to its answer, by route", labels,
                                of_latency_buckets, of_latency_bucket_count);
        }
        s->next = metric_slots;
        metric_slots = s;
    }
    pthread_mutex_unlock(&metrics_mu);
    return s ? s->m : NULL;
}

/* ---- the request's life ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    req_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t n = strcspn(uri, "?");
    c->raw_path = strndup(uri, n);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    atomic_fetch_add(&in_flight, 1);
    return c;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_ctx *c = *req_cls;
    if (!c)
        return;
    json_decref(c->rs.json);
    free(c->rs.body);
    json_decref(c->user.queues);
    free(c->raw_path);
    free(c->body);
    free(c);
    *req_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t outsz)
{
    snprintf(out, outsz, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outsz);
}

static bool is_api(const char *raw_path)
{
    return strncmp(raw_path, "/api/", 5) == 0 || strcmp(raw_path, "/api") == 0;
}

static bool method_is(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void allow_add(char *allow, size_t sz, const char *method)
{
    if (strstr(allow, method))
        return;
    size_t n = strlen(allow);
    snprintf(allow + n, sz - n, "%s%s", n ? ", " : "", method);
}

static void run_route(req_ctx *c, const dash_route *rt)
{
    dash_req *rq = &c->rq;
    dash_resp *rs = &c->rs;
    if (!(rt->flags & DASH_PUBLIC) && dash_auth_has_cookie(rq, rs))
        return;
    of_error err;
    rq->db = dash_pool_take(rq->app->pool, &err);
    if (!rq->db) {
        of_warn("%s %s: no database connection: %s", rq->method, rq->path, err.msg);
        dash_error(rs, 503, "the database is unreachable or busy; try again shortly");
        return;
    }
    bool writes = strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0;
    if (!(rt->flags & DASH_PUBLIC)) {
        if (dash_auth_session(rq, rs, &c->user))
            goto out;
        rq->user = &c->user;
    }
    if (writes && dash_auth_check_write(rq, rs, rt->flags))
        goto out;
    if (!(rt->flags & DASH_PUBLIC) && dash_auth_check_role(rq, rs, rt->roles))
        goto out;
    rt->handler(rq, rs);
    if (!rs->status) {
        of_err("%s %s: the handler set no answer", rq->method, rt->pattern);
        dash_error(rs, 500, "the server could not do this (the cause is in its log)");
    }
out:;
    bool broken = dash_sql_take_broken();
    dash_pool_give(rq->app->pool, rq->db, broken);
    rq->db = NULL;
}

static void dispatch(req_ctx *c)
{
    dash_req *rq = &c->rq;
    dash_resp *rs = &c->rs;
    if (c->too_large) {
        c->route_label = "too_large";
        dash_error(rs, 413, "the request body is larger than 1 MiB");
        return;
    }
    const char *raw = c->raw_path ? c->raw_path : "/";
    const dash_route *found = NULL;
    c->allow[0] = '\0';
    bool bad_param = false;
    for (size_t i = 0; i < dash_routes_count; i++) {
        const dash_route *rt = &dash_routes[i];
        const char *params[4];
        int np = 0;
        int m =
            dash_route_match(rt->pattern, raw, c->params_buf, sizeof c->params_buf, params, &np);
        if (m == 0)
            continue;
        if (!method_is(rt->method, rq->method)) {
            allow_add(c->allow, sizeof c->allow, rt->method);
            continue;
        }
        if (m < 0) {
            bad_param = true;
            c->route_label = rt->pattern;
            break;
        }
        found = rt;
        for (int k = 0; k < np; k++)
            rq->params[k] = params[k];
        rq->nparams = np;
        break;
    }
    if (bad_param) {
        dash_error(rs, 400, "a part of the path is not validly %%-encoded");
        return;
    }
    if (found) {
        c->route_label = found->pattern;
        run_route(c, found);
        return;
    }
    if (is_api(raw)) {
        if (c->allow[0]) {
            c->route_label = "method_not_allowed";
            dash_error(rs, 405, "%s is not allowed here; allowed: %s", rq->method, c->allow);
        } else {
            c->route_label = "unmatched";
            dash_error(rs, 404, "there is no API route %s %.300s", rq->method, rq->path);
        }
        return;
    }
    if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) {
        c->route_label = "static";
        dash_static_serve(rq, rs);
        return;
    }
    c->route_label = "method_not_allowed";
    snprintf(c->allow, sizeof c->allow, "GET, HEAD");
    dash_error(rs, 405, "%s is not allowed here; allowed: GET, HEAD", rq->method);
}

static void log_request(req_ctx *c, double secs, size_t bytes)
{
    if (!of_log_enabled(OF_LOG_INFO))
        return;
    json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:f,s:I,s:s,s:s}", "method", c->rq.method, "path",
                          c->rq.path ? c->rq.path : "", "route", c->route_label, "status",
                          c->rs.status, "ms", secs * 1000.0, "bytes", (json_int_t)bytes, "client",
                          c->client, "user", c->rq.user ? c->rq.user->name : "");
    if (!f) /* a path that is not valid UTF-8 */
        f = json_pack("{s:s,s:s,s:i,s:f,s:s}", "method", c->rq.method, "route", c->route_label,
                      "status", c->rs.status, "ms", secs * 1000.0, "client", c->client);
    char *text = f ? json_dumps(f, JSON_COMPACT | JSON_REAL_PRECISION(4)) : NULL;
    if (text && strlen(text) > 2) {
        text[strlen(text) - 1] = '\0'; /* the fields without the braces */
        of_log_write(OF_LOG_INFO, text + 1, "request");
    }
    free(text);
    json_decref(f);
}

static void add_headers(struct MHD_Response *r, req_ctx *c)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                            is_api(c->raw_path ? c->raw_path : "") ? "no-store" : "no-cache");
    if (c->rs.set_cookie[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, c->rs.set_cookie);
    if (c->rs.disposition[0])
        MHD_add_response_header(r, "Content-Disposition", c->rs.disposition);
    if (c->rs.status == 405 && c->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
}

static enum MHD_Result answer(struct MHD_Connection *conn, req_ctx *c)
{
    dash_resp *rs = &c->rs;
    struct MHD_Response *r = NULL;
    size_t bytes = 0;
    if (rs->stream_sse && rs->status == 200) {
        r = dash_live_response();
        if (!r)
            dash_error(rs, 503, "out of memory");
    }
    if (!r) {
        if (rs->json) {
            char *text = json_dumps(rs->json, JSON_COMPACT);
            if (!text) {
                text = strdup("{\"error\":{\"status\":500,\"message\":\"the answer could not "
                              "be written as JSON\"}}");
                rs->status = 500;
            }
            bytes = text ? strlen(text) : 0;
            r = MHD_create_response_from_buffer(bytes, text, MHD_RESPMEM_MUST_FREE);
            if (r)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        "application/json; charset=utf-8");
            else
                free(text);
        } else {
            bytes = rs->body ? rs->body_len : 0;
            r = MHD_create_response_from_buffer(bytes, rs->body, MHD_RESPMEM_MUST_FREE);
            if (r) {
                rs->body = NULL; /* now owned by the response */
                if (rs->content_type[0])
                    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
            }
        }
    }
    if (!r)
        return MHD_NO;
    add_headers(r, c);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);

    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double secs =
        (double)(end.tv_sec - c->start.tv_sec) + (double)(end.tv_nsec - c->start.tv_nsec) / 1e9;
    log_request(c, secs, bytes);
    of_metric *cnt = metric_for(c->route_label, rs->status);
    of_metric *lat = metric_for(c->route_label, 0);
    if (cnt)
        of_metric_add(cnt, 1);
    if (lat && !rs->stream_sse)
        of_metric_observe(lat, secs);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    dash_server *s = cls;
    req_ctx *c = *req_cls;
    if (!c)
        return MHD_NO; /* out of memory in on_uri */
    if (!c->started) {
        c->started = true;
        c->rq.app = s->app;
        c->rq.conn = conn;
        c->rq.method = method;
        c->rq.path = url;
        c->rq.body = "";
        client_address(conn, c->client, sizeof c->client);
        c->rq.client = c->client;
        c->route_label = "unmatched";
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > DASH_BODY_MAX) {
            c->too_large = true; /* answered before the body is read */
            dispatch(c);
            return answer(conn, c);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (c->too_large)
            return MHD_YES;
        if (c->body_len + n > DASH_BODY_MAX) {
            c->too_large = true;
            return MHD_YES;
        }
        if (c->body_len + n + 1 > c->body_cap) {
            size_t cap = c->body_cap ? c->body_cap : 4096;
            while (cap < c->body_len + n + 1)
                cap *= 2;
            char *b = realloc(c->body, cap);
            if (!b)
                return MHD_NO;
            c->body = b;
            c->body_cap = cap;
        }
        memcpy(c->body + c->body_len, upload, n);
        c->body_len += n;
        c->body[c->body_len] = '\0';
        return MHD_YES;
    }
    if (c->rs.status) /* already answered (413 on the first call) */
        return MHD_YES;
    c->rq.body = c->body ? c->body : "";
    c->rq.body_len = c->body_len;
    dispatch(c);
    return answer(conn, c);
}

dash_server *dash_server_start(dash_app *app, of_error *err)
{
    dash_server *s = calloc(1, sizeof *s);
    if (!s) {
        of_error_set(err, "out of memory");
        return NULL;
    }
    s->app = app;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, app->dcfg.bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)app->dcfg.port);
    } else if (inet_pton(AF_INET6, app->dcfg.bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)app->dcfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        free(s);
        of_error_set(err, "DASHBOARD_BIND %s is not an IPv4 or IPv6 address", app->dcfg.bind);
        return NULL;
    }
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)app->dcfg.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        of_error_set(err, "cannot listen on %s:%d (in use? set DASHBOARD_PORT or DASHBOARD_BIND)",
                     app->dcfg.bind, app->dcfg.port);
        return NULL;
    }
    of_info("dashboard listening on http://%s:%d/", app->dcfg.bind, app->dcfg.port);
    return s;
}

void dash_server_stop(dash_server *s, int grace_s)
{
    if (!s)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon); /* no new connections */
    dash_live_end_streams();
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int left;
    while ((left = atomic_load(&in_flight)) > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= grace_s) {
            of_warn("%d requests still running after %d s; closing them", left, grace_s);
            break;
        }
        struct timespec ms20 = {0, 20 * 1000000L};
        nanosleep(&ms20, NULL);
    }
    MHD_stop_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    free(s);
}
