-- Faults: the raw event stream (partitioned by month), fault cycles (one
-- open cycle per vehicle and code, history kept), and each vehicle's health
-- score and risk level, maintained on write.

CREATE TABLE fault_events (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL,
    vehicle_id         uuid NOT NULL,
    observed_at        timestamptz NOT NULL,
    fault_key          text NOT NULL,
    protocol           text NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn                integer,
    fmi                smallint,
    source_address     smallint,
    obd_code           text,
    -- DM1 (active), DM2 (previously active) or a single reported fault.
    message            text NOT NULL CHECK (message IN ('dm1', 'dm2', 'fault')),
    occurrences        smallint,
    lamp_mil           text NOT NULL,
    lamp_red_stop      text NOT NULL,
    lamp_amber_warning text NOT NULL,
    lamp_protect       text NOT NULL,
    legacy_conversion  boolean NOT NULL DEFAULT false,
    origin             text NOT NULL CHECK (origin IN ('api', 'cli', 'webhook', 'sync')),
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE UNIQUE INDEX fault_events_dedup_key ON fault_events (tenant_id, vehicle_id, fault_key, observed_at, message);

CREATE TABLE fault_cycles (
    tenant_id          uuid NOT NULL,
    id                 uuid NOT NULL,
    vehicle_id         uuid NOT NULL,
    fault_key          text NOT NULL,
    protocol           text NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn                integer,
    fmi                smallint,
    source_address     smallint,
    obd_code           text,
    status             text NOT NULL CHECK (status IN ('active', 'inactive', 'resolved')),
    severity           text NOT NULL CHECK (severity IN ('info', 'minor', 'major', 'critical')),
    first_seen         timestamptz NOT NULL,
    last_seen          timestamptz NOT NULL,
    reports            integer NOT NULL,
    occurrences        smallint,
    lamp_mil           text NOT NULL,
    lamp_red_stop      text NOT NULL,
    lamp_amber_warning text NOT NULL,
    lamp_protect       text NOT NULL,
    odometer_first_km  double precision,
    odometer_last_km   double precision,
    -- DM1 reports from the same ECU that did not list this code, in a row.
    missed_reports     integer NOT NULL DEFAULT 0,
    last_missed_at     timestamptz,
    inactive_since     timestamptz,
    resolved_at        timestamptz,
    resolved_by        uuid,
    resolution         text CHECK (resolution IN ('service', 'work_order', 'manual')),
    resolution_note    text,
    service_record_id  uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE UNIQUE INDEX fault_cycles_open_key ON fault_cycles (tenant_id, vehicle_id, fault_key) WHERE status <> 'resolved';
CREATE INDEX fault_cycles_vehicle_idx ON fault_cycles (tenant_id, vehicle_id, last_seen DESC, id);

-- A vehicle with no faults and nothing overdue scores 100, risk low (rank 0).
ALTER TABLE vehicles ADD COLUMN health_score smallint NOT NULL DEFAULT 100;
ALTER TABLE vehicles ADD COLUMN risk_rank smallint NOT NULL DEFAULT 0;
ALTER TABLE vehicles ADD COLUMN health jsonb;
ALTER TABLE vehicles ADD COLUMN health_at timestamptz;
CREATE INDEX vehicles_tenant_health_idx ON vehicles (tenant_id, health_score, id) WHERE deleted_at IS NULL;
-- Telemetry names vehicles by unit number as often as by id or VIN.
CREATE INDEX vehicles_tenant_unit_idx ON vehicles (tenant_id, unit_number) WHERE deleted_at IS NULL;
CREATE INDEX vehicles_tenant_risk_idx ON vehicles (tenant_id, risk_rank, id) WHERE deleted_at IS NULL;

-- Monthly partitions are created on demand, before the transaction that
-- writes into them, by this function: it runs as the schema owner (the app
-- role may not create tables), serialises creators with an advisory lock, and
-- gives each partition the parent's row-level security, so even a direct
-- query on a partition is tenant-scoped.
CREATE FUNCTION motorpool_ensure_fault_event_partition(at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_day date := date_trunc('month', at AT TIME ZONE 'UTC')::date;
    part text := format('fault_events_%s', to_char(first_day, 'YYYY_MM'));
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('motorpool.fault_event_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF fault_events FOR VALUES FROM (%L) TO (%L)',
        part,
        first_day::timestamp AT TIME ZONE 'UTC',
        (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %I
             USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)
             WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
        part);
END
$$;
REVOKE ALL ON FUNCTION motorpool_ensure_fault_event_partition(timestamptz) FROM PUBLIC;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['fault_events', 'fault_cycles'] LOOP
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
