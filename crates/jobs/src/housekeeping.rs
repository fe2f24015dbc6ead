//! The periodic clean-up: expired sessions, old login-throttle windows,
//! idempotency keys past their 24 hours, and succeeded jobs older than a week.

use serde_json::Value;
use store::{Store, now_ms};

/// The job kind.
pub const KIND: &str = "housekeeping";

/// Runs one clean-up pass.
pub async fn run(store: Store, _payload: Value) -> Result<(), String> {
    let sessions = store
        .purge_expired_sessions()
        .await
        .map_err(|e| e.to_string())?;
    let throttle = store
        .purge_throttle(24 * 3600)
        .await
        .map_err(|e| e.to_string())?;
    let keys = store
        .purge_idempotency(24 * 3600)
        .await
        .map_err(|e| e.to_string())?;
    let jobs = store
        .purge_finished_jobs(now_ms() - 7 * 24 * 3_600_000)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(sessions, throttle, keys, jobs, "housekeeping done");
    Ok(())
}
