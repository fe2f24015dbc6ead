-- Each vehicle's usage rate (km and engine hours per day), kept on the
-- vehicle and recomputed when its readings change, so the hourly due
-- re-evaluation of a whole fleet is one query over schedules and vehicles
-- instead of 120 days of raw readings per vehicle.
--
-- The rate is computed from one value per day: the day's last live reading
-- (effective value, offsets included). Readings every few minutes then give
-- day-to-day usage, where consecutive raw readings hours apart did not.
-- Times are Unix seconds; days are ISO dates.
CREATE TABLE vehicle_daily_meters (
    tenant_id   BLOB NOT NULL,
    vehicle_id  BLOB NOT NULL,
    kind        TEXT NOT NULL,
    day         TEXT NOT NULL,
    last_at     INTEGER NOT NULL,
    last_value  REAL NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, kind, day)
);

-- When the rates were last computed; NULL until the first computation (the
-- hourly pass computes it for vehicles with readings and no rates yet).
ALTER TABLE vehicles ADD COLUMN km_per_day REAL;
ALTER TABLE vehicles ADD COLUMN hours_per_day REAL;
ALTER TABLE vehicles ADD COLUMN usage_on TEXT;

-- Only the rate's window (120 days) is ever read: backfill that much.
-- Timestamps are stored as UTC ISO text: the day is its first ten characters.
INSERT INTO vehicle_daily_meters (tenant_id, vehicle_id, kind, day, last_at, last_value)
SELECT s.tenant_id, s.vehicle_id, s.kind, s.day, CAST(strftime('%s', s.last_at) AS INTEGER),
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = s.kind
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = s.kind
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, kind, substr(read_at, 1, 10) AS day, max(read_at) AS last_at
          FROM meter_readings WHERE NOT void AND substr(read_at, 1, 10) >= date('now', '-121 days')
         GROUP BY 1, 2, 3, 4) AS s;
