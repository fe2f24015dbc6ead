-- Imported rows remember the fingerprint of the line they came from, so that
-- importing the same file twice adds nothing.
ALTER TABLE fuel_entries ADD COLUMN import_key TEXT;
ALTER TABLE service_records ADD COLUMN import_key TEXT;
ALTER TABLE expenses ADD COLUMN import_key TEXT;
CREATE UNIQUE INDEX fuel_entries_import_key ON fuel_entries (tenant_id, vehicle_id, import_key) WHERE import_key IS NOT NULL;
CREATE UNIQUE INDEX service_records_import_key ON service_records (tenant_id, vehicle_id, import_key) WHERE import_key IS NOT NULL;
CREATE UNIQUE INDEX expenses_import_key ON expenses (tenant_id, vehicle_id, import_key) WHERE import_key IS NOT NULL;
