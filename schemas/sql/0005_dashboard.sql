-- 0005_dashboard.sql — what the staff dashboard needs (issue 6): its user accounts
-- (Argon2id password hashes), login sessions, the audit log of every action taken there,
-- the indexes its list pages read by, and the read-only role for Grafana or Metabase.

-- A dashboard account. name is the person's staff name: the actor (A0) of every event the
-- dashboard publishes for them, and their row in the staff roster (M4/M8 role checks).
-- queues: the role queues of tasks (tasks.assignee) this person works besides their own,
-- e.g. a staff member works 'registrar', 'order_clerk' and 'after_sales' tasks.
CREATE TABLE dashboard_users (
    name          text        PRIMARY KEY,
    role          text        NOT NULL CHECK (role IN ('staff', 'assistant', 'supervisor',
                                                       'operations')),
    password_hash text        NOT NULL, -- argon2id encoded ($argon2id$v=19$m=...,t=2,p=1$...)
    queues        text[]      NOT NULL DEFAULT '{}',
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A login session. The cookie carries a random token; only its SHA-256 is stored, so a
-- copy of this table lets nobody in. csrf_token is sent back in X-CSRF-Token on every
-- state-changing request.
CREATE TABLE dashboard_sessions (
    token_hash   bytea       PRIMARY KEY, -- sha256(cookie token)
    user_name    text        NOT NULL REFERENCES dashboard_users (name) ON DELETE CASCADE,
    csrf_token   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_name);

-- Every action taken at the dashboard (and every login, failed or not): who, what, when.
CREATE TABLE audit_log (
    audit_id bigserial   PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor    text        NOT NULL, -- the user name ('' for a failed login of an unknown name)
    role     text,
    action   text        NOT NULL, -- e.g. login, task.complete, recharge.lock, deadletter.replay
    target   text,                 -- what it was done to: an order id, a task id, a day...
    outcome  text        NOT NULL CHECK (outcome IN ('ok', 'refused', 'error')),
    detail   jsonb       NOT NULL DEFAULT '{}',
    client   text                  -- the client's address
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE VIEW audit_log_v AS
SELECT audit_id, at, actor, role, action, target, outcome, detail, client FROM audit_log;

-- List pages read newest first with keyset pagination ("created_at < cursor"): each list
-- has an index in its sort order, with its filter column first where one is common.
CREATE INDEX orders_created ON orders (created_at, order_id);
CREATE INDEX orders_state ON orders (state, created_at, order_id);
CREATE INDEX tasks_created ON tasks (created_at, task_id);
CREATE INDEX tasks_status ON tasks (status, created_at, task_id);
-- "my tasks" (assignee in my name and queues): supersedes 0002's tasks_assignee
DROP INDEX tasks_assignee;
CREATE INDEX tasks_assignee_page ON tasks (assignee, status, created_at, task_id);
CREATE INDEX tasks_order ON tasks (order_id, task_id); -- the order page
-- the live-updates poller sees a task closed by max(closed_at)
CREATE INDEX tasks_closed ON tasks (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX balance_ledger_order ON balance_ledger (order_id, entry_id);
-- columns a lease renewal never changes, so renewals stay HOT updates
CREATE INDEX recharges_requested ON recharges (requested_at, order_id);
CREATE INDEX remittances_ordered ON remittances (ordered_at, remit_id);
CREATE INDEX recharge_processor_days_day ON recharge_processor_days (day, processor);
CREATE INDEX breaches_observed ON breaches (observed_at, breach_id);
CREATE INDEX alerts_at ON alerts (at, alert_id);
CREATE INDEX remittances_state ON remittances (state, notified_at);
CREATE INDEX refund_registrations_at ON refund_registrations (registered_at, reg_id);
CREATE INDEX balance_ledger_at ON balance_ledger (at, entry_id);
-- the dashboard waits for the outcome of an event it published (applied or dead-lettered)
CREATE INDEX dead_letters_event ON dead_letters (event_source, event_id);
CREATE INDEX order_notes_event ON order_notes (event_source, event_id);

-- For Grafana or Metabase: a role that can read the SPEC §6 views and nothing else. Grant
-- it to a login role of your own: CREATE ROLE grafana LOGIN PASSWORD '…' IN ROLE
-- orderflow_readonly. (Roles belong to the whole server: created once, kept if it exists.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orderflow_readonly') THEN
        CREATE ROLE orderflow_readonly NOLOGIN;
    END IF;
END
$$;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM orderflow_readonly;
GRANT USAGE ON SCHEMA public TO orderflow_readonly;
GRANT SELECT ON order_notes_v, orders_v, tasks_v, recharges_v, breaches_v, alerts_v,
                remittances_v, remittance_daily_v, refund_registrations_v, balance_ledger_v,
                recharge_daily_v, dead_letters_v
   TO orderflow_readonly;
-- recharge_daily_v reads the shop's time zone through this function: it runs with its
-- owner's rights, so the reader needs no access to recharge_settings itself.
ALTER FUNCTION recharge_shop_tz() SECURITY DEFINER SET search_path = public, pg_temp;
