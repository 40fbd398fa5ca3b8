/* auth.c — sessions, CSRF, roles, login/logout/me and the audit log (see auth.h).
 *
 * A login creates a random 32-byte token (hex) for the cookie and another for CSRF; only
 * sha256(token) is stored (computed by PostgreSQL), so a copy of dashboard_sessions lets
 * nobody in. A refused login is an audit_log row; five within 15 minutes (since the name's
 * last successful login) refuse the name with 429 until they age out. An unknown name is
 * verified against a dummy hash, so it is answered like a wrong password in about the same
 * time. Argon2id takes 19 MiB per verification: at most four run at once. */
#include "auth.h"

#include <ctype.h>
#include <microhttpd.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "handlers.h"
#include "log.h"
#include "password.h"
#include "server.h"

#define LOGIN_FAILS_MAX 5
#define VERIFY_CONCURRENCY 4

static char dummy_hash[OF_PASSWORD_HASH_MAX];
static sem_t verify_slots;

/* ---- pure helpers ---- */

int dash_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
    if (!header || !outsz)
        return 0;
    size_t nl = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *eq = p;
        while (*eq && *eq != '=' && *eq != ';')
            eq++;
        const char *end = eq;
        while (*end && *end != ';')
            end++;
        if (*eq == '=') {
            const char *ne = eq;
            while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            if ((size_t)(ne - p) == nl && memcmp(p, name, nl) == 0) {
                const char *v = eq + 1, *ve = end;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                    v++;
                    ve--;
                }
                size_t vl = (size_t)(ve - v);
                if (vl >= outsz)
                    return 0;
                memcpy(out, v, vl);
                out[vl] = '\0';
                return 1;
            }
        }
        p = end;
    }
    return 0;
}

bool dash_token_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la > lb ? la : lb;
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < la ? (unsigned char)a[i] : 0;
        unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(ca ^ cb);
    }
    return diff == 0;
}

/* host without a default port for the scheme, lower-cased into out */
static void host_norm(const char *host, size_t len, const char *default_port, char *out,
                      size_t outsz)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < outsz; i++)
        out[n++] = (char)tolower((unsigned char)host[i]);
    out[n] = '\0';
    size_t dl = strlen(default_port);
    if (n > dl + 1 && out[n - dl - 1] == ':' && strcmp(out + n - dl, default_port) == 0)
        out[n - dl - 1] = '\0';
}

bool dash_origin_matches(const char *origin, const char *host)
{
    if (!origin || !host || !*host)
        return false;
    const char *rest, *port;
    if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
        port = "80";
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        rest = origin + 8;
        port = "443";
    } else {
        return false; /* "null" or anything else */
    }
    size_t rl = strlen(rest);
    if (rl && rest[rl - 1] == '/')
        rl--;
    if (rl == 0 || memchr(rest, '/', rl))
        return false;
    char a[256], b[256];
    host_norm(rest, rl, port, a, sizeof a);
    host_norm(host, strlen(host), port, b, sizeof b);
    return strcmp(a, b) == 0;
}

static const struct {
    const char *name;
    int bit;
} roles[] = {{"staff", DASH_STAFF},
             {"assistant", DASH_ASSISTANT},
             {"supervisor", DASH_SUPERVISOR},
             {"operations", DASH_OPERATIONS}};

int dash_role_bit(const char *role)
{
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i].name) == 0)
            return roles[i].bit;
    return 0;
}

void dash_roles_text(int bits, char *out, size_t outsz)
{
    const char *names[4] = {NULL, NULL, NULL, NULL};
    int n = 0;
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (bits & roles[i].bit)
            names[n++] = roles[i].name;
    size_t o = (size_t)snprintf(out, outsz, "the ");
    for (int i = 0; i < n && o < outsz; i++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", names[i],
                              i == n - 1   ? ""
                              : i == n - 2 ? " or "
                                           : ", ");
    if (o < outsz)
        snprintf(out + o, outsz - o, " role");
}

