-- Telematics: provider connections (secrets sealed with AES-256-GCM by the
-- server's keyring), provider device ids mapped to vehicles, and sync logs.

CREATE TABLE telematics_connections (
    tenant_id              uuid NOT NULL,
    id                     uuid NOT NULL,
    name                   text NOT NULL,
    provider               text NOT NULL CHECK (provider IN ('motorpool_feed', 'traccar', 'samsara')),
    base_url               text NOT NULL,
    settings               jsonb NOT NULL DEFAULT '{}',
    credentials_key_id     text,
    credentials_nonce      bytea,
    credentials            bytea,
    webhook_key_id         text NOT NULL,
    webhook_nonce          bytea NOT NULL,
    webhook_secret         bytea NOT NULL,
    sync_interval_minutes  integer NOT NULL CHECK (sync_interval_minutes BETWEEN 1 AND 1440),
    enabled                boolean NOT NULL DEFAULT true,
    cursor                 text,
    last_sync_at           timestamptz,
    last_status            text,
    next_sync_at           timestamptz NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    deleted_at             timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX telematics_connections_name_key ON telematics_connections (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX telematics_connections_due_idx ON telematics_connections (next_sync_at) WHERE enabled AND deleted_at IS NULL;

CREATE TABLE vehicle_external_ids (
    tenant_id      uuid NOT NULL,
    connection_id  uuid NOT NULL,
    external_id    text NOT NULL,
    vehicle_id     uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, external_id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES telematics_connections (tenant_id, id)
);

CREATE TABLE telematics_sync_logs (
    tenant_id      uuid NOT NULL,
    id             uuid NOT NULL,
    connection_id  uuid NOT NULL,
    trigger        text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'webhook')),
    status         text NOT NULL CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'partial')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    duration_ms    bigint,
    vehicles       integer NOT NULL DEFAULT 0,
    readings       integer NOT NULL DEFAULT 0,
    faults         integer NOT NULL DEFAULT 0,
    rejected       integer NOT NULL DEFAULT 0,
    error          text,
    cursor_before  text,
    cursor_after   text,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES telematics_connections (tenant_id, id)
);
CREATE INDEX telematics_sync_logs_connection_idx ON telematics_sync_logs (tenant_id, connection_id, started_at DESC, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['telematics_connections', 'vehicle_external_ids', 'telematics_sync_logs'] LOOP
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
