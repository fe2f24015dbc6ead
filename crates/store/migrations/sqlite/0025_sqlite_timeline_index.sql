-- SQLite never took `meter_readings_timeline_idx` (migration 2): its
-- planner uses a partial index only where a statement repeats the index's
-- `WHERE void = 0` literally, and the store's statements say `NOT void` or
-- bind the flag. `EXPLAIN QUERY PLAN` picks the dedup key, which leads with
-- the same columns, for every statement that reads a meter's timeline. The
-- index still cost every batch of readings one more B-tree leaf written per
-- meter, so it goes. PostgreSQL's planner does use its copy; it stays there.
DROP INDEX IF EXISTS meter_readings_timeline_idx;
