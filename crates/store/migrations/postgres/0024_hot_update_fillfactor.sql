-- Room on each page for a second version of every row: a vehicle's row,
-- its month's distance and its day's meters are rewritten by every ingest
-- batch that moves its meters, each batch rewriting every row of a page in
-- one transaction. With full pages (the default, fillfactor 100) about one
-- update in six found no room beside the old version, so it went to a new
-- page and wrote an entry into each of the table's indexes (eight on
-- vehicles); the tables also grew (vehicles: 59 MB for 1,000 rows after a
-- year's live feed). At 50 nearly every update is a heap-only tuple update
-- and page pruning reuses the space without a vacuum (docs/PERFORMANCE.md,
-- session 13). Applies to pages written from now on.
ALTER TABLE vehicles SET (fillfactor = 50);
ALTER TABLE vehicle_monthly_distance SET (fillfactor = 50);
ALTER TABLE vehicle_daily_meters SET (fillfactor = 50);
