-- 0010_applied_events_seq.sql — applied_events.seq loses its UNIQUE index. seq comes from
-- its sequence, so it is unique without one; the index cost an insert per applied event (a
-- fifth of the index work of plain ingest) and served no query: seq only orders the rows of
-- one source in tests (G3), which sort them.

ALTER TABLE applied_events DROP CONSTRAINT applied_events_seq_key;
