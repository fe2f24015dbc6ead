//! Drivvo's CSV export: `#`-headed sections (`##Refuelling`, `##Service`,
//! `##Expense`, localised as `#Reabastecimiento`, `#Servicio` …) read by
//! position, because the headers are translated. The odometer header names
//! its unit (`Odometer (km)`, `Odômetro (mi)`); the volume unit is named by
//! the quantity or price header (`(liters)`, `Price / L`, `(gal)`) or given.
//! Drivvo writes numbers and dates in the phone's locale, so the decimal
//! separator (and the date order, unless dates are ISO) must be given.

use super::fields::{boolean, datetime, decimal, money, number};
use super::fuelio::Section;
use super::{Format, ImportError, Options, Parsed, Record, Row, RowError, row_key};
use crate::fuel::FuelUnit;
use crate::service::ExpenseCategory;
use crate::vehicle::OdometerUnit;

fn named(sections: &[Section], names: &[&str]) -> Option<usize> {
    sections.iter().position(|s| {
        let n = s.name.trim().to_lowercase();
        names.iter().any(|w| n == *w)
    })
}

/// Whether the sections are Drivvo's (rather than Fuelio's).
pub(crate) fn is_drivvo(sections: &[Section]) -> bool {
    named(
        sections,
        &[
            "refuelling",
            "reabastecimiento",
            "abastecimento",
            "optankning",
            "service",
            "servicio",
            "serviço",
            "expense",
            "despesa",
            "gasto",
        ],
    )
    .is_some()
        && named(sections, &["log"]).is_none()
}

pub(crate) fn parse(sections: &[Section], options: &Options) -> Result<Parsed, ImportError> {
    let sep = decimal(options.decimal_separator)?;
    let exp = options.currency_exponent;
    let fuel = named(
        sections,
        &[
            "refuelling",
            "reabastecimiento",
            "abastecimento",
            "optankning",
        ],
    )
    .map(|i| &sections[i]);
    let all_headers: String = sections
        .iter()
        .flat_map(|s| s.header.iter())
        .map(|h| h.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let first = |s: Option<&Section>| {
        s.and_then(|s| s.header.first())
            .map(|h| h.to_lowercase())
            .unwrap_or_default()
    };
    let odo = first(fuel);
    let distance_unit = if odo.contains("(mi") {
        OdometerUnit::Miles
    } else if odo.contains("(km") || all_headers.contains("(km)") {
        OdometerUnit::Kilometres
    } else {
        options.distance_unit.ok_or(ImportError::NeedsOption {
            what: "distance unit",
            option: "distance_unit",
        })?
    };
    let volume_unit = if all_headers.contains("liter")
        || all_headers.contains("litro")
        || all_headers.contains("/ l")
        || all_headers.contains("/l")
    {
        FuelUnit::Litres
    } else if all_headers.contains("gal") {
        options
            .volume_unit
            .filter(|u| *u == FuelUnit::UkGallons)
            .unwrap_or(FuelUnit::UsGallons)
    } else {
        options.volume_unit.ok_or(ImportError::NeedsOption {
            what: "volume unit",
            option: "volume_unit",
        })?
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    if let Some(fuel) = fuel {
        for (line, rec) in &fuel.rows {
            let cell = |i: usize| rec.get(i).unwrap_or("").trim();
            let mut err = |field: &str, message: String| {
                errors.push(RowError {
                    line: *line,
                    field: field.into(),
                    message,
                })
            };
            let (odometer, at, quantity) = match (
                number(cell(0), sep),
                datetime(cell(1), options.date_order),
                number(cell(5), sep),
            ) {
                (Err(m), _, _) => {
                    err("odometer", m);
                    continue;
                }
                (_, Err(m), _) => {
                    err("date", m);
                    continue;
                }
                (_, _, Err(m)) => {
                    err("volume", m);
                    continue;
                }
                (Ok(o), Ok(a), Ok(q)) => (o, a, q),
            };
            if quantity <= 0.0 {
                continue;
            }
            let total = match cell(4) {
                "" => None,
                t => match money(t, sep, exp) {
                    Ok(v) => Some(v),
                    Err(m) => {
                        err("total", m);
                        continue;
                    }
                },
            };
            let unit_price = money(cell(3), sep, exp + 3).ok().filter(|p| *p > 0);
            let cells: Vec<&str> = rec.iter().collect();
            rows.push(Row {
                line: *line,
                vehicle: None,
                record: Record::Fuel {
                    at,
                    odometer,
                    quantity,
                    total_minor: total.or_else(|| {
                        unit_price.map(|p| (quantity * p as f64 / 1000.0).round() as i64)
                    }),
                    unit_price_milli: unit_price,
                    full: boolean(cell(6)),
                    missed_previous: false,
                    notes: Some(cell(18).to_string()).filter(|n| !n.is_empty()),
                },
                key: row_key(Format::Drivvo, &cells),
            });
        }
    }
    for (names, service) in [
        (&["service", "servicio", "serviço"][..], true),
        (&["expense", "despesa", "gasto"][..], false),
    ] {
        let Some(section) = named(sections, names).map(|i| &sections[i]) else {
            continue;
        };
        for (line, rec) in &section.rows {
            let cell = |i: usize| rec.get(i).unwrap_or("").trim();
            let mut err = |field: &str, message: String| {
                errors.push(RowError {
                    line: *line,
                    field: field.into(),
                    message,
                })
            };
            let on = match datetime(cell(1), options.date_order) {
                Ok(at) => at.date(),
                Err(m) => {
                    err("date", m);
                    continue;
                }
            };
            let amount = match money(cell(2), sep, exp) {
                Ok(v) => v,
                Err(m) => {
                    err("cost", m);
                    continue;
                }
            };
            let description = Some(cell(3).to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| {
                    if service {
                        "Service".into()
                    } else {
                        "Expense".into()
                    }
                });
            let notes = Some(cell(6).to_string()).filter(|n| !n.is_empty());
            let record = if service {
                Record::Service {
                    on,
                    description,
                    total_minor: amount,
                    odometer: number(cell(0), sep).ok().filter(|o| *o > 0.0),
                    notes,
                }
            } else {
                Record::Expense {
                    on,
                    category: ExpenseCategory::Other,
                    description,
                    amount_minor: amount,
                    notes,
                }
            };
            let cells: Vec<&str> = rec.iter().collect();
            rows.push(Row {
                line: *line,
                vehicle: None,
                record,
                key: row_key(Format::Drivvo, &cells),
            });
        }
    }
    Ok(Parsed {
        format: Format::Drivvo,
        distance_unit,
        volume_unit,
        rows,
        errors,
    })
}
