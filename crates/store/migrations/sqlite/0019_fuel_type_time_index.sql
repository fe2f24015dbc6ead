-- A vehicle's fills by fuel type in time order. The vehicle page lists the
-- fuel types in order of first use (a grouped scan that now reads only this
-- index, not every fill's row) and each type's latest measured segment.
CREATE INDEX fuel_entries_type_time_idx ON fuel_entries (tenant_id, vehicle_id, fuel_type, filled_at);
