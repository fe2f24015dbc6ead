-- PostgreSQL's migration 18 adds `tenant_vehicle`, a function that reads one
-- vehicle with row-level security pointed at its tenant in one statement.
-- SQLite has no row-level security and reads one vehicle with one plain
-- statement already: nothing to do here but keep the numbers in step.
SELECT 1;
