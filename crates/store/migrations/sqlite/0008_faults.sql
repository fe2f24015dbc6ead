-- Faults: the raw event stream, fault cycles (one open cycle per vehicle and
-- code, history kept), and each vehicle's health score and risk level,
-- maintained on write.

CREATE TABLE fault_events (
    tenant_id          BLOB NOT NULL,
    id                 BLOB NOT NULL,
    vehicle_id         BLOB NOT NULL,
    observed_at        TEXT NOT NULL,
    fault_key          TEXT NOT NULL,
    protocol           TEXT NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn                INTEGER,
    fmi                INTEGER,
    source_address     INTEGER,
    obd_code           TEXT,
    message            TEXT NOT NULL CHECK (message IN ('dm1', 'dm2', 'fault')),
    occurrences        INTEGER,
    lamp_mil           TEXT NOT NULL,
    lamp_red_stop      TEXT NOT NULL,
    lamp_amber_warning TEXT NOT NULL,
    lamp_protect       TEXT NOT NULL,
    legacy_conversion  INTEGER NOT NULL DEFAULT 0,
    origin             TEXT NOT NULL CHECK (origin IN ('api', 'cli', 'webhook', 'sync')),
    created_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id, observed_at)
);
CREATE UNIQUE INDEX fault_events_dedup_key ON fault_events (tenant_id, vehicle_id, fault_key, observed_at, message);

CREATE TABLE fault_cycles (
    tenant_id          BLOB NOT NULL,
    id                 BLOB NOT NULL,
    vehicle_id         BLOB NOT NULL,
    fault_key          TEXT NOT NULL,
    protocol           TEXT NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn                INTEGER,
    fmi                INTEGER,
    source_address     INTEGER,
    obd_code           TEXT,
    status             TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'resolved')),
    severity           TEXT NOT NULL CHECK (severity IN ('info', 'minor', 'major', 'critical')),
    first_seen         TEXT NOT NULL,
    last_seen          TEXT NOT NULL,
    reports            INTEGER NOT NULL,
    occurrences        INTEGER,
    lamp_mil           TEXT NOT NULL,
    lamp_red_stop      TEXT NOT NULL,
    lamp_amber_warning TEXT NOT NULL,
    lamp_protect       TEXT NOT NULL,
    odometer_first_km  REAL,
    odometer_last_km   REAL,
    missed_reports     INTEGER NOT NULL DEFAULT 0,
    last_missed_at     TEXT,
    inactive_since     TEXT,
    resolved_at        TEXT,
    resolved_by        BLOB,
    resolution         TEXT CHECK (resolution IN ('service', 'work_order', 'manual')),
    resolution_note    TEXT,
    service_record_id  BLOB,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE UNIQUE INDEX fault_cycles_open_key ON fault_cycles (tenant_id, vehicle_id, fault_key) WHERE status <> 'resolved';
CREATE INDEX fault_cycles_vehicle_idx ON fault_cycles (tenant_id, vehicle_id, last_seen DESC, id);

-- A vehicle with no faults and nothing overdue scores 100, risk low (rank 0).
ALTER TABLE vehicles ADD COLUMN health_score INTEGER NOT NULL DEFAULT 100;
ALTER TABLE vehicles ADD COLUMN risk_rank INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vehicles ADD COLUMN health TEXT;
ALTER TABLE vehicles ADD COLUMN health_at TEXT;
CREATE INDEX vehicles_tenant_health_idx ON vehicles (tenant_id, health_score, id) WHERE deleted_at IS NULL;
-- Telemetry names vehicles by unit number as often as by id or VIN.
CREATE INDEX vehicles_tenant_unit_idx ON vehicles (tenant_id, unit_number) WHERE deleted_at IS NULL;
CREATE INDEX vehicles_tenant_risk_idx ON vehicles (tenant_id, risk_rank, id) WHERE deleted_at IS NULL;
