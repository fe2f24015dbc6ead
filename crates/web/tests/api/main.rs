//! The HTTP API, end to end: a real server on port 0 per test, against a
//! fresh SQLite file and (when reachable; always under CI) a fresh
//! PostgreSQL database opened as the unprivileged app role.

// Helpers panic on setup failure: that is how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod access;
mod auth;
mod bad_input;
mod documents;
mod faults;
mod idempotency;
mod imports;
mod maintenance;
mod system;
mod telematics;
mod vehicles;
