-- Telematics: provider connections (secrets sealed with AES-256-GCM by the
-- server's keyring), provider device ids mapped to vehicles, and sync logs.

CREATE TABLE telematics_connections (
    tenant_id              BLOB NOT NULL,
    id                     BLOB NOT NULL,
    name                   TEXT NOT NULL,
    provider               TEXT NOT NULL CHECK (provider IN ('motorpool_feed', 'traccar', 'samsara')),
    base_url               TEXT NOT NULL,
    settings               TEXT NOT NULL DEFAULT '{}',
    credentials_key_id     TEXT,
    credentials_nonce      BLOB,
    credentials            BLOB,
    webhook_key_id         TEXT NOT NULL,
    webhook_nonce          BLOB NOT NULL,
    webhook_secret         BLOB NOT NULL,
    sync_interval_minutes  INTEGER NOT NULL CHECK (sync_interval_minutes BETWEEN 1 AND 1440),
    enabled                INTEGER NOT NULL DEFAULT 1,
    cursor                 TEXT,
    last_sync_at           TEXT,
    last_status            TEXT,
    next_sync_at           TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    deleted_at             TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX telematics_connections_name_key ON telematics_connections (tenant_id, name) WHERE deleted_at IS NULL;
CREATE INDEX telematics_connections_due_idx ON telematics_connections (next_sync_at) WHERE enabled = 1 AND deleted_at IS NULL;

CREATE TABLE vehicle_external_ids (
    tenant_id      BLOB NOT NULL,
    connection_id  BLOB NOT NULL,
    external_id    TEXT NOT NULL,
    vehicle_id     BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, connection_id, external_id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES telematics_connections (tenant_id, id)
);

CREATE TABLE telematics_sync_logs (
    tenant_id      BLOB NOT NULL,
    id             BLOB NOT NULL,
    connection_id  BLOB NOT NULL,
    trigger        TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'webhook')),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'partial')),
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    duration_ms    INTEGER,
    vehicles       INTEGER NOT NULL DEFAULT 0,
    readings       INTEGER NOT NULL DEFAULT 0,
    faults         INTEGER NOT NULL DEFAULT 0,
    rejected       INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    cursor_before  TEXT,
    cursor_after   TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES telematics_connections (tenant_id, id)
);
CREATE INDEX telematics_sync_logs_connection_idx ON telematics_sync_logs (tenant_id, connection_id, started_at DESC, id);
