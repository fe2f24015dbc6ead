-- Meters: odometer and engine-hour readings, meter replacements (offsets),
-- and each vehicle's current meters, maintained on write.

CREATE TABLE meter_readings (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    vehicle_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('odometer', 'hours')),
    read_at     timestamptz NOT NULL,
    value       double precision NOT NULL,
    unit        text NOT NULL CHECK (unit IN ('mi', 'km', 'h')),
    canonical   double precision NOT NULL,
    source      text NOT NULL CHECK (source IN ('manual', 'fuel', 'service', 'telematics', 'import')),
    note        text,
    void        boolean NOT NULL DEFAULT false,
    flag        text,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE UNIQUE INDEX meter_readings_dedup_key ON meter_readings (tenant_id, vehicle_id, kind, read_at, source);
CREATE INDEX meter_readings_timeline_idx ON meter_readings (tenant_id, vehicle_id, kind, read_at) WHERE NOT void;

CREATE TABLE meter_offsets (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('odometer', 'hours')),
    effective_at  timestamptz NOT NULL,
    offset_value  double precision NOT NULL,
    reason        text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX meter_offsets_vehicle_idx ON meter_offsets (tenant_id, vehicle_id, kind, effective_at);

ALTER TABLE vehicles ADD COLUMN odometer_km double precision;
ALTER TABLE vehicles ADD COLUMN odometer_at timestamptz;
ALTER TABLE vehicles ADD COLUMN engine_hours double precision;
ALTER TABLE vehicles ADD COLUMN hours_at timestamptz;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['meter_readings', 'meter_offsets'] LOOP
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
