-- Distance per vehicle and month, maintained on write, for the fleet cost
-- report (cost per distance per vehicle per month): the first and last live
-- odometer reading of each month (effective value: with meter offsets), so a
-- month's distance is its last reading minus the previous month's last.
CREATE TABLE vehicle_monthly_distance (
    tenant_id   uuid NOT NULL,
    vehicle_id  uuid NOT NULL,
    month       date NOT NULL,
    first_at    bigint NOT NULL,
    first_km    double precision NOT NULL,
    last_at     bigint NOT NULL,
    last_km     double precision NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month)
);

-- The backfills read every tenant's rows. Tables with FORCE ROW LEVEL
-- SECURITY hide them even from their owner unless it is a superuser, so the
-- owner lifts FORCE for the length of this migration's transaction.
ALTER TABLE meter_readings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE meter_offsets NO FORCE ROW LEVEL SECURITY;
ALTER TABLE fuel_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE service_records NO FORCE ROW LEVEL SECURITY;
ALTER TABLE expenses NO FORCE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_spend NO FORCE ROW LEVEL SECURITY;

INSERT INTO vehicle_monthly_distance (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km)
SELECT s.tenant_id, s.vehicle_id, s.month,
       extract(epoch FROM s.first_at)::bigint,
       (SELECT min(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.first_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.first_at), 0),
       extract(epoch FROM s.last_at)::bigint,
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, date_trunc('month', read_at AT TIME ZONE 'UTC')::date AS month,
               min(read_at) AS first_at, max(read_at) AS last_at
          FROM meter_readings WHERE kind = 'odometer' AND NOT void
         GROUP BY 1, 2, 3) AS s;

-- 0012's backfill of monthly spend ran under FORCE ROW LEVEL SECURITY, which
-- a non-superuser owner could not see through: rebuild it here.
DELETE FROM vehicle_monthly_spend;
INSERT INTO vehicle_monthly_spend (tenant_id, vehicle_id, month, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, date_trunc('month', filled_at AT TIME ZONE 'UTC')::date AS month, currency,
           total_minor AS amount
      FROM fuel_entries WHERE total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', performed_on)::date, currency, total_minor FROM service_records
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', spent_on)::date, currency, amount_minor FROM expenses
) AS spent GROUP BY tenant_id, vehicle_id, month, currency;

ALTER TABLE meter_readings FORCE ROW LEVEL SECURITY;
ALTER TABLE meter_offsets FORCE ROW LEVEL SECURITY;
ALTER TABLE fuel_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE service_records FORCE ROW LEVEL SECURITY;
ALTER TABLE expenses FORCE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_spend FORCE ROW LEVEL SECURITY;

ALTER TABLE vehicle_monthly_distance ENABLE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_distance FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vehicle_monthly_distance
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
