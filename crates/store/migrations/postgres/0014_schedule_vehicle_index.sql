-- A vehicle's schedules in due order (the vehicle page, each re-evaluation):
-- with only (tenant_id, vehicle_id), SQLite chose the tenant-wide due-order
-- index to avoid a sort and filtered 100,000 schedules of a 10,000-vehicle
-- tenant for one vehicle's ten (35 ms). This index serves filter and order.
CREATE INDEX maintenance_schedules_vehicle_due_idx
    ON maintenance_schedules (tenant_id, vehicle_id, urgency, forecast_sort, id);
DROP INDEX maintenance_schedules_vehicle_idx;
