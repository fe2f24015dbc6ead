-- Meters: odometer and engine-hour readings, meter replacements (offsets),
-- and each vehicle's current meters, maintained on write.

CREATE TABLE meter_readings (
    tenant_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    vehicle_id  BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('odometer', 'hours')),
    read_at     TEXT NOT NULL,
    value       REAL NOT NULL,
    unit        TEXT NOT NULL CHECK (unit IN ('mi', 'km', 'h')),
    canonical   REAL NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('manual', 'fuel', 'service', 'telematics', 'import')),
    note        TEXT,
    void        INTEGER NOT NULL DEFAULT 0,
    flag        TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE UNIQUE INDEX meter_readings_dedup_key ON meter_readings (tenant_id, vehicle_id, kind, read_at, source);
CREATE INDEX meter_readings_timeline_idx ON meter_readings (tenant_id, vehicle_id, kind, read_at) WHERE void = 0;

CREATE TABLE meter_offsets (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('odometer', 'hours')),
    effective_at  TEXT NOT NULL,
    offset_value  REAL NOT NULL,
    reason        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX meter_offsets_vehicle_idx ON meter_offsets (tenant_id, vehicle_id, kind, effective_at);

ALTER TABLE vehicles ADD COLUMN odometer_km REAL;
ALTER TABLE vehicles ADD COLUMN odometer_at TEXT;
ALTER TABLE vehicles ADD COLUMN engine_hours REAL;
ALTER TABLE vehicles ADD COLUMN hours_at TEXT;