/* 2n lowercase hex characters of n random bytes */
static int random_hex(char *out, size_t n)
{
    unsigned char raw[64];
    if (n > sizeof raw || of_random_bytes(raw, n))
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static bool is_token(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return false;
    return n == 64;
}

int dash_auth_setup(of_error *err)
{
    char pw[33];
    if (random_hex(pw, 16))
        return of_error_set(err, "no random bytes from the kernel");
    if (of_password_hash(pw, dummy_hash, sizeof dummy_hash, err))
        return -1;
    sem_init(&verify_slots, 0, VERIFY_CONCURRENCY);
    return 0;
}

/* ---- per request ---- */

static const char *header(const dash_req *rq, const char *name)
{
    return rq->conn ? MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name) : NULL;
}

/* The session token from the cookie, or "" */
static void session_token(const dash_req *rq, char token[80])
{
    token[0] = '\0';
    if (!dash_cookie_get(header(rq, MHD_HTTP_HEADER_COOKIE), DASH_COOKIE, token, 80) ||
        !is_token(token))
        token[0] = '\0';
}

static json_t *queues_of(const char *json_text)
{
    json_t *q = json_loads(json_text, 0, NULL);
    if (!json_is_array(q)) {
        json_decref(q);
        q = json_array();
    }
    return q;
}

int dash_auth_has_cookie(const dash_req *rq, dash_resp *rs)
{
    char token[80];
    session_token(rq, token);
    if (token[0])
        return 0;
    dash_error(rs, 401, "please log in");
    return -1;
}

int dash_auth_session(dash_req *rq, dash_resp *rs, dash_user *user)
{
    char token[80];
    session_token(rq, token);
    if (!token[0]) {
        dash_error(rs, 401, "please log in");
        return -1;
    }
    const char *p[] = {token};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT u.name, u.role, to_json(u.queues)::text, s.csrf_token, s.expires_at > now(), "
        "s.last_seen_at < now() - interval '1 minute', u.disabled "
        "FROM dashboard_sessions s JOIN dashboard_users u ON u.name = s.user_name "
        "WHERE s.token_hash = sha256($1::bytea)",
        1, p);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        dash_error(rs, 401, "please log in");
        return -1;
    }
    bool live = PQgetvalue(r, 0, 4)[0] == 't', stale = PQgetvalue(r, 0, 5)[0] == 't';
    bool disabled = PQgetvalue(r, 0, 6)[0] == 't';
    if (!live || disabled) {
        PQclear(r);
        PGresult *d = dash_sql(
            rq, rs, "DELETE FROM dashboard_sessions WHERE token_hash = sha256($1::bytea)", 1, p);
        PQclear(d);
        if (disabled)
            dash_error(rs, 401, "this account is disabled; please ask a supervisor");
        else
            dash_error(rs, 401, "your session has expired; please log in");
        return -1;
    }
    memset(user, 0, sizeof *user);
    snprintf(user->name, sizeof user->name, "%s", PQgetvalue(r, 0, 0));
    snprintf(user->role, sizeof user->role, "%s", PQgetvalue(r, 0, 1));
    user->role_bit = dash_role_bit(user->role);
    user->queues = queues_of(PQgetvalue(r, 0, 2));
    snprintf(user->csrf, sizeof user->csrf, "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    if (stale) {
        PGresult *u = dash_sql(rq, rs,
                               "UPDATE dashboard_sessions SET last_seen_at = now() "
                               "WHERE token_hash = sha256($1::bytea)",
                               1, p);
        if (!u) { /* not worth refusing the request for */
            rs->status = 0;
            json_decref(rs->json);
            rs->json = NULL;
        }
        PQclear(u);
    }
    return 0;
}

int dash_auth_check_write(dash_req *rq, dash_resp *rs, int route_flags)
{
    const char *origin = header(rq, "Origin");
    if (origin) {
        const char *fwd = header(rq, "X-Forwarded-Host");
        if (!dash_origin_matches(origin, header(rq, MHD_HTTP_HEADER_HOST)) &&
            !(fwd && dash_origin_matches(origin, fwd))) {
            dash_error(rs, 403, "this request comes from another site (Origin %.200s); refused",
                       origin);
            return -1;
        }
    }
    if (route_flags & DASH_NO_CSRF)
        return 0;
    if (!rq->user || !dash_token_equal(header(rq, "X-CSRF-Token"), rq->user->csrf)) {
        dash_error(rs, 403,
                   "the X-CSRF-Token header is missing or wrong; send the csrf_token of "
                   "/api/v1/me or /api/v1/login");
        return -1;
    }
    return 0;
}

