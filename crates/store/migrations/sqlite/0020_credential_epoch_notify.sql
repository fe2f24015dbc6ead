-- PostgreSQL announces credential epoch changes to listening servers here;
-- an SQLite server reads the epoch in-process on each request, so there is
-- nothing to do. Kept so both backends number their migrations alike.
SELECT 1;
