//! Fuelio's backup CSV (`vehicle-<id>-sync.csv`): sections that each start
//! with a `## Name` line, then a header row, then rows. The `Log` section's
//! headers embed units (`Odo (mi)`, `Odo(km)`, `Fuel (litres)`); dates are
//! `yyyy-MM-dd HH:mm`; `Full`/`Missed` are 0/1; `Price` is the total and
//! `VolumePrice` the unit price. Costs carry a category id resolved through
//! `CostCategories`: service-like ones become service records, the rest expenses.

use csv::StringRecord;

use super::fields::{boolean, datetime, money, number};
use super::{Format, ImportError, Options, Parsed, Record, Row, RowError, row_key};
use crate::fuel::FuelUnit;
use crate::service::ExpenseCategory;
use crate::vehicle::OdometerUnit;

/// A section: its name, header and rows with their line numbers.
pub(crate) struct Section {
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<(usize, StringRecord)>,
}

/// Whether a file is made of `#`-headed sections (Fuelio, Drivvo).
pub fn is_sectioned(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim().trim_matches('"').starts_with('#'))
}

/// Splits a sectioned file: a line starting with `#` or `##` (quoted or not)
/// names a section; the next line is its header; rows follow.
pub(crate) fn sections(text: &str) -> Result<Vec<Section>, ImportError> {
    let mut out: Vec<Section> = Vec::new();
    let mut current: Option<(String, usize, Vec<String>)> = None;
    let lines: Vec<&str> = text.lines().collect();
    let flush = |out: &mut Vec<Section>,
                 cur: Option<(String, usize, Vec<String>)>|
     -> Result<(), ImportError> {
        if let Some((name, first_line, body)) = cur {
            let joined = body.join("\n");
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(joined.as_bytes());
            let header: Vec<String> = reader
                .headers()
                .map_err(|e| ImportError::Csv(e.to_string()))?
                .iter()
                .map(str::to_string)
                .collect();
            let mut rows = Vec::new();
            for (i, rec) in reader.records().enumerate() {
                rows.push((
                    first_line + 1 + i,
                    rec.map_err(|e| ImportError::Csv(e.to_string()))?,
                ));
            }
            out.push(Section { name, header, rows });
        }
        Ok(())
    };
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim().trim_matches('"');
        if t.starts_with('#') {
            let name = t.trim_start_matches('#');
            flush(&mut out, current.take())?;
            current = Some((name.trim().to_string(), i + 2, Vec::new()));
        } else if let Some((_, _, body)) = current.as_mut()
            && !line.trim().is_empty()
        {
            body.push(line.to_string());
        }
    }
    flush(&mut out, current)?;
    Ok(out)
}

/// The header equal to `name` once lower-cased and spaces removed, else the
/// first that starts with it (`odo` matches `Odo (mi)`; `cost` is `Cost`, not `CostTitle`).
fn col(header: &[String], name: &str) -> Option<usize> {
    let norm: Vec<String> = header
        .iter()
        .map(|h| h.to_lowercase().replace(' ', ""))
        .collect();
    norm.iter()
        .position(|h| h == name)
        .or_else(|| norm.iter().position(|h| h.starts_with(name)))
}

