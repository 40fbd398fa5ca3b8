/* routes.c — the dashboard's route table: every API endpoint, the roles that may call it and
 * whether it needs a session or a CSRF token. http.c matches a request against this table in
 * order (first match wins; {name} segments match one path segment, URL-decoded) and checks
 * session, CSRF and roles before calling the handler. Static files are not routes: any GET
 * outside /api that matches nothing here is served from www/ (static.c). */
#include "handlers.h"
#include "http.h"

const dash_route dash_routes[] = {
    /* ---- core (auth.c, sse.c) ---- */
    {"POST", "/api/v1/login", dash_h_login, 0, DASH_PUBLIC | DASH_NO_CSRF},
    {"POST", "/api/v1/logout", dash_h_logout, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/me", dash_h_me, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/live", dash_h_live, DASH_ANY_ROLE, 0},

    /* ---- API routes (api_*.c) ---- */
    {"GET", "/api/v1/orders", dash_h_orders, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/orders/{order_id}", dash_h_order, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/tasks", dash_h_tasks, DASH_ANY_ROLE, 0},
    {"POST", "/api/v1/tasks/bulk-complete", dash_h_tasks_bulk_complete, DASH_ANY_ROLE, 0},
    {"POST", "/api/v1/tasks/{task_id}/complete", dash_h_task_complete, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/desk", dash_h_desk, DASH_STAFF | DASH_SUPERVISOR | DASH_OPERATIONS, 0},
    {"POST", "/api/v1/desk/lock", dash_h_desk_lock, DASH_STAFF | DASH_SUPERVISOR, 0},
    {"POST", "/api/v1/desk/resolve-bulk", dash_h_desk_resolve_bulk, DASH_STAFF | DASH_SUPERVISOR,
     0},
    {"POST", "/api/v1/desk/{order_id}/complete", dash_h_desk_complete, DASH_STAFF | DASH_SUPERVISOR,
     0},
    {"POST", "/api/v1/desk/{order_id}/release", dash_h_desk_release, DASH_STAFF | DASH_SUPERVISOR,
     0},
    {"POST", "/api/v1/desk/{order_id}/resolve", dash_h_desk_resolve, DASH_STAFF | DASH_SUPERVISOR,
     0},
    {"GET", "/api/v1/recharges", dash_h_recharges, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/recharge-daily", dash_h_recharge_daily, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/breaches", dash_h_breaches, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/alerts", dash_h_alerts, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/dead-letters", dash_h_dead_letters, DASH_SUPERVISOR | DASH_OPERATIONS, 0},
    {"POST", "/api/v1/dead-letters/replay", dash_h_dead_letters_replay,
     DASH_SUPERVISOR | DASH_OPERATIONS, 0},
    {"GET", "/api/v1/remittances", dash_h_remittances, DASH_ANY_ROLE, 0},
    {"POST", "/api/v1/remittances/{remit_id}/verify", dash_h_remittance_verify, DASH_SUPERVISOR, 0},
    {"GET", "/api/v1/remittance-days", dash_h_remittance_days, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/remittance-days/{day}", dash_h_remittance_day, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/remittance-days/{day}/csv", dash_h_remittance_day_csv, DASH_ANY_ROLE, 0},
    {"POST", "/api/v1/remittance-days/{day}/review", dash_h_remittance_day_review, DASH_SUPERVISOR,
     0},
    {"GET", "/api/v1/refund-registrations", dash_h_refund_registrations, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/balance-ledger", dash_h_balance_ledger, DASH_ANY_ROLE, 0},
    {"GET", "/api/v1/audit", dash_h_audit, DASH_SUPERVISOR | DASH_OPERATIONS, 0},

    /* ---- end of API routes ---- */
};

const size_t dash_routes_count = sizeof dash_routes / sizeof dash_routes[0];
