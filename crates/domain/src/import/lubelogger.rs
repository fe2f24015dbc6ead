//! LubeLogger's CSV exports (fuel, service/repair/upgrade, odometer, tax).
//! LubeLogger writes numbers, money and dates in its server's locale and
//! never names its units, so distance and volume units, the decimal
//! separator and (for non-ISO dates) the date order must be given.

use csv::StringRecord;

use super::fields::{boolean, column, datetime, decimal, money, number};
use super::{Format, ImportError, Options, Parsed, Record, Row, RowError, row_key};
use crate::service::ExpenseCategory;

pub fn parse(
    format: Format,
    header: &[String],
    records: &[(usize, StringRecord)],
    options: &Options,
) -> Result<Parsed, ImportError> {
    let distance_unit = options.distance_unit.ok_or(ImportError::NeedsOption {
        what: "distance unit",
        option: "distance_unit",
    })?;
    let volume_unit = match format {
        Format::LubeLoggerFuel => options.volume_unit.ok_or(ImportError::NeedsOption {
            what: "volume unit",
            option: "volume_unit",
        })?,
        _ => options.volume_unit.unwrap_or(crate::fuel::FuelUnit::Litres),
    };
    let sep = decimal(options.decimal_separator)?;
    let exp = options.currency_exponent;
    let col = |names: &[&str]| column(header, names);
    let date = col(&["date", "fuelup_date"]);
    let odometer = col(&["odometer", "odo"]);
    let quantity = col(&[
        "fuelconsumed",
        "gallons",
        "liters",
        "litres",
        "consumption",
        "quantity",
        "qty",
    ]);
    let cost = col(&["cost", "total cost", "totalcost", "total price"]);
    let price = col(&["price"]);
    let full = col(&["isfilltofull", "filled up"]);
    let partial = col(&["partial_fuelup", "partial tank", "partial_fill"]);
    let missed = col(&[
        "missedfuelup",
        "missed_fuelup",
        "missed fill up",
        "missed_fill",
    ]);
    let notes = col(&["notes", "note"]);
    let description = col(&["description"]);

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (line, rec) in records {
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim();
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut err = |field: &str, message: String| {
            errors.push(RowError {
                line: *line,
                field: field.into(),
                message,
            })
        };
        let at = match datetime(cell(date), options.date_order) {
            Ok(at) => at,
            Err(m) => {
                err("date", m);
                continue;
            }
        };
        let text = |i: Option<usize>| Some(cell(i).to_string()).filter(|s| !s.is_empty());
        let record = match format {
            Format::LubeLoggerFuel => {
                let qty = match number(cell(quantity), sep) {
                    Ok(q) if q > 0.0 => q,
                    Ok(_) => continue,
                    Err(m) => {
                        err("fuelconsumed", m);
                        continue;
                    }
                };
                let odo = match number(cell(odometer), sep) {
                    Ok(o) => o,
                    Err(m) => {
                        err("odometer", m);
                        continue;
                    }
                };
                let total = match (cell(cost), cell(price)) {
                    ("", "") => None,
                    ("", p) => match money(p, sep, exp + 3) {
                        Ok(p) => Some((qty * p as f64 / 1000.0).round() as i64),
                        Err(m) => {
                            err("price", m);
                            continue;
                        }
                    },
                    (c, _) => match money(c, sep, exp) {
                        Ok(c) => Some(c),
                        Err(m) => {
                            err("cost", m);
                            continue;
                        }
                    },
                };
                let is_full = match (full, partial) {
                    (Some(_), _) => boolean(cell(full)),
                    (None, Some(_)) => !boolean(cell(partial)),
                    (None, None) => true,
                };
                Record::Fuel {
                    at,
                    odometer: odo,
                    quantity: qty,
                    total_minor: total,
                    unit_price_milli: total.map(|t| (t as f64 * 1000.0 / qty).round() as i64),
                    full: is_full,
                    missed_previous: boolean(cell(missed)),
                    notes: text(notes),
                }
            }
            Format::LubeLoggerService | Format::LubeLoggerTax => {
                let amount = match money(cell(cost), sep, exp) {
                    Ok(c) => c,
                    Err(m) => {
                        err("cost", m);
                        continue;
                    }
                };
                let desc = cell(description).to_string();
                if desc.is_empty() {
                    err("description", "is empty".into());
                    continue;
                }
                if format == Format::LubeLoggerTax {
                    Record::Expense {
                        on: at.date(),
                        category: ExpenseCategory::Tax,
                        description: desc,
                        amount_minor: amount,
                        notes: text(notes),
                    }
                } else {
                    let odo = match cell(odometer) {
                        "" | "0" => None,
                        o => match number(o, sep) {
                            Ok(v) => Some(v),
                            Err(m) => {
                                err("odometer", m);
                                continue;
                            }
                        },
                    };
                    Record::Service {
                        on: at.date(),
                        description: desc,
                        total_minor: amount,
                        odometer: odo,
                        notes: text(notes),
                    }
                }
            }
            Format::LubeLoggerOdometer => match number(cell(odometer), sep) {
                Ok(o) => Record::Odometer {
                    at,
                    odometer: o,
                    notes: text(notes),
                },
                Err(m) => {
                    err("odometer", m);
                    continue;
                }
            },
            Format::Fuelly | Format::Fuelio | Format::Drivvo | Format::Generic => {
                return Err(ImportError::UnknownFormat("not a LubeLogger file".into()));
            }
        };
        let cells: Vec<&str> = rec.iter().collect();
        rows.push(Row {
            line: *line,
            vehicle: None,
            record,
            key: row_key(format, &cells),
        });
    }
    Ok(Parsed {
        format,
        distance_unit,
        volume_unit,
        rows,
        errors,
    })
}