pub fn parse(text: &str, options: &Options) -> Result<Parsed, ImportError> {
    let sections = sections(text)?;
    let log = sections.iter().find(|s| s.name.eq_ignore_ascii_case("log"));
    let header = log.map(|s| s.header.clone()).unwrap_or_default();
    let odo_header = header
        .iter()
        .find(|h| h.to_lowercase().replace(' ', "").starts_with("odo"))
        .cloned()
        .unwrap_or_default()
        .to_lowercase();
    let fuel_header = header
        .iter()
        .find(|h| h.to_lowercase().replace(' ', "").starts_with("fuel("))
        .cloned()
        .unwrap_or_default()
        .to_lowercase();
    let distance_unit = if odo_header.contains("(mi") {
        OdometerUnit::Miles
    } else if odo_header.contains("(km") {
        OdometerUnit::Kilometres
    } else {
        options.distance_unit.ok_or(ImportError::NeedsOption {
            what: "distance unit",
            option: "distance_unit",
        })?
    };
    let volume_unit = if fuel_header.contains("litre") || fuel_header.contains("liter") {
        FuelUnit::Litres
    } else if fuel_header.contains("imp") || fuel_header.contains("uk") {
        FuelUnit::UkGallons
    } else if fuel_header.contains("gal") {
        FuelUnit::UsGallons
    } else if fuel_header.contains("kwh") {
        FuelUnit::KilowattHours
    } else {
        options.volume_unit.ok_or(ImportError::NeedsOption {
            what: "volume unit",
            option: "volume_unit",
        })?
    };
    // Fuelio writes its backup with `.` decimals whatever the phone's locale.
    let sep = options.decimal_separator.unwrap_or('.');
    let exp = options.currency_exponent;
    let mut rows = Vec::new();
    let mut errors = Vec::new();

    if let Some(log) = log {
        let h = &log.header;
        let (date, odo, fuel, full, price, notes, missed, volume_price) = (
            col(h, "data"),
            col(h, "odo"),
            col(h, "fuel("),
            col(h, "full"),
            col(h, "price"),
            col(h, "notes"),
            col(h, "missed"),
            col(h, "volumeprice"),
        );
        for (line, rec) in &log.rows {
            let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim();
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
                    err("Data", m);
                    continue;
                }
            };
            let quantity = match number(cell(fuel), sep) {
                Ok(q) if q > 0.0 => q,
                Ok(_) => continue,
                Err(m) => {
                    err("Fuel", m);
                    continue;
                }
            };
            let odometer = match number(cell(odo), sep) {
                Ok(o) => o,
                Err(m) => {
                    err("Odo", m);
                    continue;
                }
            };
            let total = match cell(price) {
                "" | "0" => None,
                p => match money(p, sep, exp) {
                    Ok(v) => Some(v),
                    Err(m) => {
                        err("Price", m);
                        continue;
                    }
                },
            };
            let unit_price = match cell(volume_price) {
                "" | "0" => None,
                p => money(p, sep, exp + 3).ok(),
            };
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
                    unit_price_milli: unit_price
                        .or_else(|| total.map(|t| (t as f64 * 1000.0 / quantity).round() as i64)),
                    full: boolean(cell(full)),
                    missed_previous: boolean(cell(missed)),
                    notes: Some(cell(notes).to_string()).filter(|n| !n.is_empty()),
                },
                key: row_key(Format::Fuelio, &cells),
            });
        }
    }

    let categories: Vec<(String, String)> = sections
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case("costcategories"))
        .map(|s| {
            let (id, name) = (col(&s.header, "costtypeid"), col(&s.header, "name"));
            s.rows
                .iter()
                .map(|(_, r)| {
                    (
                        id.and_then(|i| r.get(i)).unwrap_or("").trim().to_string(),
                        name.and_then(|i| r.get(i))
                            .unwrap_or("")
                            .trim()
                            .to_lowercase(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(costs) = sections
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case("costs"))
    {
        let h = &costs.header;
        let (title, date, odo, type_id, notes, cost, income) = (
            col(h, "costtitle"),
            col(h, "date"),
            col(h, "odo"),
            col(h, "costtypeid"),
            col(h, "notes"),
            col(h, "cost"),
            col(h, "isincome"),
        );
        for (line, rec) in &costs.rows {
            let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("").trim();
            let mut err = |field: &str, message: String| {
                errors.push(RowError {
                    line: *line,
                    field: field.into(),
                    message,
                })
            };
            if boolean(cell(income)) {
                err("isIncome", "income is not a cost; skipped".into());
                continue;
            }
            let on = match datetime(cell(date), options.date_order) {
                Ok(at) => at.date(),
                Err(m) => {
                    err("Date", m);
                    continue;
                }
            };
            let amount = match money(cell(cost), sep, exp) {
                Ok(v) => v,
                Err(m) => {
                    err("Cost", m);
                    continue;
                }
            };
            let category = categories
                .iter()
                .find(|(id, _)| id == cell(type_id))
                .map(|(_, n)| n.as_str())
                .unwrap_or("other");
            let description = Some(cell(title).to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| category.to_string());
            let notes = Some(cell(notes).to_string()).filter(|n| !n.is_empty());
            let record = match category {
                "service" | "maintenance" | "mot" | "tuning" => Record::Service {
                    on,
                    description,
                    total_minor: amount,
                    odometer: number(cell(odo), sep).ok().filter(|o| *o > 0.0),
                    notes,
                },
                other => Record::Expense {
                    on,
                    category: match other {
                        "registration" => ExpenseCategory::Registration,
                        "insurance" => ExpenseCategory::Insurance,
                        "parking" => ExpenseCategory::Parking,
                        "tolls" => ExpenseCategory::Tolls,
                        "tax" => ExpenseCategory::Tax,
                        o if o.contains("fine") || o.contains("ticket") => ExpenseCategory::Fines,
                        _ => ExpenseCategory::Other,
                    },
                    description,
                    amount_minor: amount,
                    notes,
                },
            };
            let cells: Vec<&str> = rec.iter().collect();
            rows.push(Row {
                line: *line,
                vehicle: None,
                record,
                key: row_key(Format::Fuelio, &cells),
            });
        }
    }
    if rows.is_empty() && errors.is_empty() && log.is_none() {
        return Err(ImportError::UnknownFormat(
            "a sectioned file without a Log or Costs section".into(),
        ));
    }
    Ok(Parsed {
        format: Format::Fuelio,
        distance_unit,
        volume_unit,
        rows,
        errors,
    })
}
