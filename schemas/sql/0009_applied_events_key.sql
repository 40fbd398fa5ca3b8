-- 0009_applied_events_key.sql — applied_events is keyed by (id, source) instead of
-- (source, id): the same pairs (G2 unchanged), but the column that tells events apart comes
-- first. A shop's events share one source, so with source first every comparison on the
-- way down the index (one lookup per event to find duplicates, one per insert) compared the
-- equal sources before reaching the ids, the ids at a variable offset behind them. Lookups
-- always give both columns, so none loses its index.

ALTER TABLE applied_events DROP CONSTRAINT applied_events_pkey;
ALTER TABLE applied_events ADD PRIMARY KEY (id, source);
