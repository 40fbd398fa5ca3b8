-- 0004_recharge.sql — direct recharge (直充, SPEC R1-R7): the queue of recharge orders,
-- the processors that take them under a lease (recharge-worker's automated desks, staff at
-- the dashboard), the attempts made at the provider, and the daily record.
--
-- The lease protocol lives here, as functions, because several programs speak it (the
-- worker's desk, the dashboard's staff API, the tests and the benchmark) and it must be the
-- same everywhere:
--   recharge_lock      takes up to n orders (queued, or locked with an expired lease), oldest
--                      request first, FOR UPDATE SKIP LOCKED; a new fencing token each time
--   recharge_renew     extends leases still held (token matches, not yet expired)
--   recharge_finish    commits outcomes (succeeded / failed / suspended) of leases still held
--   recharge_release   gives leases back to the queue
--   recharge_resolve   a staff member settles a suspended order
-- Expiry is judged by the DATABASE clock (clock_timestamp()), never a processor's. A write
-- with an old token or an expired lease changes nothing (fencing): the caller sees which
-- of its rows were refused.

-- The shop's settings the views need (the worker writes shop_tz at start).
CREATE TABLE recharge_settings (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION recharge_shop_tz() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT value FROM recharge_settings WHERE key = 'shop_tz'),
                    nullif(current_setting('orderflow.shop_tz', true), ''), 'Asia/Shanghai')
$$;

