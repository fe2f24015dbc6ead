-- Two monthly rollups the vehicle page reads its full months from, and the
-- raw records only for the period's partial first and last months
-- (docs/PERFORMANCE.md, session 20).
--
-- Spend per vehicle, month, category and currency: `fuel`, `service`, or
-- an expense's category. Kept by the same writes as `vehicle_monthly_spend`
-- (which is this summed over categories: the cost report reads that one,
-- a third the rows).
CREATE TABLE vehicle_monthly_costs (
    tenant_id     uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    month         date NOT NULL,
    category      text NOT NULL,
    currency      text NOT NULL,
    amount_minor  bigint NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month, category, currency)
);
CREATE INDEX vehicle_monthly_costs_month_idx ON vehicle_monthly_costs (tenant_id, month);

-- The backfills read every tenant's rows, which FORCE ROW LEVEL SECURITY
-- hides even from the tables' owner unless it is a superuser (see migration
-- 13): lifted for the length of this migration's transaction.
ALTER TABLE fuel_entries NO FORCE ROW LEVEL SECURITY;
ALTER TABLE service_records NO FORCE ROW LEVEL SECURITY;
ALTER TABLE expenses NO FORCE ROW LEVEL SECURITY;

INSERT INTO vehicle_monthly_costs (tenant_id, vehicle_id, month, category, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, category, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, date_trunc('month', filled_at AT TIME ZONE 'UTC')::date AS month,
           'fuel' AS category, currency, total_minor AS amount
      FROM fuel_entries WHERE total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', performed_on)::date, 'service', currency, total_minor
      FROM service_records
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', spent_on)::date, category, currency, amount_minor
      FROM expenses
) AS spent GROUP BY tenant_id, vehicle_id, month, category, currency;

-- Fuel figures per vehicle, month, fuel type and currency: the sums the
-- page's fuel statistics add up (see `fuel_stats`), over the fills of the
-- month. A segment counts when both its distance and quantity are known,
-- its cost only when it has one. Rewritten for the months that changed
-- whenever a fuel type's chain is recomputed (every fuel write ends so).
CREATE TABLE vehicle_monthly_fuel (
    tenant_id     uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    month         date NOT NULL,
    fuel_type     text NOT NULL,
    currency      text NOT NULL,
    first_at      timestamptz NOT NULL,
    entries       bigint NOT NULL,
    quantity      double precision NOT NULL,
    spend         bigint,
    segments      bigint NOT NULL,
    costed        bigint NOT NULL,
    seg_distance  double precision,
    seg_quantity  double precision,
    seg_cost      bigint,
    PRIMARY KEY (tenant_id, vehicle_id, month, fuel_type, currency)
);

INSERT INTO vehicle_monthly_fuel (tenant_id, vehicle_id, month, fuel_type, currency, first_at, entries,
                                  quantity, spend, segments, costed, seg_distance, seg_quantity, seg_cost)
SELECT tenant_id, vehicle_id, date_trunc('month', filled_at AT TIME ZONE 'UTC')::date, fuel_type, currency,
       min(filled_at), count(*), sum(quantity_canonical), sum(total_minor),
       count(*) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       count(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       sum(seg_distance_km) FILTER (WHERE seg_quantity IS NOT NULL),
       sum(seg_quantity) FILTER (WHERE seg_distance_km IS NOT NULL),
       sum(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL)
  FROM fuel_entries GROUP BY 1, 2, 3, 4, 5;

ALTER TABLE fuel_entries FORCE ROW LEVEL SECURITY;
ALTER TABLE service_records FORCE ROW LEVEL SECURITY;
ALTER TABLE expenses FORCE ROW LEVEL SECURITY;

ALTER TABLE vehicle_monthly_costs ENABLE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_costs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vehicle_monthly_costs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE vehicle_monthly_fuel ENABLE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_fuel FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vehicle_monthly_fuel
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
