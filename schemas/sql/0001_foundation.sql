-- 0001_foundation.sql — the ingest foundation: which events were applied (G1/G2), where
-- each consumer group stands (offsets kept with the effects, G1), dead letters (G4), and
-- orders with their lifecycle. Applied by deploy/local/migrate in one transaction.

-- One row per applied event: (source, id) identifies an event (G2); seq is the order in
-- which events were applied, so a test can check per-order publication order (G3).
CREATE TABLE applied_events (
    source      text        NOT NULL,
    id          text        NOT NULL,
    seq         bigserial   NOT NULL UNIQUE,
    type        text        NOT NULL,
    subject     text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    event_time  timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);

-- The next offset to consume per group and partition, written in the same transaction as
-- the effects of the events before it: a restarted worker resumes exactly there (G1).
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Every message that was not applied, with the reason a shop can act on (G4). A message is
-- recorded once however often it is redelivered: (topic, partition, offset) is unique.
CREATE TABLE dead_letters (
    dl_id        bigserial   PRIMARY KEY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    reason       text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    msg_key      bytea,
    payload      bytea       NOT NULL,
    payload_text text        NOT NULL, -- the payload as text; invalid UTF-8 bytes as \xNN
    event_type   text,
    event_source text,
    event_id     text,
    headers      jsonb,       -- the message headers (binary-mode events need them to replay)
    replayed_at  timestamptz,
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);

CREATE TABLE orders (
    order_id     text          PRIMARY KEY,
    shop_id      text          NOT NULL,
    buyer_id     text          NOT NULL,
    state        text          NOT NULL CHECK (state IN ('unpaid', 'paid', 'printed', 'shipped')),
    total        numeric(14,2) NOT NULL,
    postage      numeric(14,2) NOT NULL,
    auction      boolean       NOT NULL,
    items        jsonb         NOT NULL,
    created_at   timestamptz   NOT NULL, -- the order.created event's time
    paid_at      timestamptz,
    paid_amount  numeric(14,2),
    pay_method   text,
    printed_at   timestamptz,
    waybill_no   text,
    shipped_at   timestamptz,
    carrier      text,
    closed       boolean       NOT NULL DEFAULT false,
    closed_at    timestamptz,
    close_reason text,
    version      integer       NOT NULL DEFAULT 1, -- events applied to this order
    updated_at   timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX orders_shop ON orders (shop_id, created_at);
CREATE INDEX orders_buyer ON orders (buyer_id, created_at);

-- Contract views (SPEC §6). Columns may be added, never renamed or removed.
CREATE VIEW orders_v AS
SELECT order_id, shop_id, buyer_id, state, total, paid_at, printed_at, closed,
       postage, auction, items, created_at, paid_amount, pay_method, waybill_no, shipped_at,
       carrier, closed_at, close_reason, updated_at
  FROM orders;

CREATE VIEW dead_letters_v AS
SELECT topic, partition, "offset", reason, received_at, payload_text AS payload,
       dl_id, event_type, event_source, event_id, replayed_at
  FROM dead_letters;
