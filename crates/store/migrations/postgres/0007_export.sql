-- Lossless export and re-import: vehicles remember the id they were
-- exported under, and service records the instant their meters were read.
ALTER TABLE vehicles ADD COLUMN import_key text;
CREATE UNIQUE INDEX vehicles_import_key ON vehicles (tenant_id, import_key) WHERE import_key IS NOT NULL;
ALTER TABLE service_records ADD COLUMN performed_at timestamptz;
