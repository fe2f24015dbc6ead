-- Spend per vehicle, month and currency (fuel, service records, expenses),
-- maintained on write: the fleet overview sums a tenant's month from here
-- instead of from every fill.
CREATE TABLE vehicle_monthly_spend (
    tenant_id     uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    month         date NOT NULL,
    currency      text NOT NULL,
    amount_minor  bigint NOT NULL,
    PRIMARY KEY (tenant_id, vehicle_id, month, currency)
);
CREATE INDEX vehicle_monthly_spend_month_idx ON vehicle_monthly_spend (tenant_id, month);

INSERT INTO vehicle_monthly_spend (tenant_id, vehicle_id, month, currency, amount_minor)
SELECT tenant_id, vehicle_id, month, currency, sum(amount) FROM (
    SELECT tenant_id, vehicle_id, date_trunc('month', filled_at AT TIME ZONE 'UTC')::date AS month, currency,
           total_minor AS amount
      FROM fuel_entries WHERE total_minor IS NOT NULL
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', performed_on)::date, currency, total_minor FROM service_records
    UNION ALL
    SELECT tenant_id, vehicle_id, date_trunc('month', spent_on)::date, currency, amount_minor FROM expenses
) AS spent GROUP BY tenant_id, vehicle_id, month, currency;

ALTER TABLE vehicle_monthly_spend ENABLE ROW LEVEL SECURITY;
ALTER TABLE vehicle_monthly_spend FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON vehicle_monthly_spend
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
