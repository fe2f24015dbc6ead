//! The API's handlers, one module per resource.

pub mod audit;
pub mod documents;
pub mod export_json;
pub mod exports;
pub mod fault_rules;
pub mod faults;
pub mod fleet;
pub mod fuel;
pub mod imports;
pub mod instance;
pub mod members;
pub mod meters;
pub mod reports;
pub mod schedules;
pub mod service;
pub mod session;
pub mod summary;
pub mod system;
pub mod telematics;
pub mod telemetry;
pub mod tenant;
pub mod tokens;
pub mod vehicles;
pub mod vin;
