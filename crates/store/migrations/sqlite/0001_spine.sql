-- The spine: tenants, users, memberships, sessions, API tokens, login
-- throttling, vehicles, audit log and idempotency keys.
-- Ids are UUIDv7 stored as 16-byte BLOBs; timestamps as RFC 3339 text in UTC;
-- expiry instants that are compared in SQL as integer Unix seconds.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('personal', 'fleet', 'dealer')),
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug);

CREATE TABLE users (
    id                 BLOB PRIMARY KEY,
    email              TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    password_hash      TEXT,
    preferences        TEXT NOT NULL,
    is_instance_admin  INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    disabled_at        TEXT
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE memberships (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'driver', 'technician', 'manager', 'admin', 'owner')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE sessions (
    id            BLOB PRIMARY KEY,
    token_hash    TEXT NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id),
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    id            BLOB NOT NULL,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id),
    role_ceiling  TEXT NOT NULL CHECK (role_ceiling IN ('viewer', 'driver', 'technician', 'manager', 'admin', 'owner')),
    created_at    TEXT NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    revoked_at    TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);

CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    failures      INTEGER NOT NULL
);

CREATE TABLE vehicles (
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    id               BLOB NOT NULL,
    name             TEXT NOT NULL,
    unit_number      TEXT,
    vin              TEXT,
    vin_warning      TEXT,
    plate            TEXT,
    year             INTEGER,
    make             TEXT,
    model            TEXT,
    trim             TEXT,
    vehicle_type     TEXT NOT NULL,
    fuel_types       TEXT NOT NULL,
    odometer_unit    TEXT NOT NULL CHECK (odometer_unit IN ('mi', 'km')),
    in_service_date  TEXT,
    status           TEXT NOT NULL CHECK (status IN ('active', 'out_of_service', 'sold', 'archived')),
    tags             TEXT NOT NULL DEFAULT '[]',
    custom_fields    TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX vehicles_tenant_vin_key ON vehicles (tenant_id, vin)
    WHERE vin IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX vehicles_tenant_name_idx ON vehicles (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX vehicles_tenant_status_idx ON vehicles (tenant_id, status, id) WHERE deleted_at IS NULL;

CREATE TABLE audit_log (
    tenant_id    BLOB NOT NULL,
    id           BLOB NOT NULL,
    at           TEXT NOT NULL,
    actor_type   TEXT NOT NULL CHECK (actor_type IN ('user', 'token', 'system')),
    actor_id     BLOB,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    before       TEXT,
    after        TEXT,
    ip           TEXT,
    user_agent   TEXT,
    request_id   TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, entity_type, entity_id);

CREATE TABLE idempotency_keys (
    tenant_id       BLOB NOT NULL,
    principal       TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status_code     INTEGER,
    response_headers TEXT,
    response_body   BLOB,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- The job queue (instance-level: workers serve every tenant). Times in Unix
-- milliseconds. A periodic job's dedup_key names its time slot, so replicas
-- scheduling the same slot insert it once.
CREATE TABLE jobs (
    id            BLOB PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL DEFAULT '{}',
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_at        INTEGER NOT NULL,
    lease_until   INTEGER,
    locked_by     TEXT,
    dedup_key     TEXT UNIQUE,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX jobs_ready_idx ON jobs (state, run_at);
