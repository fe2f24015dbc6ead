//! Motorpool's domain: the types and rules of vehicle maintenance, with no I/O.
//!
//! Everything that enters the system from outside (an HTTP body, a CLI flag, an
//! imported file) is parsed into the types of this crate before it reaches the
//! store: a [`vin::Vin`] is always 17 valid characters, a [`tenancy::Email`] is
//! always lower-case and well-formed. Code further in never re-validates.

#[macro_use]
mod text_enum;

pub mod credentials;
pub mod document;
pub mod due_watch;
pub mod fault_code;
pub mod fault_rules;
pub mod faults;
pub mod fuel;
pub mod health;
pub mod ids;
pub mod import;
pub mod j1939;
pub mod maintenance;
pub mod meter;
pub mod money;
pub mod obd;
pub mod preferences;
pub mod sealed;
pub mod service;
pub mod telematics;
pub mod telemetry;
pub mod tenancy;
pub mod usage_rate;
pub mod validation;
pub mod vehicle;
pub mod vin;
pub mod vin_decode;
pub mod webhook;
pub mod wmi;

pub use validation::{FieldError, ValidationErrors};
