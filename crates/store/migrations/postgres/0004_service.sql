-- Service task catalog, service records with line items, expenses, and
-- maintenance schedules whose due state is stored and updated on write.

CREATE TABLE service_tasks (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    key         text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX service_tasks_key_key ON service_tasks (tenant_id, key);

CREATE TABLE service_records (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    vehicle_id      uuid NOT NULL,
    performed_on    date NOT NULL,
    odometer_km     double precision,
    engine_hours    double precision,
    vendor          text,
    notes           text,
    currency        text NOT NULL,
    tax_minor       bigint NOT NULL DEFAULT 0,
    discount_minor  bigint NOT NULL DEFAULT 0,
    total_minor     bigint NOT NULL,
    task_ids        jsonb NOT NULL DEFAULT '[]',
    line_items      jsonb NOT NULL DEFAULT '[]',
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX service_records_vehicle_idx ON service_records (tenant_id, vehicle_id, performed_on);

CREATE TABLE expenses (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    category      text NOT NULL CHECK (category IN ('registration', 'insurance', 'tax', 'tolls', 'parking', 'fines', 'other')),
    spent_on      date NOT NULL,
    amount_minor  bigint NOT NULL,
    currency      text NOT NULL,
    recurrence    text,
    notes         text,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX expenses_vehicle_idx ON expenses (tenant_id, vehicle_id, spent_on);

CREATE TABLE maintenance_schedules (
    tenant_id         uuid NOT NULL,
    id                uuid NOT NULL,
    vehicle_id        uuid NOT NULL,
    task_id           uuid NOT NULL,
    one_off           boolean NOT NULL DEFAULT false,
    interval_km       double precision,
    interval_hours    double precision,
    interval_days     bigint,
    window_km         double precision,
    window_hours      double precision,
    window_days       bigint,
    last_done_on      date NOT NULL,
    last_done_km      double precision,
    last_done_hours   double precision,
    next_due_km       double precision,
    next_due_hours    double precision,
    next_due_on       date,
    status            text NOT NULL CHECK (status IN ('ok', 'due_soon', 'overdue', 'completed')),
    urgency           integer NOT NULL,
    forecast_on       date,
    forecast_sort     date NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX maintenance_schedules_vehicle_idx ON maintenance_schedules (tenant_id, vehicle_id);
CREATE INDEX maintenance_schedules_due_idx ON maintenance_schedules (tenant_id, urgency, forecast_sort, id);

-- The default task catalog for tenants that existed before this migration
-- (new tenants get it from the store; keep the two lists equal:
-- domain::service::DEFAULT_TASKS).
INSERT INTO service_tasks (tenant_id, id, key, name, created_at)
SELECT t.id, gen_random_uuid(), d.key, d.name, now()
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
) AS d (key, name);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['service_tasks', 'service_records', 'expenses', 'maintenance_schedules'] LOOP
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
