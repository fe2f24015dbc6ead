-- Two monthly rollups the vehicle page reads its full months from, and the
-- raw records only for the period's partial first and last months
-- (docs/PERFORMANCE.md, session 20). See the PostgreSQL migration for what
-- each column holds. Timestamps and dates are ISO text: the month is the
-- first seven characters.
CREATE TABLE vehicle_monthly_costs (
    tenant_id     BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    month         TEXT NOT NULL,
    category      TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month, category, currency)
);
CREATE INDEX vehicle_monthly_costs_month_idx ON vehicle_monthly_costs (tenant_id, month);

INSERT INTO vehicle_monthly_costs (tenant_id, vehicle_id, month, category, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, category, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, substr(filled_at, 1, 7) || '-01' AS month, 'fuel' AS category, currency,
           total_minor AS amount
      FROM fuel_entries WHERE total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, substr(performed_on, 1, 7) || '-01', 'service', currency, total_minor
      FROM service_records
    UNION ALL
    SELECT tenant_id, vehicle_id, substr(spent_on, 1, 7) || '-01', category, currency, amount_minor
      FROM expenses
) GROUP BY tenant_id, vehicle_id, month, category, currency;

CREATE TABLE vehicle_monthly_fuel (
    tenant_id     BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    month         TEXT NOT NULL,
    fuel_type     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    first_at      TEXT NOT NULL,
    entries       INTEGER NOT NULL,
    quantity      REAL NOT NULL,
    spend         INTEGER,
    segments      INTEGER NOT NULL,
    costed        INTEGER NOT NULL,
    seg_distance  REAL,
    seg_quantity  REAL,
    seg_cost      INTEGER,
    PRIMARY KEY (tenant_id, vehicle_id, month, fuel_type, currency)
);

INSERT INTO vehicle_monthly_fuel (tenant_id, vehicle_id, month, fuel_type, currency, first_at, entries,
                                  quantity, spend, segments, costed, seg_distance, seg_quantity, seg_cost)
SELECT tenant_id, vehicle_id, substr(filled_at, 1, 7) || '-01', fuel_type, currency,
       min(filled_at), count(*), sum(quantity_canonical), sum(total_minor),
       count(*) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       count(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL),
       sum(seg_distance_km) FILTER (WHERE seg_quantity IS NOT NULL),
       sum(seg_quantity) FILTER (WHERE seg_distance_km IS NOT NULL),
       sum(seg_cost_minor) FILTER (WHERE seg_distance_km IS NOT NULL AND seg_quantity IS NOT NULL)
  FROM fuel_entries GROUP BY 1, 2, 3, 4, 5;
