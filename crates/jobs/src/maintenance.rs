//! The periodic due-state refresh: due states are updated on every write,
//! but the calendar moves on by itself, so once an hour every schedule is
//! re-evaluated against today.

use serde_json::Value;
use store::Store;

/// The job kind.
pub const KIND: &str = "maintenance_due";

/// Re-evaluates every schedule against today's date.
pub async fn run(store: Store, _payload: Value) -> Result<(), String> {
    let today = time::OffsetDateTime::now_utc().date();
    let vehicles = store
        .reevaluate_all_schedules(today)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(vehicles, "maintenance due states refreshed");
    Ok(())
}
