-- Distance per vehicle and month, maintained on write, for the fleet cost
-- report (cost per distance per vehicle per month): the first and last live
-- odometer reading of each month (effective value: with meter offsets), so a
-- month's distance is its last reading minus the previous month's last.
-- Times are Unix seconds.
CREATE TABLE vehicle_monthly_distance (
    tenant_id   BLOB NOT NULL,
    vehicle_id  BLOB NOT NULL,
    month       TEXT NOT NULL,
    first_at    INTEGER NOT NULL,
    first_km    REAL NOT NULL,
    last_at     INTEGER NOT NULL,
    last_km     REAL NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month)
);

-- Timestamps are stored as ISO text: the month is its first seven characters.
INSERT INTO vehicle_monthly_distance (tenant_id, vehicle_id, month, first_at, first_km, last_at, last_km)
SELECT s.tenant_id, s.vehicle_id, s.month,
       CAST(strftime('%s', s.first_at) AS INTEGER),
       (SELECT min(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.first_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.first_at), 0),
       CAST(strftime('%s', s.last_at) AS INTEGER),
       (SELECT max(r.canonical) FROM meter_readings r
         WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id AND r.kind = 'odometer'
           AND r.read_at = s.last_at AND NOT r.void)
       + COALESCE((SELECT sum(o.offset_value) FROM meter_offsets o
         WHERE o.tenant_id = s.tenant_id AND o.vehicle_id = s.vehicle_id AND o.kind = 'odometer'
           AND o.effective_at <= s.last_at), 0)
  FROM (SELECT tenant_id, vehicle_id, substr(read_at, 1, 7) || '-01' AS month,
               min(read_at) AS first_at, max(read_at) AS last_at
          FROM meter_readings WHERE kind = 'odometer' AND NOT void
         GROUP BY 1, 2, 3) AS s;
