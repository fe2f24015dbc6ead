-- Each meter's latest stored reading time, void or live, kept on the
-- vehicle row with its current meters: an ingest batch whose items of a
-- meter all come after it needs no window of stored readings for that meter
-- (see crates/store/src/latest_meters.rs). NULL: the meter has no reading.
ALTER TABLE vehicles ADD COLUMN odometer_seen_at timestamptz;
ALTER TABLE vehicles ADD COLUMN hours_seen_at timestamptz;

UPDATE vehicles SET
    odometer_seen_at = (SELECT r.read_at FROM meter_readings r
                         WHERE r.tenant_id = vehicles.tenant_id AND r.vehicle_id = vehicles.id
                           AND r.kind = 'odometer' ORDER BY r.read_at DESC LIMIT 1),
    hours_seen_at = (SELECT r.read_at FROM meter_readings r
                      WHERE r.tenant_id = vehicles.tenant_id AND r.vehicle_id = vehicles.id
                        AND r.kind = 'hours' ORDER BY r.read_at DESC LIMIT 1);