int dash_auth_check_role(dash_req *rq, dash_resp *rs, int need)
{
    if (rq->user && (rq->user->role_bit & need))
        return 0;
    char text[96];
    dash_roles_text(need, text, sizeof text);
    dash_error(rs, 403, "this needs %s", text);
    return -1;
}

/* ---- audit ---- */

void dash_audit_as(dash_req *rq, const char *actor, const char *role, const char *action,
                   const char *target, const char *outcome, json_t *detail)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    const char *p[] = {actor ? actor : "", role, action, target, outcome, d ? d : "{}", rq->client};
    PGresult *r = rq->db ? PQexecParams(rq->db,
                                        "INSERT INTO audit_log (actor, role, action, target, "
                                        "outcome, detail, client) "
                                        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
                                        7, NULL, p, NULL, NULL, 0)
                         : NULL;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        of_err("audit_log row not written (%s %s by %s): %s", action, target ? target : "",
               actor ? actor : "", rq->db ? PQerrorMessage(rq->db) : "no database connection");
    PQclear(r);
    free(d);
}

void dash_audit(dash_req *rq, const char *action, const char *target, const char *outcome,
                json_t *detail)
{
    dash_audit_as(rq, rq->user ? rq->user->name : "", rq->user ? rq->user->role : NULL, action,
                  target, outcome, detail);
}

bool dash_is_supervisor(const dash_req *rq)
{
    return rq->user && rq->user->role_bit == DASH_SUPERVISOR;
}

/* ---- handlers ---- */

static json_t *user_json(const char *name, const char *role, json_t *queues)
{
    return json_pack("{s:s,s:s,s:O}", "name", name, "role", role, "queues", queues);
}

static int verify(const char *hash, const char *password)
{
    while (sem_wait(&verify_slots) != 0)
        ;
    int rc = of_password_verify(hash, password);
    sem_post(&verify_slots);
    return rc;
}

/* the audit row of a refused login; reason goes in detail (throttling counts them) */
static void login_refused(dash_req *rq, const char *actor, const char *role, const char *name,
                          const char *reason)
{
    json_t *detail = json_pack("{s:s}", "reason", reason);
    dash_audit_as(rq, actor, role, "login", name, "refused", detail);
    json_decref(detail);
}

static void refuse(dash_req *rq, dash_resp *rs, const char *actor, const char *name,
                   const char *reason)
{
    login_refused(rq, actor, NULL, name, reason);
    dash_error(rs, 401, "name or password is wrong");
}

