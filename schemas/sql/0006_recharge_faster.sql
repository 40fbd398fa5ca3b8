-- 0006_recharge_faster.sql — the same lease protocol as 0004_recharge.sql (same functions,
-- signatures, rows returned, guarantees R1-R7), with less work per call on the hot path:
--
--  * recharge_attempt_id is written with immutable operators only, so the planner inlines
--    it. (0004's `order_id || '-' || n` is text || integer, a STABLE operator in an
--    IMMUTABLE function: never inlined, so every recharge_lock call parsed and planned it
--    as a separate SQL function.)
--  * recharge_lock: two statements on the usual path, each planned once per session (0004:
--    four, the pick planned anew on every call); the R1 and R2 breaches only when they
--    happen, and the R2 read rides along with the pick.
--  * recharge_finish, for a processor (the desks' hot path): the fenced update and the R6
--    count are one statement, then the rows are handed back (0004: three statements); the
--    R3/R4 breaches and alerts are a statement run only when an outcome is suspended or
--    late, as before. The provider's word (p_processor NULL) does what 0004 did.
--
-- Plans. Planning is most of the cost of a one-order call, so each statement is planned
-- once per session (a generic plan) and kept: plan_cache_mode = force_generic_plan. (Left
-- to its costs, plpgsql plans a statement anew on every call whenever a plan for the actual
-- values looks cheaper: 0004's pick always did, for its visible LIMIT, and on a table with
-- history the statistics tip more statements that way. LIMIT (SELECT p_max) and
-- = ANY ((SELECT v_ids)::text[]) also keep the values out of either plan.) Then:
--  * a cached plan outlives the table size it was made for: planned while recharges was
--    nearly empty (a new deployment, a test), a sequential scan, or a join driven by the
--    table instead of by the batch, would stay for the session as the queue grows. The
--    functions therefore run with enable_seqscan off (and recharge_finish with enable_nestloop
--    off), and every statement reaches recharges through its primary key (= ANY of the
--    batch's ids) or, for the pick only, the queue index, so the only plans left are index
--    scans and a hash join with the batch: good for any size. (A state test written as a
--    CASE keeps the planner from reading the whole queue index instead of the primary key.)
-- recharge_renew, _release, _resolve, _heartbeat, _late_result, _check_readiness are
-- unchanged. Measured with tests/bench/recharge_run (lease cycle against raw SKIP LOCKED).

CREATE OR REPLACE FUNCTION recharge_attempt_id(order_id text, n integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(order_id) + 1 + length(n::text) <= 64 THEN order_id || '-' || n::text
                ELSE 'h' || md5(order_id) || '-' || n::text END
$$;

-- R1 / R2 as in 0004 (see there). Two statements on the usual path: the SKIP LOCKED pick
-- (which also reads the processor's last day row, as it was before this lock, for R2), and
-- the lock with the R6 count. The rare R1 and R2 breaches are written only when they happen.
CREATE OR REPLACE FUNCTION recharge_lock(p_processor text, p_max integer,
                                         p_lease_s double precision, p_tz text,
                                         p_gap_s double precision)
RETURNS TABLE (order_id text, lock_token bigint, attempt_id text, fresh boolean,
               account text, product text, face_value text, lock_expires_at timestamptz,
               retaken boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off -- see "Plans" above
AS $$
#variable_conflict use_column
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_ids      text[];
    v_avail    timestamptz;
    v_lapsed   text[];      -- orders whose lease had expired
    v_holders  text[];
    v_tokens   bigint[];
    v_expired  timestamptz[];
    v_last     timestamptz[]; -- the processor's last finish and last lock, before this one
    v_finished timestamptz;
BEGIN
    SELECT array_agg(q.order_id), min(q.available_at),
           array_agg(q.order_id) FILTER (WHERE q.state = 'locked'),
           array_agg(q.locked_by) FILTER (WHERE q.state = 'locked'),
           array_agg(q.lock_token) FILTER (WHERE q.state = 'locked'),
           array_agg(q.lock_expires_at) FILTER (WHERE q.state = 'locked'),
           (SELECT ARRAY[d.last_finished_at, d.last_locked_at] FROM recharge_processor_days d
             WHERE d.processor = p_processor ORDER BY d.day DESC LIMIT 1)
      INTO v_ids, v_avail, v_lapsed, v_holders, v_tokens, v_expired, v_last
      FROM (SELECT q.order_id, q.state, q.locked_by, q.lock_token, q.lock_expires_at,
                   CASE WHEN q.state = 'queued' THEN q.queued_at ELSE q.lock_expires_at END
                       AS available_at
              FROM recharges q
             WHERE q.state IN ('queued', 'locked')
               AND (q.state = 'queued' OR q.lock_expires_at < v_now)
             ORDER BY q.requested_at
             LIMIT (SELECT p_max) -- (SELECT): see "Plans" above
               FOR UPDATE SKIP LOCKED) q;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH u AS (
        UPDATE recharges r
           SET state = 'locked', locked_by = p_processor, last_processor = p_processor,
               lock_token = nextval('recharge_lock_tokens'), locked_at = v_now,
               renewed_at = v_now, lock_expires_at = v_now + p_lease_s * interval '1 second',
               attempts = r.attempts + (r.attempt_id IS NULL)::int,
               attempt_id = coalesce(r.attempt_id,
                                     recharge_attempt_id(r.order_id, r.attempts + 1)),
               attempt_started_at = CASE WHEN r.attempt_id IS NULL THEN v_now
                                         ELSE r.attempt_started_at END,
               updated_at = v_now
         WHERE r.order_id = ANY ((SELECT v_ids)::text[]) -- (SELECT): see "Plans" above
           -- locked above, so still takeable; checked again all the same (CASE: not a
           -- condition the planner could serve with the queue index, see "Plans")
           AND CASE r.state WHEN 'queued' THEN true
                            WHEN 'locked' THEN r.lock_expires_at < v_now ELSE false END
        RETURNING r.order_id, r.lock_token, r.attempt_id, r.attempt_started_at = v_now AS fresh,
                  r.account, r.product, r.face_value::text AS face_value, r.lock_expires_at,
                  r.order_id = ANY (coalesce(v_lapsed, '{}')) AS retaken),
    -- R6: the processor's locked count for the shop day
    c AS (
        INSERT INTO recharge_processor_days AS c (processor, day, locked, last_locked_at)
        SELECT p_processor, (v_now AT TIME ZONE p_tz)::date, count(*), v_now
          FROM u HAVING count(*) > 0
        ON CONFLICT (processor, day) DO UPDATE
           SET locked = c.locked + EXCLUDED.locked, last_locked_at = EXCLUDED.last_locked_at)
    SELECT * FROM u;

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
    v_finished := v_last[1];
    IF v_finished IS NOT NULL AND v_finished >= coalesce(v_last[2], '-infinity')
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
END
$$;

-- Commits outcomes; parameters, rows and rules as in 0004 (see there).
CREATE OR REPLACE FUNCTION recharge_finish(p_processor text, p_outcomes json,
                                           p_window_s double precision, p_tz text)
RETURNS TABLE (order_id text, state text, late boolean, alerts integer)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
SET enable_nestloop = off -- see "Plans" above
AS $$
#variable_conflict use_column
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_ids      text[];
    v_states   text[];
    v_late     boolean[];
    v_rare     boolean;
    v_alerts   integer := 0;
BEGIN
    IF p_processor IS NOT NULL THEN
        -- a processor's outcomes: only leases it still holds (fencing), and its R6 counts
        WITH c AS (
            SELECT * FROM json_to_recordset(p_outcomes)
                AS c(o text, t bigint, s text, r text, ref text, age_ms bigint, at timestamptz,
                     a text, why text)),
        upd AS (
            UPDATE recharges r
               SET state = c.s, result = c.r, provider_ref = coalesce(c.ref, r.provider_ref),
                   result_at = coalesce(c.at, v_now - coalesce(c.age_ms, 0)
                                                      * interval '1 millisecond'),
                   handled_at = v_now, handled_by = p_processor,
                   suspend_reason = CASE WHEN c.s = 'suspended' THEN c.why END,
                   locked_by = NULL, lock_expires_at = NULL, updated_at = v_now
              FROM c
             WHERE r.order_id = ANY (ARRAY(SELECT c.o FROM c)) -- see "Plans" above
               AND r.order_id = c.o AND r.lock_token = c.t AND r.locked_by = p_processor
               AND CASE WHEN r.state = 'locked' THEN r.lock_expires_at > v_now END
            RETURNING r.order_id, r.state,
                      r.handled_at - r.result_at > p_window_s * interval '1 second' AS late,
                      r.amount),
        d AS (
            INSERT INTO recharge_processor_days AS dc (processor, day, succeeded, failed,
                                                       suspended, amount, last_finished_at)
            SELECT p_processor, (v_now AT TIME ZONE p_tz)::date,
                   count(*) FILTER (WHERE u.state = 'succeeded'),
                   count(*) FILTER (WHERE u.state = 'failed'),
                   count(*) FILTER (WHERE u.state = 'suspended'),
                   coalesce(sum(u.amount) FILTER (WHERE u.state = 'succeeded'), 0), v_now
              FROM upd u HAVING count(*) > 0
            ON CONFLICT (processor, day) DO UPDATE
               SET succeeded = dc.succeeded + EXCLUDED.succeeded,
                   failed = dc.failed + EXCLUDED.failed,
                   suspended = dc.suspended + EXCLUDED.suspended,
                   amount = dc.amount + EXCLUDED.amount, last_finished_at = v_now)
        SELECT array_agg(u.order_id), array_agg(u.state), array_agg(u.late),
               bool_or(u.state = 'suspended' OR u.late)
          INTO v_ids, v_states, v_late, v_rare
          FROM upd u;
    ELSE
        -- the provider's word (a recharge.result event): any order not yet final
        WITH c AS (
            SELECT * FROM json_to_recordset(p_outcomes)
                AS c(o text, t bigint, s text, r text, ref text, age_ms bigint, at timestamptz,
                     a text, why text)),
        upd AS (
            UPDATE recharges r
               SET state = c.s, result = c.r, provider_ref = coalesce(c.ref, r.provider_ref),
                   result_at = coalesce(c.at, v_now - coalesce(c.age_ms, 0)
                                                      * interval '1 millisecond'),
                   handled_at = v_now, handled_by = coalesce(r.locked_by, r.last_processor),
                   suspend_reason = CASE WHEN c.s = 'suspended' THEN c.why END,
                   locked_by = NULL, lock_expires_at = NULL, updated_at = v_now
              FROM c
             WHERE r.order_id = ANY (ARRAY(SELECT c.o FROM c))
               AND r.order_id = c.o AND r.state IN ('queued', 'locked', 'suspended')
            RETURNING r.order_id, r.state,
                      r.handled_at - r.result_at > p_window_s * interval '1 second' AS late,
                      r.amount)
        SELECT array_agg(u.order_id), array_agg(u.state), array_agg(u.late),
               bool_or(u.state = 'suspended' OR u.late)
          INTO v_ids, v_states, v_late, v_rare
          FROM upd u;
    END IF;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;

    IF v_rare THEN
        -- R3 breaches for late handling; R4 alerts for suspensions
        WITH u AS (
            SELECT r.order_id, r.state, r.result, r.result_at, r.handled_at, r.handled_by,
                   r.attempt_id, r.suspend_reason, l.late
              FROM unnest(v_ids, v_late) AS l(o, late) JOIN recharges r ON r.order_id = l.o
             WHERE r.order_id = ANY (v_ids) AND (r.state = 'suspended' OR l.late)),
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

    IF p_processor IS NULL THEN
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
         WHERE h.order_id = ANY (v_ids) AND h.attempt_id = c.a AND h.order_id = c.o
           AND c.o = ANY (v_ids);
    END IF;

    RETURN QUERY SELECT l.o, l.s, l.late, v_alerts FROM unnest(v_ids, v_states, v_late) AS l(o, s, late);
END
$$;
