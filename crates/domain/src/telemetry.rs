//! Telemetry items — meter readings, single faults and raw DM1/DM2 payloads
//! — as they arrive in a batch (`POST /api/v1/telemetry`, a connection's
//! webhook, the Motorpool feed), and their checked form.
//!
//! Each item is read on its own, so one malformed item is reported (with its
//! field) without failing the others.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::FieldError;
use crate::fault_code::{FaultCode, FaultMessage, LAMPS_OFF};
use crate::ids::VehicleId;
use crate::j1939::log_reader::parse_hex;
use crate::j1939::{DiagnosticMessage, Lamp, Lamps, OC_NOT_AVAILABLE, decode_dm};
use crate::meter::{MeterKind, MeterUnit, MeterValue, meter_value};
use crate::obd::ObdCode;
use crate::vin::Vin;

/// Longest DM payload: a full BAM transport message.
const MAX_DM_BYTES: usize = 1785;

/// How a telemetry item names its vehicle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VehicleRef {
    Id(VehicleId),
    Vin(Vin),
    /// Must match exactly one vehicle of the tenant.
    UnitNumber(String),
    /// A provider's device id, linked to a vehicle by a telematics connection.
    External {
        connection: Uuid,
        external_id: String,
    },
}

/// One item of a telemetry batch, already checked field by field.
#[derive(Debug, Clone, PartialEq)]
pub enum TelemetryItem {
    Reading {
        vehicle: VehicleRef,
        kind: MeterKind,
        read_at: OffsetDateTime,
        value: MeterValue,
    },
    /// One fault reported on its own.
    Fault {
        vehicle: VehicleRef,
        code: FaultCode,
        observed_at: OffsetDateTime,
        occurrences: Option<u8>,
        lamps: Lamps,
    },
    /// A decoded DM1 (the ECU's complete active list) or DM2 message.
    Dm {
        vehicle: VehicleRef,
        message: FaultMessage,
        source_address: u8,
        observed_at: OffsetDateTime,
        decoded: DiagnosticMessage,
    },
}

impl TelemetryItem {
    /// The vehicle the item names.
    pub fn vehicle(&self) -> &VehicleRef {
        match self {
            Self::Reading { vehicle, .. }
            | Self::Fault { vehicle, .. }
            | Self::Dm { vehicle, .. } => vehicle,
        }
    }

    /// When the reading was taken or the fault seen.
    pub fn observed_at(&self) -> OffsetDateTime {
        match self {
            Self::Reading { read_at, .. } => *read_at,
            Self::Fault { observed_at, .. } | Self::Dm { observed_at, .. } => *observed_at,
        }
    }
}

/// One item; `type` says which. Every item names its vehicle with exactly
/// one of `vehicle_id`, `vin` or `unit_number`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TelemetryItemBody {
    /// An odometer or engine-hour reading (recorded with source `telematics`).
    Reading(ReadingItem),
    /// One fault: a J1939 SPN/FMI (with the reporting source address) or an
    /// OBD-II code.
    Fault(FaultItem),
    /// A raw DM1 payload: the ECU's complete list of active codes; codes it
    /// no longer lists count towards going inactive.
    Dm1(DmItem),
    /// A raw DM2 payload (previously active codes).
    Dm2(DmItem),
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReadingItem {
    pub vehicle_id: Option<VehicleId>,
    pub vin: Option<String>,
    pub unit_number: Option<String>,
    /// On a connection's webhook only: the provider's device id.
    pub external_id: Option<String>,
    pub kind: MeterKind,
    pub value: f64,
    /// `mi`, `km` or `h` (required: telemetry states its unit).
    pub unit: MeterUnit,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FaultItem {
    pub vehicle_id: Option<VehicleId>,
    pub vin: Option<String>,
    pub unit_number: Option<String>,
    /// On a connection's webhook only: the provider's device id.
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    /// J1939: 0–524,287 (with `fmi`).
    pub spn: Option<u32>,
    /// J1939: 0–31.
    pub fmi: Option<u8>,
    /// J1939: the reporting ECU (default 0, engine #1).
    pub source_address: Option<u8>,
    /// OBD-II instead of SPN/FMI: `P0420`.
    pub obd_code: Option<String>,
    /// 0–126; 127 or absent: not available.
    pub occurrences: Option<u8>,
    /// Absent lamps are off.
    pub lamps: Option<LampsBody>,
}

/// Lamp states (`off`, `on`, `slow_flash`, `fast_flash`, `not_available`).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LampsBody {
    pub mil: Option<Lamp>,
    pub red_stop: Option<Lamp>,
    pub amber_warning: Option<Lamp>,
    pub protect: Option<Lamp>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DmItem {
    pub vehicle_id: Option<VehicleId>,
    pub vin: Option<String>,
    pub unit_number: Option<String>,
    /// On a connection's webhook only: the provider's device id.
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    /// The ECU that sent it.
    pub source_address: u8,
    /// The payload in hex (`04FF6E000005FFFF`): 8 bytes for a single
    /// frame, or a reassembled transport message.
    pub payload: String,
}

type ItemErrors = Vec<FieldError>;

fn problem(prefix: &str, field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(format!("{prefix}{field}"), message)
}

/// Where a batch came in: the external ids it may use belong to a connection.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    /// The telematics connection whose device ids `external_id` names, if any.
    pub connection: Option<uuid::Uuid>,
}

