//! Traccar (REST API): `GET /api/devices`, then per device
//! `GET /api/positions?deviceId=…&from=…&to=…` (ISO 8601 times), with a
//! bearer token or basic authentication.
//!
//! From each position's `attributes`: `odometer` (metres; `obdOdometer` when
//! absent), `hours` (milliseconds of engine time), `dtcs` (OBD-II codes,
//! space- or comma-separated, or a list) and `vin`. Positions arrive every
//! few seconds; readings and codes are kept at most once per
//! `sample_minutes` (setting, default 15) per device, plus the latest.
//!
//! The cursor is the end of the last window pulled; the first sync reaches
//! back `initial_days` (setting, default 7).

use domain::fault_code::{FaultCode, LAMPS_OFF};
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::obd::ObdCode;
use domain::vin::Vin;
use serde_json::Value;
use store::{Connection, ExternalDevice, TelemetryItem, VehicleRef};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Pull, PullError, SyncContext, authorize, json_response};

fn setting(conn: &Connection, key: &str, default: i64) -> i64 {
    conn.settings
        .get(key)
        .and_then(Value::as_i64)
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn codes(value: &Value) -> Vec<ObdCode> {
    let texts: Vec<String> = match value {
        Value::String(s) => s
            .split(|c: char| c.is_whitespace() || c == ',')
            .map(str::to_string)
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    texts
        .iter()
        .filter(|t| !t.trim().is_empty())
        .filter_map(|t| ObdCode::parse(t).ok())
        .collect()
}

pub(crate) async fn pull(
    ctx: &SyncContext,
    conn: &Connection,
    creds: &Value,
) -> Result<Pull, PullError> {
    let base = conn.base_url.trim_end_matches('/');
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let from = conn
        .cursor
        .as_deref()
        .and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok())
        .unwrap_or(now - time::Duration::days(setting(conn, "initial_days", 7)));
    let sample = time::Duration::minutes(setting(conn, "sample_minutes", 15));
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();

    let devices = json_response(
        authorize(ctx.http.get(format!("{base}/api/devices")), creds)
            .header("accept", "application/json")
            .send()
            .await?,
    )
    .await?;
    let devices = devices
        .as_array()
        .ok_or_else(|| PullError("/api/devices did not return a list".into()))?;

    let mut pull = Pull {
        next_cursor: Some(fmt(now)),
        ..Pull::default()
    };
    for device in devices {
        let Some(id) = device.get("id").and_then(Value::as_i64) else {
            continue;
        };
        let external_id = id.to_string();
        let positions = json_response(
            authorize(ctx.http.get(format!("{base}/api/positions")), creds)
                .header("accept", "application/json")
                .query(&[
                    ("deviceId", external_id.clone()),
                    ("from", fmt(from)),
                    ("to", fmt(now)),
                ])
                .send()
                .await?,
        )
        .await?;
        let mut positions: Vec<(OffsetDateTime, &Value)> = positions
            .as_array()
            .ok_or_else(|| PullError("/api/positions did not return a list".into()))?
            .iter()
            .filter_map(|p| {
                let at = OffsetDateTime::parse(p.get("fixTime")?.as_str()?, &Rfc3339).ok()?;
                Some((at, p.get("attributes")?))
            })
            .filter(|(at, _)| *at > from && *at <= now)
            .collect();
        positions.sort_by_key(|(at, _)| *at);
        let vehicle = || VehicleRef::External {
            connection: conn.id,
            external_id: external_id.clone(),
        };
        let mut vin = None;
        let mut kept: [Option<OffsetDateTime>; 3] = [None; 3];
        let last = positions.len().saturating_sub(1);
        for (i, (at, attrs)) in positions.iter().enumerate() {
            if let Some(v) = attrs.get("vin").and_then(Value::as_str) {
                vin = Vin::parse(v).ok().or(vin);
            }
            // Keep a sample per kind at most every `sample`, and the latest.
            let mut due = |slot: usize| {
                let keep = i == last || kept[slot].is_none_or(|k| *at - k >= sample);
                if keep {
                    kept[slot] = Some(*at);
                }
                keep
            };
            let metres = attrs
                .get("odometer")
                .or_else(|| attrs.get("obdOdometer"))
                .and_then(Value::as_f64);
            if let Some(m) = metres.filter(|m| *m > 0.0)
                && due(0)
                && let Ok(value) =
                    meter_value(MeterKind::Odometer, m / 1000.0, MeterUnit::Kilometres)
            {
                pull.items.push(TelemetryItem::Reading {
                    vehicle: vehicle(),
                    kind: MeterKind::Odometer,
                    read_at: *at,
                    value,
                });
            }
            if let Some(ms) = attrs
                .get("hours")
                .and_then(Value::as_f64)
                .filter(|h| *h > 0.0)
                && due(1)
                && let Ok(value) = meter_value(MeterKind::Hours, ms / 3_600_000.0, MeterUnit::Hours)
            {
                pull.items.push(TelemetryItem::Reading {
                    vehicle: vehicle(),
                    kind: MeterKind::Hours,
                    read_at: *at,
                    value,
                });
            }
            let dtcs = attrs.get("dtcs").map(codes).unwrap_or_default();
            if !dtcs.is_empty() && due(2) {
                for code in dtcs {
                    pull.items.push(TelemetryItem::Fault {
                        vehicle: vehicle(),
                        code: FaultCode::Obd(code),
                        observed_at: *at,
                        occurrences: None,
                        lamps: LAMPS_OFF,
                    });
                }
            }
        }
        pull.devices.push(ExternalDevice {
            external_id,
            vin,
            name: device
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    Ok(pull)
}
