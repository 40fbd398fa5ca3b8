-- 0002_annotations.sql — what the annotation rules leave behind (SPEC 4.2-4.3): notes as
-- structured data with their renderings, staff tasks, refund registrations, the buyers'
-- balance ledger, and the order columns the rules need (address, struck skus, T1/T2).

ALTER TABLE orders
    ADD COLUMN address     text,
    ADD COLUMN struck_skus jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN ship_by     date,         -- T1: paid before 12:00 (shop time) ships that day
    ADD COLUMN refund_from timestamptz,  -- T2: paid time + 24 h
    ADD COLUMN refunded    numeric(14,2) NOT NULL DEFAULT 0; -- registered refunds (F3)

-- A note is data (code, parameters, author, time); rendered is the rule book's text
-- (Traditional Chinese), rendered_hans and rendered_en the dashboard's other languages.
CREATE TABLE order_notes (
    order_id       text        NOT NULL,
    seq            integer     NOT NULL,
    code           text        NOT NULL, -- the rule: A1..A21, F1..F4, M1
    template       text        NOT NULL, -- the variant in the catalogue, e.g. A5.zero
    params         jsonb       NOT NULL,
    author         text        NOT NULL,
    noted_at       timestamptz NOT NULL, -- the event's time
    rendered       text        NOT NULL,
    rendered_hans  text        NOT NULL,
    rendered_en    text        NOT NULL,
    event_source   text        NOT NULL,
    event_id       text        NOT NULL,
    PRIMARY KEY (order_id, seq)
);
CREATE INDEX order_notes_author ON order_notes (author, noted_at);

-- Follow-up work handed to a person or a role; closed by the event that completes it.
CREATE TABLE tasks (
    task_id     bigserial   PRIMARY KEY,
    order_id    text        NOT NULL,
    kind        text        NOT NULL, -- fix_waybill, cancel_waybill, relist, special_order,
                                      -- cancel_followup, after_sales, register_balance,
                                      -- register_refund, refund_due, cancel_done
    assignee    text        NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    created_at  timestamptz NOT NULL,
    closed_at   timestamptz,
    closed_by   text,
    detail      jsonb       NOT NULL DEFAULT '{}',
    created_by_source text  NOT NULL,
    created_by_id     text  NOT NULL
);
CREATE INDEX tasks_open ON tasks (order_id, kind) WHERE status = 'open';
CREATE INDEX tasks_assignee ON tasks (assignee, status, created_at);

CREATE TABLE refund_registrations (
    reg_id        bigserial     PRIMARY KEY,
    order_id      text          NOT NULL,
    buyer_id      text          NOT NULL,
    channel       text          NOT NULL,
    account       text          NOT NULL,
    real_name     text          NOT NULL,
    amount        numeric(14,2) NOT NULL,
    reason        text          NOT NULL,
    staff         text          NOT NULL,
    registered_at timestamptz   NOT NULL,
    reply         text          NOT NULL DEFAULT '已登記' -- what the requester is told (F3)
);
CREATE INDEX refund_registrations_order ON refund_registrations (order_id);

-- A buyer's balance: the running total is locked (FOR UPDATE) while an entry is added, so
-- it never goes negative whichever partition the entries come from (F4).
CREATE TABLE buyer_balances (
    buyer_id text          PRIMARY KEY,
    balance  numeric(14,2) NOT NULL DEFAULT 0 CHECK (balance >= 0)
);

CREATE TABLE balance_ledger (
    entry_id      bigserial     PRIMARY KEY,
    buyer_id      text          NOT NULL,
    delta         numeric(14,2) NOT NULL,
    balance_after numeric(14,2) NOT NULL CHECK (balance_after >= 0),
    order_id      text,
    at            timestamptz   NOT NULL,
    kind          text          NOT NULL, -- registered, used, price_deduction
    staff         text          NOT NULL,
    reason        text
);
CREATE INDEX balance_ledger_buyer ON balance_ledger (buyer_id, entry_id);

-- new columns go at the end, so the view is replaced in place (its users keep working)
CREATE OR REPLACE VIEW orders_v AS
SELECT order_id, shop_id, buyer_id, state, total, paid_at, printed_at, closed,
       postage, auction, items, created_at, paid_amount, pay_method, waybill_no, shipped_at,
       carrier, closed_at, close_reason, updated_at, address, struck_skus, ship_by,
       refund_from, refunded
  FROM orders;

CREATE VIEW order_notes_v AS
SELECT order_id, seq, code, author, noted_at, rendered,
       template, params, rendered_hans, rendered_en
  FROM order_notes;

CREATE VIEW tasks_v AS
SELECT task_id, order_id, kind, assignee, status, created_at, closed_at, closed_by, detail
  FROM tasks;

-- Masking for everyone but supervisors (the dashboard picks the column by role): keeps
-- the last 4 characters of an account.
CREATE FUNCTION mask_account(a text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN char_length(a) <= 4 THEN repeat('*', char_length(a))
                ELSE repeat('*', char_length(a) - 4) || right(a, 4) END
$$;
CREATE FUNCTION mask_name(n text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN char_length(n) <= 1 THEN '*'
                ELSE left(n, 1) || repeat('*', char_length(n) - 1) END
$$;

CREATE VIEW refund_registrations_v AS
SELECT order_id, buyer_id, channel, mask_account(account) AS account_masked, amount, reason,
       staff, registered_at, reg_id, mask_name(real_name) AS real_name_masked, reply
  FROM refund_registrations;

CREATE VIEW balance_ledger_v AS
SELECT buyer_id, delta, balance_after, order_id, at, entry_id, kind, staff, reason
  FROM balance_ledger;
