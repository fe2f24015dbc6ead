-- The spine: tenants, users, memberships, sessions, API tokens, login
-- throttling, vehicles, audit log and idempotency keys.
--
-- Tenant data tables (vehicles, audit_log, idempotency_keys) carry tenant_id
-- in every primary and unique key (Citus-ready) and are guarded by row-level
-- security that follows `app.tenant_id`, set per transaction by the store.
-- Identity tables (tenants, users, memberships, sessions, api_tokens,
-- login_throttle) are read before any tenant is chosen (to log in, to resolve
-- a token) and so are not under RLS; only the auth code touches them.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('personal', 'fleet', 'dealer')),
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug);

CREATE TABLE users (
    id                 uuid PRIMARY KEY,
    email              text NOT NULL,
    display_name       text NOT NULL,
    password_hash      text,
    preferences        jsonb NOT NULL,
    is_instance_admin  boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    disabled_at        timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE memberships (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('viewer', 'driver', 'technician', 'manager', 'admin', 'owner')),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_hash    text NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    bigint NOT NULL,
    last_seen_at  bigint NOT NULL,
    ip            text,
    user_agent    text
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    id            uuid NOT NULL,
    name          text NOT NULL,
    token_hash    text NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id),
    role_ceiling  text NOT NULL CHECK (role_ceiling IN ('viewer', 'driver', 'technician', 'manager', 'admin', 'owner')),
    created_at    timestamptz NOT NULL,
    expires_at    bigint,
    last_used_at  bigint,
    revoked_at    timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);

CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    window_start  bigint NOT NULL,
    failures      bigint NOT NULL
);

CREATE TABLE vehicles (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    name             text NOT NULL,
    unit_number      text,
    vin              text,
    vin_warning      text,
    plate            text,
    year             integer,
    make             text,
    model            text,
    trim             text,
    vehicle_type     text NOT NULL,
    fuel_types       jsonb NOT NULL,
    odometer_unit    text NOT NULL CHECK (odometer_unit IN ('mi', 'km')),
    in_service_date  date,
    status           text NOT NULL CHECK (status IN ('active', 'out_of_service', 'sold', 'archived')),
    tags             jsonb NOT NULL DEFAULT '[]',
    custom_fields    jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX vehicles_tenant_vin_key ON vehicles (tenant_id, vin)
    WHERE vin IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX vehicles_tenant_name_idx ON vehicles (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX vehicles_tenant_status_idx ON vehicles (tenant_id, status, id) WHERE deleted_at IS NULL;

CREATE TABLE audit_log (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    at           timestamptz NOT NULL,
    actor_type   text NOT NULL CHECK (actor_type IN ('user', 'token', 'system')),
    actor_id     uuid,
    actor_label  text NOT NULL,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    ip           text,
    user_agent   text,
    request_id   text,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, entity_type, entity_id);

CREATE TABLE idempotency_keys (
    tenant_id       uuid NOT NULL,
    principal       text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status_code     integer,
    response_headers jsonb,
    response_body   bytea,
    created_at      bigint NOT NULL,
    PRIMARY KEY (tenant_id, principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- The job queue (instance-level: workers serve every tenant, so no RLS).
-- Times in Unix milliseconds. A periodic job's dedup_key names its time slot,
-- so replicas scheduling the same slot insert it once.
CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    state         text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL,
    run_at        bigint NOT NULL,
    lease_until   bigint,
    locked_by     text,
    dedup_key     text UNIQUE,
    last_error    text,
    created_at    bigint NOT NULL,
    finished_at   bigint
);
CREATE INDEX jobs_ready_idx ON jobs (state, run_at);

-- Row-level security: the second wall behind the application's own
-- `WHERE tenant_id = $1`. FORCE makes it apply to the table owner too.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['vehicles', 'audit_log', 'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)
                 WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
END
$$;
