/* api_audit.c — the audit log (audit_log_v): every action taken at the dashboard and every
 * login, who, what, on what, with which outcome (ok / refused / error). Supervisors and
 * operations read it; newest first with keyset pagination on audit_log_at (audit_log_actor
 * when filtered by actor). */
#include <stdio.h>

#include "api_util.h"
#include "handlers.h"

static const char *const outcomes[] = {"ok", "refused", "error", NULL};

/* GET /api/v1/audit?actor&action&target&outcome&from&to */
void dash_h_audit(dash_req *rq, dash_resp *rs)
{
    static const char *const known[] = {"actor", "action", "target", "outcome", "from", "to", NULL};
    api_args a;
    api_args_query(&a, rq);
    dash_page pg;
    api_range tr;
    const char *actor, *action, *target, *outcome;
    if (api_args_known(&a, rs, known) || dash_page_read(rq, rs, &pg) ||
        api_cursor_check(&pg, rs, API_KEY_TIME, API_KEY_INT) ||
        api_text(&a, rs, "actor", 128, &actor) || api_text(&a, rs, "action", 64, &action) ||
        api_text(&a, rs, "target", 200, &target) ||
        api_enum(&a, rs, "outcome", outcomes, &outcome) || api_range_read(&a, rs, &tr))
        return;
    char lim[24];
    api_fetch_limit(&pg, lim, sizeof lim);
    const char *p[] = {actor,
                       action,
                       target,
                       outcome,
                       api_nz(tr.from),
                       api_nz(tr.to),
                       api_nz(pg.after_key),
                       pg.after_id[0] ? pg.after_id : NULL,
                       lim};
    PGresult *r = dash_sql(
        rq, rs,
        "SELECT audit_id, at, actor, role, action, target, outcome, detail, client "
        "FROM audit_log_v WHERE ($1::text IS NULL OR actor = $1) "
        "AND ($2::text IS NULL OR action = $2) AND ($3::text IS NULL OR target = $3) "
        "AND ($4::text IS NULL OR outcome = $4) "
        "AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6) "
        "AND ($7::timestamptz IS NULL OR (at, audit_id) < ($7, $8::bigint)) "
        "ORDER BY at DESC, audit_id DESC LIMIT $9",
        9, p);
    if (!r)
        return;
    dash_json(rs, 200, dash_page_result(r, &pg, "at", "audit_id"));
    PQclear(r);
}
