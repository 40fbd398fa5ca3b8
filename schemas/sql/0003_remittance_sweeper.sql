-- 0003_remittance_sweeper.sql — the remittance flow (SPEC M1-M8), the staff roster the
-- rules check roles against, and what the sweeper produces: deadline breaches (T3) and
-- alerts, sent to ops.alerts and the webhook from an outbox.

-- Who is who: a verification or a day's review needs the supervisor role (M4, M8).
CREATE TABLE staff (
    name       text        PRIMARY KEY,
    role       text        NOT NULL CHECK (role IN ('staff', 'assistant', 'supervisor',
                                                    'operations', 'relister', 'registrar')),
    online     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The same goods in two orders (M5): the items as sorted "sku×qty" pairs, so an off-shop
-- remittance and a shop order of one buyer can be matched by equality.
CREATE FUNCTION items_key(items jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(k, ';' ORDER BY k)
      FROM (SELECT (i->>'sku') || '×' || (i->>'qty') AS k FROM jsonb_array_elements(items) i) s
$$;

ALTER TABLE orders ADD COLUMN items_key text GENERATED ALWAYS AS (items_key(items)) STORED;
CREATE INDEX orders_open_by_buyer ON orders (buyer_id, items_key)
    WHERE NOT closed AND state = 'unpaid';

CREATE TABLE remittances (
    remit_id        text          PRIMARY KEY,
    buyer_id        text          NOT NULL,
    placed_on_shop  boolean       NOT NULL,
    shop_order_id   text,
    items           jsonb         NOT NULL,
    items_key       text          GENERATED ALWAYS AS (items_key(items)) STORED,
    duplicate_order_id text,      -- M5: the duplicate shop order this remittance closed
    address         text          NOT NULL,
    staff           text          NOT NULL,
    overseas        boolean       NOT NULL DEFAULT false,
    state           text          NOT NULL CHECK (state IN ('ordered', 'notified', 'verified',
                                                            'shipped')),
    ordered_at      timestamptz   NOT NULL,
    day             date          NOT NULL, -- the shop's day of the order (M7)
    notified_at     timestamptz,
    remitted_on     date,
    method          text,
    bank            text,
    amount          numeric(14,2),
    notified_by     text,
    verified_at     timestamptz,
    verified_by     text,
    buyer_told_at   timestamptz, -- M4: the buyer is told the money arrived
    shipped_at      timestamptz,
    waybill_no      text,
    shipped_by      text,
    m3_breached_at  timestamptz, -- set once by the sweeper (M3)
    updated_at      timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX remittances_day ON remittances (day);
CREATE INDEX remittances_off_shop ON remittances (buyer_id, items_key)
    WHERE NOT placed_on_shop AND duplicate_order_id IS NULL;
-- the sweeper's M3 scan: notices waiting for verification, not yet breached
CREATE INDEX remittances_m3_due ON remittances (notified_at)
    WHERE state = 'notified' AND m3_breached_at IS NULL;

CREATE TABLE remittance_reviews (
    day         date        PRIMARY KEY,
    supervisor  text        NOT NULL,
    reviewed_at timestamptz NOT NULL
);

-- Every deadline breach, once per rule and subject (T3); the unique key is what keeps
-- several sweepers, or a restarted one, from recording or alerting twice.
CREATE TABLE breaches (
    breach_id   bigserial   PRIMARY KEY,
    rule        text        NOT NULL,
    subject_id  text        NOT NULL,
    actor       text,
    deadline    timestamptz NOT NULL,
    observed_at timestamptz NOT NULL DEFAULT now(),
    detail      jsonb       NOT NULL DEFAULT '{}',
    UNIQUE (rule, subject_id)
);

-- The alert outbox: a row per alert, published to ops.alerts and posted to the webhook by
-- the sweeper, retried with backoff until both have taken it.
CREATE TABLE alerts (
    alert_id        bigserial   PRIMARY KEY,
    kind            text        NOT NULL, -- breach, suspended, readiness
    rule            text        NOT NULL,
    subject_id      text        NOT NULL,
    reason          text        NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    payload         jsonb       NOT NULL,
    published_at    timestamptz, -- on ops.alerts
    sent_at         timestamptz, -- taken by the webhook (or no webhook configured)
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    UNIQUE (rule, subject_id, kind)
);
CREATE INDEX alerts_pending ON alerts (next_attempt_at)
    WHERE sent_at IS NULL OR published_at IS NULL;

-- T1: orders past their ship-by day, not shipped, not yet breached
ALTER TABLE orders ADD COLUMN t1_breached_at timestamptz;
CREATE INDEX orders_t1_due ON orders (ship_by)
    WHERE shipped_at IS NULL AND NOT closed AND ship_by IS NOT NULL AND t1_breached_at IS NULL;

CREATE VIEW remittances_v AS
SELECT remit_id, buyer_id, state, staff, notified_at, verified_at, shipped_at,
       placed_on_shop, shop_order_id, items, address, overseas, ordered_at, day, remitted_on,
       method, bank, amount, verified_by, buyer_told_at, waybill_no
  FROM remittances;

-- M7: the daily remittance sales record (匯款銷售記錄表), one row per remittance of the day
CREATE VIEW remittance_daily_v AS
SELECT r.day, r.remit_id, r.buyer_id, r.amount, r.state, v.supervisor AS reviewed_by,
       r.staff, r.placed_on_shop, r.items, r.address, r.notified_at, r.verified_at,
       r.shipped_at, r.waybill_no, v.reviewed_at
  FROM remittances r LEFT JOIN remittance_reviews v ON v.day = r.day;

-- M8: days with remittances that no supervisor has reviewed
CREATE VIEW remittance_unreviewed_days_v AS
SELECT r.day, count(*) AS remittances
  FROM remittances r LEFT JOIN remittance_reviews v ON v.day = r.day
 WHERE v.day IS NULL GROUP BY r.day;

CREATE VIEW breaches_v AS
SELECT rule, subject_id, actor, deadline, observed_at, breach_id, detail FROM breaches;

CREATE VIEW alerts_v AS
SELECT kind, subject_id, sent_at, payload, alert_id, rule, reason, at, published_at, attempts,
       last_error
  FROM alerts;
