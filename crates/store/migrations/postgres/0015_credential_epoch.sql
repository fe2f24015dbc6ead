-- A counter every credential change (logout, revocation, password reset,
-- role or membership change, tenant deletion) increments in its own
-- transaction. Servers cache resolved credentials and check this one row on
-- each request: a change made by any process or replica applies at once.
CREATE TABLE credential_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  BIGINT NOT NULL
);
INSERT INTO credential_epoch (id, epoch) VALUES (1, 0);
