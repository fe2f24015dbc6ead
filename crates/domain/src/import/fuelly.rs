//! Fuelly's web export: one CSV for all vehicles, units named by the header
//! (`miles`/`gallons`/`mpg` or `km`/`litres`/`l/100km`), dates month-first,
//! `price` per unit, `.` as decimal separator.

use csv::StringRecord;

use super::fields::{DateOrder, boolean, column, datetime, money, number};
use super::{Format, ImportError, Options, Parsed, Record, Row, RowError, row_key};
use crate::fuel::FuelUnit;
use crate::vehicle::OdometerUnit;

pub fn parse(
    header: &[String],
    records: &[(usize, StringRecord)],
    options: &Options,
) -> Result<Parsed, ImportError> {
    let distance_unit = if column(header, &["miles"]).is_some() {
        OdometerUnit::Miles
    } else if column(header, &["km", "kilometers", "kilometres"]).is_some() {
        OdometerUnit::Kilometres
    } else {
        options.distance_unit.ok_or(ImportError::NeedsOption {
            what: "distance unit",
            option: "distance_unit",
        })?
    };
    let volume_unit = if column(header, &["gallons"]).is_some() {
        // Fuelly's gallons are US gallons unless the user says imperial.
        options
            .volume_unit
            .filter(|u| *u == FuelUnit::UkGallons)
            .unwrap_or(FuelUnit::UsGallons)
    } else if column(header, &["litres", "liters"]).is_some() {
        FuelUnit::Litres
    } else {
        options.volume_unit.ok_or(ImportError::NeedsOption {
            what: "volume unit",
            option: "volume_unit",
        })?
    };
    let col = |names: &[&str]| column(header, names);
    let car = col(&["car_name"]);
    let odometer = col(&["odometer"]);
    let trip = col(&["miles", "km", "kilometers", "kilometres"]);
    let quantity = col(&["gallons", "litres", "liters"]);
    let price = col(&["price"]);
    let date = col(&["fuelup_date"]);
    let notes = col(&["notes"]);
    let missed = col(&["missed_fuelup"]);
    let partial = col(&["partial_fuelup"]);

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    // Older exports have no odometer: accumulate trip distances per car.
    let mut accumulated: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for (line, rec) in records {
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim();
        let mut err = |field: &str, message: String| {
            errors.push(RowError {
                line: *line,
                field: field.into(),
                message,
            })
        };
        let qty = match number(cell(quantity), '.') {
            Ok(q) if q > 0.0 => q,
            Ok(_) => continue, // zero-fuel rows carry nothing (as LubeLogger skips them)
            Err(m) => {
                err("quantity", m);
                continue;
            }
        };
        let at = match datetime(cell(date), Some(DateOrder::Mdy)) {
            Ok(at) => at,
            Err(m) => {
                err("fuelup_date", m);
                continue;
            }
        };
        let car_name = cell(car).to_string();
        let odo = match odometer {
            Some(_) => number(cell(odometer), '.'),
            None => number(cell(trip), '.').map(|d| {
                let total = accumulated.entry(car_name.clone()).or_default();
                *total += d;
                *total
            }),
        };
        let odo = match odo {
            Ok(o) if o >= 0.0 => o,
            Ok(_) => {
                err("odometer", "must not be negative".into());
                continue;
            }
            Err(m) => {
                err("odometer", m);
                continue;
            }
        };
        let unit_price_milli = match cell(price) {
            "" => None,
            p => match money(p, '.', options.currency_exponent + 3) {
                Ok(v) => Some(v),
                Err(m) => {
                    err("price", m);
                    continue;
                }
            },
        };
        let total_minor = unit_price_milli.map(|p| (qty * p as f64 / 1000.0).round() as i64);
        let cells: Vec<&str> = rec.iter().collect();
        rows.push(Row {
            line: *line,
            vehicle: Some(car_name).filter(|n| !n.is_empty()),
            record: Record::Fuel {
                at,
                odometer: odo,
                quantity: qty,
                total_minor,
                unit_price_milli,
                full: !boolean(cell(partial)),
                missed_previous: boolean(cell(missed)),
                notes: Some(cell(notes).to_string()).filter(|n| !n.is_empty()),
            },
            key: row_key(Format::Fuelly, &cells),
        });
    }
    Ok(Parsed {
        format: Format::Fuelly,
        distance_unit,
        volume_unit,
        rows,
        errors,
    })
}
