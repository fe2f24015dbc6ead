//! Cross-cutting request handling: metrics, idempotency, security headers.

pub mod idempotency;
pub mod metrics;
pub mod security;