-- Personal data (the phone number or game id) for dashboards: the last 4 characters.
CREATE FUNCTION recharge_mask(account text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(account) <= 4 THEN repeat('*', length(account))
                ELSE repeat('*', length(account) - 4) || right(account, 4) END
$$;

-- The idempotency key of an order's n-th attempt (R7): "<order_id>-<n>", or a digest of a
-- long order id so the key stays within the 64 characters of the event schema.
CREATE FUNCTION recharge_attempt_id(order_id text, n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(order_id) + 1 + length(n::text) <= 64 THEN order_id || '-' || n
                ELSE 'h' || md5(order_id) || '-' || n END
$$;

-- Fencing tokens: every lock takes the next one.
CREATE SEQUENCE recharge_lock_tokens;

-- Who processes recharges: a recharge-worker desk (kind worker) or a staff member at the
-- dashboard (kind staff). Heartbeats say who is online (R5).
CREATE TABLE processors (
    name              text        PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('worker', 'staff')),
    expected          boolean     NOT NULL DEFAULT false, -- R5: must be online by the shift start
    online_since      timestamptz, -- start of the current unbroken run of heartbeats
    last_heartbeat_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recharges (
    order_id           text          PRIMARY KEY,
    shop_id            text          NOT NULL,
    account            text          NOT NULL, -- personal data: recharge_mask() for display
    product            text          NOT NULL,
    face_value         numeric(14,2) NOT NULL,
    amount             numeric(14,2) NOT NULL,
    requested_at       timestamptz   NOT NULL, -- the event's time: the queue's order
    queued_at          timestamptz   NOT NULL DEFAULT clock_timestamp(), -- waiting since
    state              text          NOT NULL DEFAULT 'queued'
                       CHECK (state IN ('queued', 'locked', 'succeeded', 'failed', 'suspended')),
    locked_by          text,        -- the lease holder while locked
    last_processor     text,        -- who locked it last (kept after the lease ends)
    lock_token         bigint,      -- fencing token of the current (or last) lease
    locked_at          timestamptz,
    renewed_at         timestamptz,
    lock_expires_at    timestamptz,
    attempts           integer       NOT NULL DEFAULT 0, -- attempt ids made (R7)
    attempt_id         text,        -- the current attempt: the provider's idempotency key
    attempt_started_at timestamptz,
    result             text          CHECK (result IN ('success', 'failed', 'unknown', 'pending')),
    result_at          timestamptz, -- when the provider's result arrived (R3)
    handled_at         timestamptz, -- when the state after it was committed (R3)
    handled_by         text,
    provider_ref       text,
    suspend_reason     text,
    updated_at         timestamptz   NOT NULL DEFAULT now()
);
-- the queue: recharge_lock's scan, oldest request first
CREATE INDEX recharges_queue ON recharges (requested_at) WHERE state IN ('queued', 'locked');
-- A queue table: every order is updated twice or more within seconds, and the head of the
-- queue index fills with dead entries the lock scan must step over. Vacuum it early and
-- without throttling; leave room in each page for the renewals (HOT updates).
ALTER TABLE recharges SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0,
                           autovacuum_vacuum_threshold = 20000,
                           autovacuum_vacuum_insert_scale_factor = 0,
                           autovacuum_vacuum_insert_threshold = 20000,
                           autovacuum_vacuum_cost_delay = 0);
-- suspended orders waiting for staff
CREATE INDEX recharges_suspended ON recharges (handled_at) WHERE state = 'suspended';

-- Attempts other than an order's current one (recharges.attempt_id and its outcome): those a
-- staff retry superseded, and notes on an attempt a later recharge.result contradicted.
-- recharge_attempts_v shows every attempt. (Keeping the usual single attempt on the order's
-- own row spares a write per order on the hot path.)
CREATE TABLE recharge_attempts (
    attempt_id      text        PRIMARY KEY,
    order_id        text        NOT NULL REFERENCES recharges (order_id),
    n               integer     NOT NULL,
    processor       text,
    token           bigint,
    started_at      timestamptz NOT NULL,
    status          text        NOT NULL CHECK (status IN ('success', 'failed', 'unknown', 'pending')),
    provider_ref    text,
    result_at       timestamptz,
    handled_at      timestamptz,
    reported_status text,        -- a later recharge.result event that disagreed (R7 alert)
    reported_at     timestamptz
);
CREATE INDEX recharge_attempts_order ON recharge_attempts (order_id);

-- Each processor's shop days: the R6 counters, added to by the lease functions, and the
-- times of its last lock and last finish, from which recharge_lock measures the R2 gap (one
-- row written per lease call, on the hot path, instead of two).
CREATE TABLE recharge_processor_days (
    processor        text          NOT NULL,
    day              date          NOT NULL,
    locked           bigint        NOT NULL DEFAULT 0,
    succeeded        bigint        NOT NULL DEFAULT 0,
    failed           bigint        NOT NULL DEFAULT 0,
    suspended        bigint        NOT NULL DEFAULT 0,
    amount           numeric(16,2) NOT NULL DEFAULT 0, -- paid amount of the succeeded orders
    last_locked_at   timestamptz,
    last_finished_at timestamptz,
    PRIMARY KEY (processor, day)
);

-- recharge_daily_v counts each processor's breaches per day
CREATE INDEX breaches_recharge_actor ON breaches (actor, observed_at)
    WHERE rule IN ('R1', 'R2', 'R3', 'R5');

-- ---------------------------------------------------------------------------------------
-- The lease protocol
-- ---------------------------------------------------------------------------------------

-- R1: takes up to p_max orders for p_processor: queued ones, or locked ones whose lease has
-- expired (the previous holder's lapse is an R1 breach), oldest request first. An order
-- without a current attempt gets a new attempt id (fresh: call POST /recharge); one that
-- has an attempt must be reconciled with GET /recharge/{attempt_id} first (R7).
-- R2: when the processor finished an order and has not locked since, the time from then
-- (or from when the order became available, if later) to now is its next-lock gap; a gap
-- over p_gap_s is a breach.
-- Written as a few short statements (the rare breaches only when they happen), each with a
-- plan that stays good whatever the parameters: this runs for every lease of every desk.
CREATE FUNCTION recharge_lock(p_processor text, p_max integer, p_lease_s double precision,
                              p_tz text, p_gap_s double precision)
RETURNS TABLE (order_id text, lock_token bigint, attempt_id text, fresh boolean,
               account text, product text, face_value text, lock_expires_at timestamptz,
               retaken boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_ids      text[];
    v_avail    timestamptz;
    v_lapsed   text[];      -- orders whose lease had expired
    v_holders  text[];
    v_tokens   bigint[];
    v_expired  timestamptz[];
    v_n        integer;
    v_finished timestamptz;
    v_locked   timestamptz;
BEGIN
    SELECT array_agg(q.order_id), min(q.available_at),
           array_agg(q.order_id) FILTER (WHERE q.state = 'locked'),
           array_agg(q.locked_by) FILTER (WHERE q.state = 'locked'),
           array_agg(q.lock_token) FILTER (WHERE q.state = 'locked'),
           array_agg(q.lock_expires_at) FILTER (WHERE q.state = 'locked')
      INTO v_ids, v_avail, v_lapsed, v_holders, v_tokens, v_expired
      FROM (SELECT q.order_id, q.state, q.locked_by, q.lock_token, q.lock_expires_at,
                   CASE WHEN q.state = 'queued' THEN q.queued_at ELSE q.lock_expires_at END
                       AS available_at
              FROM recharges q
             WHERE q.state IN ('queued', 'locked')
               AND (q.state = 'queued' OR q.lock_expires_at < v_now)
             ORDER BY q.requested_at
             LIMIT p_max
               FOR UPDATE SKIP LOCKED) q;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    UPDATE recharges r
       SET state = 'locked', locked_by = p_processor, last_processor = p_processor,
           lock_token = nextval('recharge_lock_tokens'), locked_at = v_now,
           renewed_at = v_now, lock_expires_at = v_now + p_lease_s * interval '1 second',
           attempts = r.attempts + (r.attempt_id IS NULL)::int,
           attempt_id = coalesce(r.attempt_id, recharge_attempt_id(r.order_id, r.attempts + 1)),
           attempt_started_at = CASE WHEN r.attempt_id IS NULL THEN v_now
                                     ELSE r.attempt_started_at END,
           updated_at = v_now
     WHERE r.order_id = ANY (v_ids)
       AND (r.state = 'queued' OR (r.state = 'locked' AND r.lock_expires_at < v_now))
    RETURNING r.order_id, r.lock_token, r.attempt_id, r.attempt_started_at = v_now,
              r.account, r.product, r.face_value::text, r.lock_expires_at,
              r.order_id = ANY (coalesce(v_lapsed, '{}'));
    GET DIAGNOSTICS v_n = ROW_COUNT;

    IF v_lapsed IS NOT NULL THEN -- R1: the previous holders let these leases expire
        WITH b AS (
            INSERT INTO breaches (rule, subject_id, actor, deadline, detail)
            SELECT 'R1', l.o || '/' || l.t, l.h, l.e,
                   jsonb_build_object('order_id', l.o, 'token', l.t, 'expired_at', l.e,
                                      'retaken_by', p_processor, 'retaken_at', v_now)
              FROM unnest(v_lapsed, v_holders, v_tokens, v_expired) AS l(o, h, t, e)
            ON CONFLICT (rule, subject_id) DO NOTHING
            RETURNING subject_id, actor, deadline, detail)
        INSERT INTO alerts (kind, rule, subject_id, reason, payload)
        SELECT 'breach', 'R1', b.subject_id, x.reason,
               jsonb_build_object('kind', 'breach', 'rule', 'R1', 'subject_id', b.subject_id,
                                  'reason', x.reason, 'at', v_now, 'actor', b.actor,
                                  'deadline', b.deadline, 'detail', b.detail)
          FROM b, LATERAL (SELECT 'lease of ' || coalesce(b.actor, '?') || ' on order ' ||
                                  (b.detail->>'order_id') || ' expired; taken over by ' ||
                                  p_processor AS reason) x
        ON CONFLICT (rule, subject_id, kind) DO NOTHING;
    END IF;

    SELECT d.last_finished_at, d.last_locked_at INTO v_finished, v_locked
      FROM recharge_processor_days d WHERE d.processor = p_processor
     ORDER BY d.day DESC LIMIT 1;
    IF v_finished IS NOT NULL AND v_finished >= coalesce(v_locked, '-infinity')
       AND v_now - greatest(v_finished, v_avail) > p_gap_s * interval '1 second' THEN
        -- R2: a gap since the last finish while orders waited
        WITH b AS (
            INSERT INTO breaches (rule, subject_id, actor, deadline, detail)
            VALUES ('R2', p_processor || '@' || to_char(v_finished AT TIME ZONE 'UTC',
                                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                    p_processor, greatest(v_finished, v_avail) + p_gap_s * interval '1 second',
                    jsonb_build_object('finished_at', v_finished, 'waiting_since', v_avail,
                                       'locked_at', v_now, 'gap_s',
                                       round(extract(epoch FROM v_now - greatest(v_finished,
                                                                                 v_avail))::numeric, 3)))
            ON CONFLICT (rule, subject_id) DO NOTHING
            RETURNING subject_id, actor, deadline, detail)
        INSERT INTO alerts (kind, rule, subject_id, reason, payload)
        SELECT 'breach', 'R2', b.subject_id, x.reason,
               jsonb_build_object('kind', 'breach', 'rule', 'R2', 'subject_id', b.subject_id,
                                  'reason', x.reason, 'at', v_now, 'actor', b.actor,
                                  'deadline', b.deadline, 'detail', b.detail)
          FROM b, LATERAL (SELECT b.actor || ' locked its next order ' || (b.detail->>'gap_s') ||
                                  ' s after finishing one while orders waited' AS reason) x
        ON CONFLICT (rule, subject_id, kind) DO NOTHING;
    END IF;

    IF v_n > 0 THEN
        INSERT INTO recharge_processor_days AS c (processor, day, locked, last_locked_at)
        VALUES (p_processor, (v_now AT TIME ZONE p_tz)::date, v_n, v_now)
        ON CONFLICT (processor, day) DO UPDATE
           SET locked = c.locked + EXCLUDED.locked, last_locked_at = v_now;
    END IF;
END
$$;

-- Extends the leases p_processor still holds: p_leases is [{"o": order_id, "t": token}].
-- Returns the renewed ones; a missing row means the lease is lost (expired or taken over).
CREATE FUNCTION recharge_renew(p_processor text, p_leases json, p_lease_s double precision)
RETURNS TABLE (order_id text, lock_expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    RETURN QUERY
    UPDATE recharges r
       SET lock_expires_at = v_now + p_lease_s * interval '1 second', renewed_at = v_now
      FROM json_to_recordset(p_leases) AS l(o text, t bigint)
     WHERE r.order_id = l.o AND r.lock_token = l.t AND r.state = 'locked'
       AND r.locked_by = p_processor AND r.lock_expires_at > v_now
    RETURNING r.order_id, r.lock_expires_at;
END
$$;

-- Commits outcomes. p_outcomes: [{"o": order_id, "t": token, "s": succeeded|failed|suspended,
-- "r": success|failed|unknown|pending, "ref": provider_ref, "age_ms": ms since the result
-- arrived, "at": result time (instead of age_ms), "a": attempt id, "why": suspension reason}].
-- With p_processor, only leases it still holds are written (fencing). Without (NULL), the
-- outcome is the provider's own word (a recharge.result event): any order not yet final.
-- R3: handled more than p_window_s after the result → breach + alert. R4: suspended →
-- alert. Returns the rows written, whether each was handled late, and how many alerts were
-- queued.
CREATE FUNCTION recharge_finish(p_processor text, p_outcomes json, p_window_s double precision,
                                p_tz text)
RETURNS TABLE (order_id text, state text, late boolean, alerts integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_ids      text[];
    v_states   text[];
    v_late     boolean[];
    v_amounts  numeric[];
    v_alerts   integer := 0;
BEGIN
    WITH c AS (
        SELECT * FROM json_to_recordset(p_outcomes)
            AS c(o text, t bigint, s text, r text, ref text, age_ms bigint, at timestamptz,
                 a text, why text)),
    upd AS (
        UPDATE recharges r
           SET state = c.s, result = c.r, provider_ref = coalesce(c.ref, r.provider_ref),
               result_at = coalesce(c.at, v_now - coalesce(c.age_ms, 0) * interval '1 millisecond'),
               handled_at = v_now,
               handled_by = coalesce(p_processor, r.locked_by, r.last_processor),
               suspend_reason = CASE WHEN c.s = 'suspended' THEN c.why END,
               locked_by = NULL, lock_expires_at = NULL, updated_at = v_now
          FROM c
         WHERE r.order_id = c.o
           AND CASE WHEN p_processor IS NULL THEN r.state IN ('queued', 'locked', 'suspended')
                    ELSE r.state = 'locked' AND r.lock_token = c.t AND r.locked_by = p_processor
                         AND r.lock_expires_at > v_now END
        RETURNING r.order_id, r.state, r.handled_at - r.result_at > p_window_s * interval '1 second'
                  AS late, r.amount)
    SELECT array_agg(u.order_id), array_agg(u.state), array_agg(u.late), array_agg(u.amount)
      INTO v_ids, v_states, v_late, v_amounts FROM upd u;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    IF 'suspended' = ANY (v_states) OR true = ANY (v_late) THEN
        -- R3 breaches for late handling; R4 alerts for suspensions
        WITH u AS (
            SELECT r.order_id, r.state, r.result, r.result_at, r.handled_at, r.handled_by,
                   r.attempt_id, r.suspend_reason, l.late
              FROM unnest(v_ids, v_late) AS l(o, late) JOIN recharges r ON r.order_id = l.o
             WHERE r.state = 'suspended' OR l.late),
        late AS (
            INSERT INTO breaches (rule, subject_id, actor, deadline, detail)
            SELECT 'R3', u.order_id, u.handled_by, u.result_at + p_window_s * interval '1 second',
                   jsonb_build_object('attempt_id', u.attempt_id, 'result', u.result,
                                      'result_at', u.result_at, 'handled_at', u.handled_at,
                                      'late_s', round(extract(epoch FROM u.handled_at -
                                                              u.result_at)::numeric, 3))
              FROM u WHERE u.late
            ON CONFLICT (rule, subject_id) DO NOTHING
            RETURNING subject_id, actor, deadline, detail),
        al AS (
            INSERT INTO alerts (kind, rule, subject_id, reason, payload)
            SELECT x.kind, x.rule, x.subject_id, x.reason,
                   jsonb_build_object('kind', x.kind, 'rule', x.rule, 'subject_id', x.subject_id,
                                      'reason', x.reason, 'at', v_now) || x.extra
              FROM (SELECT 'suspended' AS kind, 'R4' AS rule, u.order_id AS subject_id,
                           coalesce(u.suspend_reason, 'outcome unknown') AS reason,
                           jsonb_build_object('attempt_id', u.attempt_id, 'processor', u.handled_by,
                                              'result', u.result) AS extra
                      FROM u WHERE u.state = 'suspended'
                    UNION ALL
                    SELECT 'breach', 'R3', l.subject_id,
                           'result handled ' || (l.detail->>'late_s') ||
                           ' s after it arrived (window ' || p_window_s || ' s)',
                           jsonb_build_object('actor', l.actor, 'deadline', l.deadline,
                                              'detail', l.detail)
                      FROM late l) x
            ON CONFLICT (rule, subject_id, kind) DO NOTHING
            RETURNING 1)
        SELECT count(*) INTO v_alerts FROM al;
    END IF;

    IF p_processor IS NOT NULL THEN
        INSERT INTO recharge_processor_days AS dc (processor, day, succeeded, failed, suspended,
                                                   amount, last_finished_at)
        SELECT p_processor, (v_now AT TIME ZONE p_tz)::date,
               count(*) FILTER (WHERE l.s = 'succeeded'), count(*) FILTER (WHERE l.s = 'failed'),
               count(*) FILTER (WHERE l.s = 'suspended'),
               coalesce(sum(l.a) FILTER (WHERE l.s = 'succeeded'), 0), v_now
          FROM unnest(v_states, v_amounts) AS l(s, a)
        ON CONFLICT (processor, day) DO UPDATE
           SET succeeded = dc.succeeded + EXCLUDED.succeeded, failed = dc.failed + EXCLUDED.failed,
               suspended = dc.suspended + EXCLUDED.suspended, amount = dc.amount + EXCLUDED.amount,
               last_finished_at = v_now;
    ELSE
        -- the provider's word: counted for whoever worked on the order; an older attempt
        -- named by the event gets its outcome in the history
        INSERT INTO recharge_processor_days AS dc (processor, day, succeeded, failed, suspended,
                                                   amount)
        SELECT r.handled_by, (v_now AT TIME ZONE p_tz)::date,
               count(*) FILTER (WHERE r.state = 'succeeded'),
               count(*) FILTER (WHERE r.state = 'failed'),
               count(*) FILTER (WHERE r.state = 'suspended'),
               coalesce(sum(r.amount) FILTER (WHERE r.state = 'succeeded'), 0)
          FROM recharges r WHERE r.order_id = ANY (v_ids) AND r.handled_by IS NOT NULL
         GROUP BY r.handled_by
        ON CONFLICT (processor, day) DO UPDATE
           SET succeeded = dc.succeeded + EXCLUDED.succeeded, failed = dc.failed + EXCLUDED.failed,
               suspended = dc.suspended + EXCLUDED.suspended, amount = dc.amount + EXCLUDED.amount;
        UPDATE recharge_attempts h
           SET status = c.r, provider_ref = coalesce(c.ref, h.provider_ref),
               result_at = coalesce(c.at, v_now), handled_at = v_now
          FROM json_to_recordset(p_outcomes) AS c(o text, a text, r text, ref text, at timestamptz)
         WHERE h.attempt_id = c.a AND h.order_id = c.o AND c.o = ANY (v_ids);
    END IF;

    RETURN QUERY SELECT l.o, l.s, l.late, v_alerts FROM unnest(v_ids, v_states, v_late) AS l(o, s, late);
END
$$;

-- R3 for a result that could not be committed at all: the processor's lease had expired
-- (its write was refused) and the result is older than the window. Records the breach and
-- its alert once per order; returns whether it was new.
CREATE FUNCTION recharge_late_result(p_processor text, p_order text, p_attempt text,
                                     p_result text, p_age_ms bigint, p_window_s double precision)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_at  timestamptz := clock_timestamp() - p_age_ms * interval '1 millisecond';
    v_new boolean;
BEGIN
    WITH b AS (
        INSERT INTO breaches (rule, subject_id, actor, deadline, detail)
        VALUES ('R3', p_order, p_processor, v_at + p_window_s * interval '1 second',
                jsonb_build_object('attempt_id', p_attempt, 'result', p_result, 'result_at', v_at,
                                   'refused_at', v_now, 'late_s',
                                   round(extract(epoch FROM v_now - v_at)::numeric, 3),
                                   'note', 'the lease had expired: the result was not committed'))
        ON CONFLICT (rule, subject_id) DO NOTHING
        RETURNING subject_id, actor, deadline, detail),
    a AS (
        INSERT INTO alerts (kind, rule, subject_id, reason, payload)
        SELECT 'breach', 'R3', b.subject_id,
               'result not handled within ' || p_window_s || ' s (' || (b.detail->>'late_s') ||
               ' s; lease expired)',
               jsonb_build_object('kind', 'breach', 'rule', 'R3', 'subject_id', b.subject_id,
                                  'reason', 'result not handled within ' || p_window_s || ' s ('
                                  || (b.detail->>'late_s') || ' s; lease expired)', 'at', v_now,
                                  'actor', b.actor, 'deadline', b.deadline, 'detail', b.detail)
          FROM b
        ON CONFLICT (rule, subject_id, kind) DO NOTHING
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM b) INTO v_new;
    RETURN v_new;
END
$$;

-- Gives leases back to the queue (a processor stopping, a staff member stepping away). The
-- attempt is kept: the next holder reconciles it with the provider first (R7).
CREATE FUNCTION recharge_release(p_processor text, p_leases json)
RETURNS TABLE (order_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    RETURN QUERY
    UPDATE recharges r
       SET state = 'queued', queued_at = v_now, locked_by = NULL, lock_expires_at = NULL,
           updated_at = v_now
      FROM json_to_recordset(p_leases) AS l(o text, t bigint)
     WHERE r.order_id = l.o AND r.lock_token = l.t AND r.state = 'locked'
       AND r.locked_by = p_processor AND r.lock_expires_at > v_now
    RETURNING r.order_id;
END
$$;

-- A processor says it is online (R5). A heartbeat after more than p_timeout_s of silence
-- starts a new online period. p_expected NULL keeps the stored flag.
CREATE FUNCTION recharge_heartbeat(p_processor text, p_kind text, p_timeout_s double precision,
                                   p_expected boolean)
RETURNS timestamptz
LANGUAGE sql AS $$
    INSERT INTO processors AS p (name, kind, expected, online_since, last_heartbeat_at)
    VALUES (p_processor, p_kind, coalesce(p_expected, false), clock_timestamp(), clock_timestamp())
    ON CONFLICT (name) DO UPDATE
       SET kind = EXCLUDED.kind, expected = coalesce(p_expected, p.expected),
           last_heartbeat_at = clock_timestamp(),
           online_since = CASE WHEN p.last_heartbeat_at IS NULL OR p.online_since IS NULL
                                    OR p.last_heartbeat_at < clock_timestamp() - p_timeout_s * interval '1 second'
                               THEN clock_timestamp() ELSE p.online_since END
    RETURNING last_heartbeat_at
$$;

-- A processor going offline on purpose (its next heartbeat starts a new online period).
CREATE FUNCTION recharge_offline(p_processor text) RETURNS void LANGUAGE sql AS $$
    UPDATE processors SET online_since = NULL WHERE name = p_processor
$$;

-- R5: once today's shift start (p_shift "HH:MM" in p_tz) has passed, records a breach and
-- a 'readiness' alert when no processor was online at the shift start (subject: the day),
-- and for each expected processor that was not (subject: day/name). Online at the shift
-- start: its current online period began by then and it still heartbeated at that time
-- (within p_timeout_s). Idempotent (unique breaches); cheap (the processors table is small).
-- The sweeper can run it every cycle; recharge-worker runs it with its heartbeats.
CREATE FUNCTION recharge_check_readiness(p_shift text, p_tz text, p_timeout_s double precision)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_now   timestamptz := clock_timestamp();
    v_day   date := (v_now AT TIME ZONE p_tz)::date;
    v_shift timestamptz := (v_day + p_shift::time) AT TIME ZONE p_tz;
    v_n     integer;
BEGIN
    IF v_now < v_shift THEN
        RETURN 0;
    END IF;
    WITH ready AS (
        SELECT name FROM processors
         WHERE online_since <= v_shift
           AND last_heartbeat_at >= v_shift - p_timeout_s * interval '1 second'),
    missing AS (
        SELECT v_day::text AS subject, NULL::text AS actor,
               'no recharge processor was online at the shift start ' || p_shift AS reason
         WHERE NOT EXISTS (SELECT 1 FROM ready)
        UNION ALL
        SELECT v_day::text || '/' || p.name, p.name,
               p.name || ' was not online at the shift start ' || p_shift
          FROM processors p WHERE p.expected AND p.name NOT IN (SELECT name FROM ready)),
    b AS (
        INSERT INTO breaches (rule, subject_id, actor, deadline, detail)
        SELECT 'R5', m.subject, m.actor, v_shift,
               jsonb_build_object('day', v_day, 'shift_start', p_shift, 'reason', m.reason)
          FROM missing m
        ON CONFLICT (rule, subject_id) DO NOTHING
        RETURNING subject_id, actor, deadline, detail),
    a AS (
        INSERT INTO alerts (kind, rule, subject_id, reason, payload)
        SELECT 'readiness', 'R5', b.subject_id, b.detail->>'reason',
               jsonb_build_object('kind', 'readiness', 'rule', 'R5', 'subject_id', b.subject_id,
                                  'reason', b.detail->>'reason', 'at', v_now, 'actor', b.actor,
                                  'deadline', b.deadline)
          FROM b
        ON CONFLICT (rule, subject_id, kind) DO NOTHING
        RETURNING 1)
    SELECT count(*) INTO v_n FROM a;
    RETURN v_n;
END
$$;

-- A staff member settles a suspended order after checking with the provider (R4):
-- 'success' or 'failed' is final; 'retry' (the provider confirmed the attempt did not top
-- up) queues the order again with a new attempt id. Returns the new state, or NULL when the
-- order is not suspended.
CREATE FUNCTION recharge_resolve(p_staff text, p_order text, p_outcome text, p_ref text,
                                 p_tz text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_now   timestamptz := clock_timestamp();
    v_state text;
    v_amount numeric;
    v_attempt text;
BEGIN
    IF p_outcome NOT IN ('success', 'failed', 'retry') THEN
        RAISE EXCEPTION 'outcome must be success, failed or retry (got %)', p_outcome;
    END IF;
    IF p_outcome = 'retry' THEN -- the superseded attempt goes to the history
        INSERT INTO recharge_attempts (attempt_id, order_id, n, processor, token, started_at,
                                       status, provider_ref, result_at, handled_at)
        SELECT r.attempt_id, r.order_id, r.attempts, r.last_processor, r.lock_token,
               coalesce(r.attempt_started_at, v_now), 'failed', coalesce(p_ref, r.provider_ref),
               r.result_at, v_now
          FROM recharges r
         WHERE r.order_id = p_order AND r.state = 'suspended' AND r.attempt_id IS NOT NULL
        ON CONFLICT (attempt_id) DO UPDATE SET status = 'failed', handled_at = v_now;
    END IF;
    UPDATE recharges r
       SET state = CASE p_outcome WHEN 'success' THEN 'succeeded' WHEN 'failed' THEN 'failed'
                                  ELSE 'queued' END,
           result = CASE WHEN p_outcome = 'retry' THEN r.result ELSE p_outcome END,
           provider_ref = coalesce(p_ref, r.provider_ref),
           handled_at = CASE WHEN p_outcome = 'retry' THEN r.handled_at ELSE v_now END,
           handled_by = CASE WHEN p_outcome = 'retry' THEN r.handled_by ELSE p_staff END,
           attempt_id = CASE WHEN p_outcome = 'retry' THEN NULL ELSE r.attempt_id END,
           suspend_reason = CASE WHEN p_outcome = 'retry' THEN NULL ELSE r.suspend_reason END,
           queued_at = CASE WHEN p_outcome = 'retry' THEN v_now ELSE r.queued_at END,
           updated_at = v_now
     WHERE r.order_id = p_order AND r.state = 'suspended'
    RETURNING r.state, r.amount, r.attempt_id INTO v_state, v_amount, v_attempt;
    IF v_state IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_outcome <> 'retry' THEN
        INSERT INTO recharge_processor_days AS dc (processor, day, succeeded, failed, amount,
                                                   last_finished_at)
        VALUES (p_staff, (v_now AT TIME ZONE p_tz)::date, (p_outcome = 'success')::int,
                (p_outcome = 'failed')::int, CASE WHEN p_outcome = 'success' THEN v_amount ELSE 0 END,
                v_now)
        ON CONFLICT (processor, day) DO UPDATE
           SET succeeded = dc.succeeded + EXCLUDED.succeeded, failed = dc.failed + EXCLUDED.failed,
               amount = dc.amount + EXCLUDED.amount, last_finished_at = v_now;
    END IF;
    RETURN v_state;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Contract views (SPEC §6)
-- ---------------------------------------------------------------------------------------

CREATE VIEW recharges_v AS
SELECT order_id, state, locked_by, lock_expires_at, attempts, result, result_at, handled_at,
       shop_id, recharge_mask(account) AS account_masked, product, face_value, amount,
       requested_at, queued_at, attempt_id, provider_ref, handled_by, suspend_reason,
       lock_token, locked_at, renewed_at, last_processor, updated_at
  FROM recharges;

-- R6: the daily recharge record (日充值記錄) per processor and shop day.
CREATE VIEW recharge_daily_v AS
SELECT coalesce(c.day, b.day) AS day, coalesce(c.processor, b.actor) AS processor,
       coalesce(c.locked, 0) AS locked, coalesce(c.succeeded, 0) AS succeeded,
       coalesce(c.failed, 0) AS failed, coalesce(c.suspended, 0) AS suspended,
       coalesce(c.amount, 0) AS amount, coalesce(b.breaches, 0) AS breaches
  FROM recharge_processor_days c
  FULL JOIN (SELECT (observed_at AT TIME ZONE recharge_shop_tz())::date AS day, actor,
                    count(*) AS breaches
               FROM breaches
              WHERE rule IN ('R1', 'R2', 'R3', 'R5') AND actor IS NOT NULL
              GROUP BY 1, 2) b
    ON b.day = c.day AND b.actor = c.processor;

-- Every attempt: the history and each order's current one ('in_progress' while it runs).
CREATE VIEW recharge_attempts_v AS
SELECT a.attempt_id, a.order_id, a.n, a.processor, a.token, a.started_at, a.status,
       a.provider_ref, a.result_at, a.handled_at, a.reported_status, a.reported_at,
       false AS current
  FROM recharge_attempts a
 WHERE NOT EXISTS (SELECT 1 FROM recharges r WHERE r.order_id = a.order_id
                      AND r.attempt_id = a.attempt_id)
UNION ALL
SELECT r.attempt_id, r.order_id, r.attempts, r.last_processor, r.lock_token,
       r.attempt_started_at,
       CASE WHEN r.state IN ('queued', 'locked') THEN 'in_progress' ELSE r.result END,
       r.provider_ref, r.result_at, r.handled_at, h.reported_status, h.reported_at, true
  FROM recharges r LEFT JOIN recharge_attempts h ON h.attempt_id = r.attempt_id
 WHERE r.attempt_id IS NOT NULL;

CREATE VIEW processors_v AS
SELECT p.name, p.kind, p.expected, p.online_since, p.last_heartbeat_at, d.last_locked_at,
       d.last_finished_at,
       (SELECT count(*) FROM recharges r WHERE r.state IN ('queued', 'locked')
           AND r.state = 'locked' AND r.locked_by = p.name
           AND r.lock_expires_at > clock_timestamp()) AS leases
  FROM processors p
  LEFT JOIN LATERAL (SELECT last_locked_at, last_finished_at FROM recharge_processor_days d
                      WHERE d.processor = p.name ORDER BY d.day DESC LIMIT 1) d ON true;
