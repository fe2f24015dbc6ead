-- Tenant-wide month ranges (the fleet overview's spend this month and last),
-- and the open-fault counts by status and severity.
CREATE INDEX fuel_entries_tenant_time_idx ON fuel_entries (tenant_id, filled_at) WHERE total_minor IS NOT NULL;
CREATE INDEX service_records_tenant_day_idx ON service_records (tenant_id, performed_on);
CREATE INDEX expenses_tenant_day_idx ON expenses (tenant_id, spent_on);
CREATE INDEX maintenance_schedules_status_idx ON maintenance_schedules (tenant_id, status, vehicle_id);
CREATE INDEX fault_cycles_open_idx ON fault_cycles (tenant_id, status, severity, vehicle_id) WHERE status <> 'resolved';
