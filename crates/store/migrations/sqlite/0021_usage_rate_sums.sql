-- Each meter's usage rate as running sums (domain::usage_rate::DailyRateSums,
-- as JSON), kept beside the rate so that an ingest batch that only moves a
-- vehicle's latest day, or adds days after it, updates the rate without
-- reading its 120 days of daily meters again. NULL until the first
-- computation, and whenever the sums cannot be trusted: the next refresh
-- then computes them from the days.
ALTER TABLE vehicles ADD COLUMN odometer_rate_sums TEXT;
ALTER TABLE vehicles ADD COLUMN hours_rate_sums TEXT;
