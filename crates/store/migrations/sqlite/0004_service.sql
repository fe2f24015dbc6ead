-- Service task catalog, service records with line items, expenses, and
-- maintenance schedules whose due state is stored and updated on write.

CREATE TABLE service_tasks (
    tenant_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX service_tasks_key_key ON service_tasks (tenant_id, key);

CREATE TABLE service_records (
    tenant_id       BLOB NOT NULL,
    id              BLOB NOT NULL,
    vehicle_id      BLOB NOT NULL,
    performed_on    TEXT NOT NULL,
    odometer_km     REAL,
    engine_hours    REAL,
    vendor          TEXT,
    notes           TEXT,
    currency        TEXT NOT NULL,
    tax_minor       INTEGER NOT NULL DEFAULT 0,
    discount_minor  INTEGER NOT NULL DEFAULT 0,
    total_minor     INTEGER NOT NULL,
    task_ids        TEXT NOT NULL DEFAULT '[]',
    line_items      TEXT NOT NULL DEFAULT '[]',
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX service_records_vehicle_idx ON service_records (tenant_id, vehicle_id, performed_on);

CREATE TABLE expenses (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    category      TEXT NOT NULL CHECK (category IN ('registration', 'insurance', 'tax', 'tolls', 'parking', 'fines', 'other')),
    spent_on      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    recurrence    TEXT,
    notes         TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX expenses_vehicle_idx ON expenses (tenant_id, vehicle_id, spent_on);

CREATE TABLE maintenance_schedules (
    tenant_id         BLOB NOT NULL,
    id                BLOB NOT NULL,
    vehicle_id        BLOB NOT NULL,
    task_id           BLOB NOT NULL,
    one_off           INTEGER NOT NULL DEFAULT 0,
    interval_km       REAL,
    interval_hours    REAL,
    interval_days     INTEGER,
    window_km         REAL,
    window_hours      REAL,
    window_days       INTEGER,
    last_done_on      TEXT NOT NULL,
    last_done_km      REAL,
    last_done_hours   REAL,
    next_due_km       REAL,
    next_due_hours    REAL,
    next_due_on       TEXT,
    status            TEXT NOT NULL CHECK (status IN ('ok', 'due_soon', 'overdue', 'completed')),
    urgency           INTEGER NOT NULL,
    forecast_on       TEXT,
    forecast_sort     TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX maintenance_schedules_vehicle_idx ON maintenance_schedules (tenant_id, vehicle_id);
CREATE INDEX maintenance_schedules_due_idx ON maintenance_schedules (tenant_id, urgency, forecast_sort, id);

-- The default task catalog for tenants that existed before this migration
-- (new tenants get it from the store; keep the two lists equal:
-- domain::service::DEFAULT_TASKS).
INSERT INTO service_tasks (tenant_id, id, key, name, created_at)
SELECT t.id, randomblob(16), d.column1, d.column2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
FROM tenants t CROSS JOIN (VALUES
    ('oil_change', 'Oil and filter change'),
    ('tire_rotation', 'Tire rotation'),
    ('brake_inspection', 'Brake inspection'),
    ('air_filter', 'Engine air filter'),
    ('cabin_filter', 'Cabin air filter'),
    ('coolant', 'Coolant service'),
    ('transmission_fluid', 'Transmission fluid'),
    ('fuel_filter', 'Fuel filter'),
    ('spark_plugs', 'Spark plugs'),
    ('def_filter', 'DEF filter'),
    ('dpf_cleaning', 'DPF cleaning'),
    ('annual_inspection', 'Annual inspection'),
    ('wheel_alignment', 'Wheel alignment'),
    ('battery', 'Battery check'),
    ('wiper_blades', 'Wiper blades')
) AS d;