void dash_h_login(dash_req *rq, dash_resp *rs)
{
    json_t *body = dash_body_object(rq, rs);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!name || !*name || !password || !*password ||
        strlen(name) >= sizeof((dash_user *)0)->name || strlen(password) > 1024) {
        dash_error(rs, 400, "name and password are required (non-empty strings)");
        json_decref(body);
        return;
    }
    const char *p[] = {name};
    /* L1 throttling: refusals since the last successful login, within 15 minutes */
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT count(*) FROM audit_log WHERE at > now() - interval '15 minutes' "
        "AND action = 'login' AND outcome = 'refused' AND target = $1 "
        "AND detail->>'reason' IS DISTINCT FROM 'throttled' "
        "AND at > coalesce((SELECT max(at) FROM audit_log WHERE actor = $1 AND action = 'login' "
        "AND outcome = 'ok'), '-infinity')",
        1, p);
    if (!r)
        goto out;
    long fails = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (fails >= LOGIN_FAILS_MAX) {
        login_refused(rq, "", NULL, name, "throttled");
        dash_error(rs, 429,
                   "too many failed logins for this name; try again in 15 minutes or ask a "
                   "supervisor");
        goto out;
    }
    r = dash_sql(rq, rs,
                 "SELECT role, password_hash, to_json(queues)::text, disabled "
                 "FROM dashboard_users WHERE name = $1",
                 1, p);
    if (!r)
        goto out;
    if (PQntuples(r) == 0) {
        PQclear(r);
        (void)verify(dummy_hash, password); /* the same work as for a known name */
        refuse(rq, rs, "", name, "unknown name");
        goto out;
    }
    char role[16];
    snprintf(role, sizeof role, "%s", PQgetvalue(r, 0, 0));
    int ok = verify(PQgetvalue(r, 0, 1), password);
    json_t *queues = queues_of(PQgetvalue(r, 0, 2));
    bool disabled = PQgetvalue(r, 0, 3)[0] == 't';
    PQclear(r);
    if (ok < 0)
        of_err("the stored password hash of %s is not a valid Argon2id hash; set the password "
               "again with orderflow-admin user",
               name);
    if (ok != 1) {
        refuse(rq, rs, name, name, ok < 0 ? "stored hash not valid" : "wrong password");
        json_decref(queues);
        goto out;
    }
    if (disabled) {
        login_refused(rq, name, role, name, "disabled");
        dash_error(rs, 403, "this account is disabled; please ask a supervisor");
        json_decref(queues);
        goto out;
    }
    char token[72], csrf[72], ttl[16];
    if (random_hex(token, 32) || random_hex(csrf, 32)) {
        dash_error(rs, 500, "no random bytes for a session; try again");
        json_decref(queues);
        goto out;
    }
    snprintf(ttl, sizeof ttl, "%d", rq->app->dcfg.session_ttl_s);
    const char *ins[] = {token, name, csrf, ttl};
    r = dash_sql(rq, rs,
                 "INSERT INTO dashboard_sessions (token_hash, user_name, csrf_token, expires_at) "
                 "VALUES (sha256($1::bytea), $2, $3, now() + make_interval(secs => $4::int))",
                 4, ins);
    if (!r) {
        json_decref(queues);
        goto out;
    }
    PQclear(r);
    /* this user's expired sessions go now (a row per login otherwise stays forever) */
    r = dash_sql(
        rq, rs, "DELETE FROM dashboard_sessions WHERE user_name = $1 AND expires_at < now()", 1, p);
    PQclear(r);
    dash_audit_as(rq, name, role, "login", name, "ok", NULL);
    snprintf(rs->set_cookie, sizeof rs->set_cookie,
             DASH_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", token,
             rq->app->dcfg.session_ttl_s, rq->app->dcfg.cookie_secure ? "; Secure" : "");
    dash_json(rs, 200,
              json_pack("{s:o,s:s}", "user", user_json(name, role, queues), "csrf_token", csrf));
    json_decref(queues);
out:
    json_decref(body);
}

void dash_h_logout(dash_req *rq, dash_resp *rs)
{
    char token[80];
    session_token(rq, token);
    const char *p[] = {token};
    PGresult *r = dash_sql(
        rq, rs, "DELETE FROM dashboard_sessions WHERE token_hash = sha256($1::bytea)", 1, p);
    if (!r)
        return;
    PQclear(r);
    dash_audit(rq, "logout", rq->user->name, "ok", NULL);
    snprintf(rs->set_cookie, sizeof rs->set_cookie,
             DASH_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
             rq->app->dcfg.cookie_secure ? "; Secure" : "");
    dash_raw(rs, 204, "", NULL, 0);
}

void dash_h_me(dash_req *rq, dash_resp *rs)
{
    PGresult *r = dash_sql(rq, rs, "SELECT now()", 0, NULL);
    if (!r)
        return;
    json_t *now = dash_value(PQgetvalue(r, 0, 0), PQftype(r, 0));
    PQclear(r);
    const dash_user *u = rq->user;
    dash_json(rs, 200,
              json_pack("{s:o,s:s,s:o}", "user", user_json(u->name, u->role, u->queues),
                        "csrf_token", u->csrf, "server_time", now));
}
