/* auth.h — who is asking: the session cookie (of_session) and its row in dashboard_sessions,
 * the CSRF token and Origin checks on state-changing requests, the route's roles, login
 * throttling, and the audit log. The pure parts (cookie parsing, constant-time compare,
 * Origin vs Host, role names) are here for the unit tests. */
#ifndef DASH_AUTH_H
#define DASH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "of_error.h"

#define DASH_COOKIE "of_session"

/* Finds cookie name in a Cookie header ("a=1; of_session=…"); 1 with its value in out,
 * 0 when absent (or too long for out). */
int dash_cookie_get(const char *header, const char *name, char *out, size_t outsz);
/* Compares two tokens in time independent of where they differ; false when either is NULL. */
bool dash_token_equal(const char *a, const char *b);
/* Whether an Origin header ("https://host:port") names host (the Host header's value). */
bool dash_origin_matches(const char *origin, const char *host);
/* DASH_STAFF… for a role name; 0 when unknown. */
int dash_role_bit(const char *role);
/* "the supervisor role", "the supervisor or operations role", ... */
void dash_roles_text(int roles, char *out, size_t outsz);

/* Start-up: the dummy hash unknown names are verified against (equal timing). */
int dash_auth_setup(of_error *err) OF_MUST_CHECK;

/* Whether the request carries a well-formed session cookie at all (checked before a
 * database connection is taken, so "please log in" needs no database); -1 with 401 set. */
int dash_auth_has_cookie(const dash_req *rq, dash_resp *rs);
/* The request's session: 0 with user filled (user->queues owned by the caller), or -1 with
 * 401 (no or expired session) or 503 set. */
int dash_auth_session(dash_req *rq, dash_resp *rs, dash_user *user);
/* A state-changing request: the Origin header, when sent, must name this server; and unless
 * DASH_NO_CSRF, X-CSRF-Token must equal the session's token. -1 with 403 set. */
int dash_auth_check_write(dash_req *rq, dash_resp *rs, int route_flags);
/* The route's roles: -1 with 403 "this needs the … role" set. */
int dash_auth_check_role(dash_req *rq, dash_resp *rs, int roles);

/* dash_audit with an explicit actor (a login, before there is a user). */
void dash_audit_as(dash_req *rq, const char *actor, const char *role, const char *action,
                   const char *target, const char *outcome, json_t *detail);

#endif
