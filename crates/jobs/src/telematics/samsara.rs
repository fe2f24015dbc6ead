//! A Samsara-shaped vehicle-stats feed:
//! `GET /fleet/vehicles/stats/feed?types=faultCodes,obdOdometerMeters&after=<cursor>`
//! with a bearer token, paged by `pagination.endCursor` / `hasNextPage`.
//!
//! Each vehicle (`id`, `name`, `externalIds["samsara.vin"]`) carries lists of
//! timed values: `obdOdometerMeters` (`{time, value}`) become odometer
//! readings; each `faultCodes` entry's `j1939` part (`checkEngineLights`
//! `stopIsOn`/`warningIsOn`/`protectIsOn`/`emissionsIsOn`, and
//! `diagnosticTroubleCodes` with `spnId`, `fmiId`, `occurrenceCount`,
//! `txId` = source address) is the ECUs' list of active codes at that time,
//! so it is ingested as one DM1 snapshot per source address; its `obdii` part
//! (`diagnosticTroubleCodes[].confirmedDtcs[].dtcShortCode`) as OBD-II faults.

use std::collections::BTreeMap;

use domain::fault_code::{FaultCode, FaultMessage};
use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps, OC_NOT_AVAILABLE};
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::obd::ObdCode;
use domain::vin::Vin;
use serde_json::Value;
use store::{Connection, ExternalDevice, TelemetryItem, VehicleRef};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Pull, PullError, SyncContext, authorize, json_response};

/// Pages read per sync at most (the rest waits for the next sync).
const MAX_PAGES: usize = 50;

fn lamp(on: Option<bool>) -> Lamp {
    match on {
        Some(true) => Lamp::On,
        Some(false) => Lamp::Off,
        None => Lamp::NotAvailable,
    }
}

fn time_of(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.get("time")?.as_str()?, &Rfc3339).ok()
}

fn j1939_snapshots(vehicle: &VehicleRef, at: OffsetDateTime, j: &Value) -> Vec<TelemetryItem> {
    let lights = j.get("checkEngineLights");
    let light = |k: &str| lamp(lights.and_then(|l| l.get(k)).and_then(Value::as_bool));
    let lamps = Lamps {
        mil: light("emissionsIsOn"),
        red_stop: light("stopIsOn"),
        amber_warning: light("warningIsOn"),
        protect: light("protectIsOn"),
    };
    let mut by_source: BTreeMap<u8, Vec<Dtc>> = BTreeMap::new();
    for d in j
        .get("diagnosticTroubleCodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let num = |k: &str| d.get(k).and_then(Value::as_u64);
        let (Some(spn), Some(fmi)) = (num("spnId"), num("fmiId")) else {
            continue;
        };
        let (Ok(spn), Ok(fmi)) = (u32::try_from(spn), u8::try_from(fmi)) else {
            continue;
        };
        if FaultCode::j1939(spn, fmi, 0).is_err() {
            continue;
        }
        let source = num("txId").and_then(|t| u8::try_from(t).ok()).unwrap_or(0);
        let occurrences = num("occurrenceCount")
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| *n < OC_NOT_AVAILABLE)
            .unwrap_or(OC_NOT_AVAILABLE);
        by_source.entry(source).or_default().push(Dtc {
            spn,
            fmi,
            occurrences,
            legacy_conversion: false,
        });
    }
    by_source
        .into_iter()
        .map(|(source, dtcs)| TelemetryItem::Dm {
            vehicle: vehicle.clone(),
            message: FaultMessage::Dm1,
            source_address: source,
            observed_at: at,
            decoded: DiagnosticMessage { lamps, dtcs },
        })
        .collect()
}

fn obd_faults(vehicle: &VehicleRef, at: OffsetDateTime, o: &Value) -> Vec<TelemetryItem> {
    let mil = o
        .get("checkEngineLightIsOn")
        .and_then(Value::as_bool)
        .map_or(Lamp::NotAvailable, |on| lamp(Some(on)));
    o.get("diagnosticTroubleCodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|ecu| {
            ecu.get("confirmedDtcs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|d| ObdCode::parse(d.get("dtcShortCode")?.as_str()?).ok())
        .map(|code| TelemetryItem::Fault {
            vehicle: vehicle.clone(),
            code: FaultCode::Obd(code),
            observed_at: at,
            occurrences: None,
            lamps: Lamps {
                mil,
                red_stop: Lamp::NotAvailable,
                amber_warning: Lamp::NotAvailable,
                protect: Lamp::NotAvailable,
            },
        })
        .collect()
}

pub(crate) async fn pull(
    ctx: &SyncContext,
    conn: &Connection,
    creds: &Value,
) -> Result<Pull, PullError> {
    let base = conn.base_url.trim_end_matches('/');
    let mut pull = Pull {
        next_cursor: conn.cursor.clone(),
        ..Pull::default()
    };
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let mut req = authorize(
            ctx.http.get(format!("{base}/fleet/vehicles/stats/feed")),
            creds,
        )
        .header("accept", "application/json")
        .query(&[("types", "faultCodes,obdOdometerMeters")]);
        if let Some(after) = &pull.next_cursor {
            req = req.query(&[("after", after)]);
        }
        let page = json_response(req.send().await?).await?;
        let data = page
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| PullError("the feed page has no `data` list".into()))?;
        for v in data {
            let Some(id) = v.get("id").and_then(Value::as_str) else {
                continue;
            };
            let vehicle = VehicleRef::External {
                connection: conn.id,
                external_id: id.to_string(),
            };
            if seen.insert(id.to_string()) {
                pull.devices.push(ExternalDevice {
                    external_id: id.to_string(),
                    vin: v
                        .get("externalIds")
                        .and_then(|e| e.get("samsara.vin"))
                        .and_then(Value::as_str)
                        .and_then(|s| Vin::parse(s).ok()),
                    name: v.get("name").and_then(Value::as_str).map(str::to_string),
                });
            }
            for o in v
                .get("obdOdometerMeters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(at), Some(m)) = (time_of(o), o.get("value").and_then(Value::as_f64))
                else {
                    continue;
                };
                if let Ok(value) =
                    meter_value(MeterKind::Odometer, m / 1000.0, MeterUnit::Kilometres)
                {
                    pull.items.push(TelemetryItem::Reading {
                        vehicle: vehicle.clone(),
                        kind: MeterKind::Odometer,
                        read_at: at,
                        value,
                    });
                }
            }
            for f in v
                .get("faultCodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(at) = time_of(f) else { continue };
                if let Some(j) = f.get("j1939") {
                    pull.items.extend(j1939_snapshots(&vehicle, at, j));
                }
                if let Some(o) = f.get("obdii") {
                    pull.items.extend(obd_faults(&vehicle, at, o));
                }
            }
        }
        let pagination = page.get("pagination");
        if let Some(end) = pagination
            .and_then(|p| p.get("endCursor"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            pull.next_cursor = Some(end.to_string());
        }
        let more = pagination
            .and_then(|p| p.get("hasNextPage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !more {
            break;
        }
    }
    Ok(pull)
}
