-- A vehicle's due watch (domain::due_watch::DueWatch, as JSON): per meter,
-- the value from which a reading can move one of its stored due states. A
-- live feed's batch reads the schedules only of vehicles whose meters
-- reached it. NULL when any reading can move a state (a due-soon schedule
-- projected from a meter), and until the vehicle is next evaluated.
ALTER TABLE vehicles ADD COLUMN due_watch TEXT;

-- An "ok" schedule's forecast is no longer stored: it is computed when its
-- vehicle's schedules are read (domain::maintenance::DueState::to_stored).
UPDATE maintenance_schedules SET forecast_on = NULL, forecast_sort = '9999-12-31' WHERE status = 'ok';
