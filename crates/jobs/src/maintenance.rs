//! The periodic due-state and health refresh: due states and health scores
//! are updated on every write, but the calendar moves on by itself, so once
//! an hour every schedule is re-evaluated against today, active faults not
//! reported for the tenant's `fault_inactive_after_hours` become inactive,
//! and health scores are recomputed (a fault's weight fades with age).

use serde_json::Value;
use store::Store;

/// The job kind.
pub const KIND: &str = "maintenance_due";

/// Re-evaluates every schedule against today's date, then ages faults and rescores health.
pub async fn run(store: Store, _payload: Value) -> Result<(), String> {
    let today = time::OffsetDateTime::now_utc().date();
    let rechecked = store
        .reevaluate_all_schedules(today)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(rechecked, "maintenance due states refreshed");
    let rescored = store
        .refresh_fleet_health(time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(rescored, "health scores refreshed");
    Ok(())
}
