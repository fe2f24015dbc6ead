-- Each vehicle's usage rate (km and engine hours per day), kept on the
-- vehicle and recomputed when its readings change, so the hourly due
-- re-evaluation of a whole fleet is one query over schedules and vehicles
-- instead of 120 days of raw readings per vehicle.
--
-- The rate is computed from one value per day: the day's last live reading
-- (effective value, offsets included). Readings every few minutes then give
-- day-to-day usage, where consecutive raw readings hours apart did not.
CREATE TABLE vehicle_daily_meters (
    tenant_id   uuid NOT NULL,
    vehicle_id  uuid NOT NULL,
    kind        text NOT NULL,
    day         date NOT NULL,
    last_at     bigint NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, kind, day)
);

-- When the rates were last computed; NULL until the first computation (the
-- hourly pass computes it for vehicles with readings and no rates yet).
ALTER TABLE vehicles ADD COLUMN km_per_day double precision;
ALTER TABLE vehicles ADD COLUMN hours_per_day double precision;
ALTER TABLE vehicles ADD COLUMN usage_on date;

-- Only the rate's window (120 days) is ever read: backfill that much. The
-- owner lifts FORCE ROW LEVEL SECURITY for this transaction to see every tenant.
ALTER TABLE meter_readings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE meter_offsets NO FORCE ROW LEVEL SECURITY;
INSERT INTO vehicle_daily_meters (tenant_id, vehicle_id, kind, day, last_at, last_value)
SELECT s.tenant_id, s.vehicle_id, s.kind, s.day, extract(epoch FROM s.last_at)::bigint,
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = s.kind
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = s.kind
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, kind, (read_at AT TIME ZONE 'UTC')::date AS day, max(read_at) AS last_at
          FROM meter_readings WHERE NOT void AND read_at >= now() - interval '121 days'
         GROUP BY 1, 2, 3, 4) AS s;
ALTER TABLE meter_readings FORCE ROW LEVEL SECURITY;
ALTER TABLE meter_offsets FORCE ROW LEVEL SECURITY;

ALTER TABLE vehicle_daily_meters ENABLE ROW LEVEL SECURITY;
ALTER TABLE vehicle_daily_meters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vehicle_daily_meters
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
