/* handlers.h — the prototypes of every route handler named in the route table (routes.c).
 * The core's handlers (auth.c, sse.c) come first; the API handlers (api_*.c) add theirs in
 * their own section below. */
#ifndef DASH_HANDLERS_H
#define DASH_HANDLERS_H

#include "http.h"

/* ---- core (auth.c, sse.c) ---- */
void dash_h_login(dash_req *rq, dash_resp *rs);  /* POST /api/v1/login */
void dash_h_logout(dash_req *rq, dash_resp *rs); /* POST /api/v1/logout */
void dash_h_me(dash_req *rq, dash_resp *rs);     /* GET /api/v1/me */
void dash_h_live(dash_req *rq, dash_resp *rs);   /* GET /api/v1/live (Server-Sent Events) */

/* ---- API handlers (api_*.c) ---- */
/* api_orders.c */
void dash_h_orders(dash_req *rq, dash_resp *rs); /* GET /api/v1/orders */
void dash_h_order(dash_req *rq, dash_resp *rs);  /* GET /api/v1/orders/{order_id} */
/* api_tasks.c */
void dash_h_tasks(dash_req *rq, dash_resp *rs);               /* GET /api/v1/tasks */
void dash_h_task_complete(dash_req *rq, dash_resp *rs);       /* POST …/tasks/{id}/complete */
void dash_h_tasks_bulk_complete(dash_req *rq, dash_resp *rs); /* POST …/tasks/bulk-complete */
/* api_desk.c */
void dash_h_desk(dash_req *rq, dash_resp *rs);          /* GET /api/v1/desk */
void dash_h_desk_lock(dash_req *rq, dash_resp *rs);     /* POST /api/v1/desk/lock */
void dash_h_desk_complete(dash_req *rq, dash_resp *rs); /* POST …/desk/{order_id}/complete */
void dash_h_desk_release(dash_req *rq, dash_resp *rs);  /* POST …/desk/{order_id}/release */
void dash_h_desk_resolve(dash_req *rq, dash_resp *rs);  /* POST …/desk/{order_id}/resolve */
void dash_h_recharges(dash_req *rq, dash_resp *rs);     /* GET /api/v1/recharges */

/* POST /api/v1/desk/resolve-bulk: many suspended orders at once (api_desk.c) */
void dash_h_desk_resolve_bulk(dash_req *rq, dash_resp *rs);
/* api_ops.c */
void dash_h_breaches(dash_req *rq, dash_resp *rs);            /* GET /api/v1/breaches */
void dash_h_alerts(dash_req *rq, dash_resp *rs);              /* GET /api/v1/alerts */
void dash_h_dead_letters(dash_req *rq, dash_resp *rs);        /* GET /api/v1/dead-letters */
void dash_h_dead_letters_replay(dash_req *rq, dash_resp *rs); /* POST …/dead-letters/replay */
/* api_remit.c */
void dash_h_remittances(dash_req *rq, dash_resp *rs);           /* GET /api/v1/remittances */
void dash_h_remittance_verify(dash_req *rq, dash_resp *rs);     /* POST …/{remit_id}/verify */
void dash_h_remittance_days(dash_req *rq, dash_resp *rs);       /* GET /api/v1/remittance-days */
void dash_h_remittance_day(dash_req *rq, dash_resp *rs);        /* GET …/remittance-days/{day} */
void dash_h_remittance_day_csv(dash_req *rq, dash_resp *rs);    /* GET …/{day}/csv */
void dash_h_remittance_day_review(dash_req *rq, dash_resp *rs); /* POST …/{day}/review */
/* api_money.c */
void dash_h_refund_registrations(dash_req *rq, dash_resp *rs); /* GET …/refund-registrations */
void dash_h_balance_ledger(dash_req *rq, dash_resp *rs);       /* GET /api/v1/balance-ledger */
void dash_h_recharge_daily(dash_req *rq, dash_resp *rs);       /* GET /api/v1/recharge-daily */
/* api_audit.c */
void dash_h_audit(dash_req *rq, dash_resp *rs); /* GET /api/v1/audit */

#endif