fn vehicle_ref(
    prefix: &str,
    door: Door,
    id: Option<VehicleId>,
    vin: Option<String>,
    unit: Option<String>,
    external: Option<String>,
) -> Result<VehicleRef, ItemErrors> {
    match (id, vin, unit, external) {
        (Some(id), None, None, None) => Ok(VehicleRef::Id(id)),
        (None, Some(vin), None, None) => Vin::parse(&vin)
            .map(VehicleRef::Vin)
            .map_err(|e| vec![problem(prefix, "vin", e.to_string())]),
        (None, None, Some(unit), None) if !unit.trim().is_empty() => {
            Ok(VehicleRef::UnitNumber(unit.trim().to_string()))
        }
        (None, None, None, Some(external_id)) => match door.connection {
            Some(connection) => Ok(VehicleRef::External {
                connection,
                external_id,
            }),
            None => Err(vec![problem(
                prefix,
                "external_id",
                "is accepted only on a telematics connection's webhook",
            )]),
        },
        _ => Err(vec![problem(
            prefix,
            "vehicle_id",
            "name the vehicle with exactly one of vehicle_id, vin, unit_number (or external_id on a webhook)",
        )]),
    }
}

/// Telemetry from before 2000 or from more than five minutes ahead is a
/// clock error, not data (and would open partitions decades away).
fn check_time(prefix: &str, field: &str, at: OffsetDateTime) -> Result<(), ItemErrors> {
    let earliest = time::macros::datetime!(2000-01-01 0:00 UTC);
    if at < earliest {
        return Err(vec![problem(prefix, field, "is before the year 2000")]);
    }
    if at > OffsetDateTime::now_utc() + time::Duration::minutes(5) {
        return Err(vec![problem(prefix, field, "is in the future")]);
    }
    Ok(())
}

/// Reads one raw item (JSON, as sent) into a telemetry item, or the fields
/// at fault, named `items[i].field`.
pub fn parse_item(index: usize, raw: Value, door: Door) -> Result<TelemetryItem, ItemErrors> {
    let prefix = format!("items[{index}].");
    let body: TelemetryItemBody = serde_json::from_value(raw)
        .map_err(|e| vec![FieldError::new(format!("items[{index}]"), e.to_string())])?;
    match body {
        TelemetryItemBody::Reading(r) => {
            let vehicle = vehicle_ref(
                &prefix,
                door,
                r.vehicle_id,
                r.vin,
                r.unit_number,
                r.external_id,
            )?;
            check_time(&prefix, "read_at", r.read_at)?;
            let value = meter_value(r.kind, r.value, r.unit)
                .map_err(|m| vec![problem(&prefix, "value", m)])?;
            Ok(TelemetryItem::Reading {
                vehicle,
                kind: r.kind,
                read_at: r.read_at,
                value,
            })
        }
        TelemetryItemBody::Fault(f) => {
            let vehicle = vehicle_ref(
                &prefix,
                door,
                f.vehicle_id,
                f.vin,
                f.unit_number,
                f.external_id,
            )?;
            check_time(&prefix, "observed_at", f.observed_at)?;
            let code = match (f.spn, f.fmi, f.obd_code) {
                (Some(spn), Some(fmi), None) => {
                    FaultCode::j1939(spn, fmi, f.source_address.unwrap_or(0))
                        .map_err(|(field, m)| vec![problem(&prefix, field, m)])?
                }
                (None, None, Some(code)) if f.source_address.is_none() => ObdCode::parse(&code)
                    .map(FaultCode::Obd)
                    .map_err(|m| vec![problem(&prefix, "obd_code", m)])?,
                _ => {
                    return Err(vec![problem(
                        &prefix,
                        "spn",
                        "give either spn and fmi (and source_address) or obd_code",
                    )]);
                }
            };
            if f.occurrences.is_some_and(|n| n > OC_NOT_AVAILABLE) {
                return Err(vec![problem(&prefix, "occurrences", "must be 0–127")]);
            }
            let lamps = f.lamps.map_or(LAMPS_OFF, |l| Lamps {
                mil: l.mil.unwrap_or(Lamp::Off),
                red_stop: l.red_stop.unwrap_or(Lamp::Off),
                amber_warning: l.amber_warning.unwrap_or(Lamp::Off),
                protect: l.protect.unwrap_or(Lamp::Off),
            });
            Ok(TelemetryItem::Fault {
                vehicle,
                code,
                observed_at: f.observed_at,
                occurrences: f.occurrences.filter(|n| *n < OC_NOT_AVAILABLE),
                lamps,
            })
        }
        TelemetryItemBody::Dm1(d) => parse_dm(&prefix, door, FaultMessage::Dm1, d),
        TelemetryItemBody::Dm2(d) => parse_dm(&prefix, door, FaultMessage::Dm2, d),
    }
}

fn parse_dm(
    prefix: &str,
    door: Door,
    message: FaultMessage,
    d: DmItem,
) -> Result<TelemetryItem, ItemErrors> {
    let vehicle = vehicle_ref(
        prefix,
        door,
        d.vehicle_id,
        d.vin,
        d.unit_number,
        d.external_id,
    )?;
    check_time(prefix, "observed_at", d.observed_at)?;
    let bytes =
        parse_hex(&d.payload, MAX_DM_BYTES).map_err(|m| vec![problem(prefix, "payload", m)])?;
    let decoded = decode_dm(&bytes).map_err(|e| vec![problem(prefix, "payload", e.to_string())])?;
    Ok(TelemetryItem::Dm {
        vehicle,
        message,
        source_address: d.source_address,
        observed_at: d.observed_at,
        decoded,
    })
}
