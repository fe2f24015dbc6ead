-- Spend per vehicle, month and currency (fuel, service records, expenses),
-- maintained on write: the fleet overview sums a tenant's month from here
-- instead of from every fill.
CREATE TABLE vehicle_monthly_spend (
    tenant_id     BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    month         TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month, currency)
);
CREATE INDEX vehicle_monthly_spend_month_idx ON vehicle_monthly_spend (tenant_id, month);

-- Timestamps and dates are stored as ISO text: the month is its first seven characters.
INSERT INTO vehicle_monthly_spend (tenant_id, vehicle_id, month, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, substr(filled_at, 1, 7) || '-01' AS month, currency, total_minor AS amount
      FROM fuel_entries WHERE total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, substr(performed_on, 1, 7) || '-01', currency, total_minor FROM service_records
    UNION ALL
    SELECT tenant_id, vehicle_id, substr(spent_on, 1, 7) || '-01', currency, amount_minor FROM expenses
) GROUP BY tenant_id, vehicle_id, month, currency;
