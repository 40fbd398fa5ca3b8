-- 0008_daily_records_speed.sql — the daily records read by the dashboard (and Grafana)
-- without aggregating history on every read:
--   R6  recharge_daily_v counted every recorded breach of every day on each read; a
--       processor's breaches per shop day are now counted as they are recorded (a trigger
--       on breaches adds to recharge_processor_days.breaches), so the view is one table.
--   M7  the days of the remittance record are summed per day through an index holding the
--       state and amount (an index-only scan instead of a visit to every remittance).

ALTER TABLE recharge_processor_days ADD COLUMN breaches bigint NOT NULL DEFAULT 0;

-- A recharge breach (R1 lapsed lease, R2 gap, R3 late result, R5 not ready) counts on its
-- actor's shop day. Breaches are rare (and unique per rule and subject), so the upsert of
-- one small row per breach costs nothing on the lease path.
CREATE FUNCTION recharge_count_breach() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recharge_processor_days AS d (processor, day, breaches)
    VALUES (NEW.actor, (NEW.observed_at AT TIME ZONE recharge_shop_tz())::date, 1)
    ON CONFLICT (processor, day) DO UPDATE SET breaches = d.breaches + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER breaches_count_recharge AFTER INSERT ON breaches
    FOR EACH ROW WHEN (NEW.rule IN ('R1', 'R2', 'R3', 'R5') AND NEW.actor IS NOT NULL)
    EXECUTE FUNCTION recharge_count_breach();

-- the breaches recorded before this migration
INSERT INTO recharge_processor_days AS d (processor, day, breaches)
SELECT actor, (observed_at AT TIME ZONE recharge_shop_tz())::date, count(*)
  FROM breaches
 WHERE rule IN ('R1', 'R2', 'R3', 'R5') AND actor IS NOT NULL
 GROUP BY 1, 2
ON CONFLICT (processor, day) DO UPDATE SET breaches = EXCLUDED.breaches;

-- R6: the same columns as before, from one table.
CREATE OR REPLACE VIEW recharge_daily_v AS
SELECT day, processor, locked, succeeded, failed, suspended, amount::numeric AS amount, breaches
  FROM recharge_processor_days;

-- M7: per-day totals of the remittance record from the index alone
DROP INDEX remittances_day;
CREATE INDEX remittances_day ON remittances (day) INCLUDE (state, amount);
