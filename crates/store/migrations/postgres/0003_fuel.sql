-- Fuel and charging entries. seg_* hold the full-to-full segment an entry
-- closes (distance, fuel, cost), recomputed for the vehicle and fuel type on
-- every write, so economy is read, never recomputed on a page view.

CREATE TABLE fuel_entries (
    tenant_id           uuid NOT NULL,
    id                  uuid NOT NULL,
    vehicle_id          uuid NOT NULL,
    filled_at           timestamptz NOT NULL,
    odometer_value      double precision NOT NULL,
    odometer_unit       text NOT NULL CHECK (odometer_unit IN ('mi', 'km')),
    odometer_km         double precision NOT NULL,
    fuel_type           text NOT NULL,
    grade               text,
    quantity            double precision NOT NULL,
    quantity_unit       text NOT NULL CHECK (quantity_unit IN ('us_gal', 'uk_gal', 'l', 'kwh', 'kg')),
    quantity_canonical  double precision NOT NULL,
    unit_price_milli    bigint,
    total_minor         bigint,
    currency            text NOT NULL,
    full_fill           boolean NOT NULL,
    missed_previous     boolean NOT NULL,
    station             text,
    soc_before          double precision,
    soc_after           double precision,
    notes               text,
    meter_reading_id    uuid,
    seg_distance_km     double precision,
    seg_quantity        double precision,
    seg_cost_minor      bigint,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX fuel_entries_chain_idx ON fuel_entries (tenant_id, vehicle_id, fuel_type, odometer_km);
CREATE INDEX fuel_entries_time_idx ON fuel_entries (tenant_id, vehicle_id, filled_at);

ALTER TABLE fuel_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE fuel_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fuel_entries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
