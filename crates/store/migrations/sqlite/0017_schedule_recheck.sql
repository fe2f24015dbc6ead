-- The first day on which the calendar alone could move a schedule's stored
-- due state (`domain::maintenance::recheck_on`), written with the state.
-- The hourly pass reads only the schedules whose day has come, through this
-- index, instead of every schedule of the fleet. The default makes the first
-- pass after this migration evaluate every schedule once.
ALTER TABLE maintenance_schedules ADD COLUMN recheck_on TEXT NOT NULL DEFAULT '0001-01-01';
CREATE INDEX maintenance_schedules_recheck_idx ON maintenance_schedules (tenant_id, recheck_on);
