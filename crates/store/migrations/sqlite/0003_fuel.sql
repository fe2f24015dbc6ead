-- Fuel and charging entries. seg_* hold the full-to-full segment an entry
-- closes (distance, fuel, cost), recomputed for the vehicle and fuel type on
-- every write, so economy is read, never recomputed on a page view.

CREATE TABLE fuel_entries (
    tenant_id           BLOB NOT NULL,
    id                  BLOB NOT NULL,
    vehicle_id          BLOB NOT NULL,
    filled_at           TEXT NOT NULL,
    odometer_value      REAL NOT NULL,
    odometer_unit       TEXT NOT NULL CHECK (odometer_unit IN ('mi', 'km')),
    odometer_km         REAL NOT NULL,
    fuel_type           TEXT NOT NULL,
    grade               TEXT,
    quantity            REAL NOT NULL,
    quantity_unit       TEXT NOT NULL CHECK (quantity_unit IN ('us_gal', 'uk_gal', 'l', 'kwh', 'kg')),
    quantity_canonical  REAL NOT NULL,
    unit_price_milli    INTEGER,
    total_minor         INTEGER,
    currency            TEXT NOT NULL,
    full_fill           INTEGER NOT NULL,
    missed_previous     INTEGER NOT NULL,
    station             TEXT,
    soc_before          REAL,
    soc_after           REAL,
    notes               TEXT,
    meter_reading_id    BLOB,
    seg_distance_km     REAL,
    seg_quantity        REAL,
    seg_cost_minor      INTEGER,
    created_at          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX fuel_entries_chain_idx ON fuel_entries (tenant_id, vehicle_id, fuel_type, odometer_km);
CREATE INDEX fuel_entries_time_idx ON fuel_entries (tenant_id, vehicle_id, filled_at);
