-- PostgreSQL's migration 24 leaves room on each page of the vehicles,
-- monthly distance and daily meters tables for their rows' next versions
-- (fillfactor). SQLite rewrites a row in place in its B-tree page and has
-- no such setting: nothing changes here. The statement keeps the
-- migration lists of both backends the same length.
SELECT 1;
