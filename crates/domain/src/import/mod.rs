//! Reading the files of the apps users migrate from (see
//! `shared/reference/import-formats.md`): format detection from the header,
//! per-row parsing with line numbers, and nothing guessed silently — units,
//! decimal separator and date order come from the file where it states them,
//! otherwise from explicit options, otherwise the import stops and says which
//! option is needed.

mod drivvo;
mod fields;
mod fuelio;
mod fuelly;
mod lubelogger;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use crate::fuel::FuelUnit;
use crate::service::ExpenseCategory;
use crate::vehicle::OdometerUnit;

pub use fields::DateOrder;

text_enum!(
    /// A file format we read.
    Format {
        /// Fuelly's web export (one CSV for all vehicles).
        Fuelly => "fuelly",
        /// Fuelio's sectioned backup CSV (log and costs).
        Fuelio => "fuelio",
        /// Drivvo's sectioned CSV export (refuelling, service, expense).
        Drivvo => "drivvo",
        /// Any CSV, with the user's column mapping.
        Generic => "generic",
        /// LubeLogger's fuel (Gas) export.
        LubeLoggerFuel => "lubelogger_fuel",
        /// LubeLogger's service, repair or upgrade export.
        LubeLoggerService => "lubelogger_service",
        /// LubeLogger's odometer export.
        LubeLoggerOdometer => "lubelogger_odometer",
        /// LubeLogger's tax export.
        LubeLoggerTax => "lubelogger_tax",
    }
);

/// What the user says about a file the file does not say itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub distance_unit: Option<OdometerUnit>,
    pub volume_unit: Option<FuelUnit>,
    /// `','` or `'.'`.
    pub decimal_separator: Option<char>,
    pub date_order: Option<DateOrder>,
    /// Decimal places of the currency amounts are in (2 for most).
    pub currency_exponent: u32,
}

/// One record read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Fuel {
        at: OffsetDateTime,
        odometer: f64,
        quantity: f64,
        total_minor: Option<i64>,
        /// Thousandths of the minor unit per volume unit.
        unit_price_milli: Option<i64>,
        full: bool,
        missed_previous: bool,
        notes: Option<String>,
    },
    Service {
        on: Date,
        description: String,
        total_minor: i64,
        odometer: Option<f64>,
        notes: Option<String>,
    },
    Odometer {
        at: OffsetDateTime,
        odometer: f64,
        notes: Option<String>,
    },
    Expense {
        on: Date,
        category: ExpenseCategory,
        description: String,
        amount_minor: i64,
        notes: Option<String>,
    },
}

/// A parsed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    /// The vehicle the row names, for files that hold several (Fuelly's `car_name`).
    pub vehicle: Option<String>,
    pub record: Record,
    /// A stable fingerprint of the row's content: importing the same row
    /// twice is recognised by it.
    pub key: String,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// A whole file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub format: Format,
    /// The units the values are in (from the file or the options).
    pub distance_unit: OdometerUnit,
    pub volume_unit: FuelUnit,
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
}

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty")]
    Empty,
    #[error(
        "the file's format is not recognised from its header ({0}); supported: Fuelly and LubeLogger CSV exports"
    )]
    UnknownFormat(String),
    #[error("the file does not say its {what}; pass the `{option}` option")]
    NeedsOption {
        what: &'static str,
        option: &'static str,
    },
    #[error("the file is not valid CSV: {0}")]
    Csv(String),
}

/// The fingerprint of a row: its format and cells, hashed.
pub(crate) fn row_key(format: Format, cells: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(format.as_str());
    for c in cells {
        h.update([0x1f]);
        h.update(c.trim().as_bytes());
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Detects a CSV file's format from its header row.
pub fn detect(header: &[String]) -> Result<Format, ImportError> {
    let h: Vec<String> = header.iter().map(|c| c.trim().to_lowercase()).collect();
    let has = |name: &str| h.iter().any(|c| c == name);
    if has("fuelup_date") && has("car_name") {
        return Ok(Format::Fuelly);
    }
    if has("date") && has("fuelconsumed") && has("odometer") {
        return Ok(Format::LubeLoggerFuel);
    }
    if has("date") && has("initialodometer") && has("odometer") {
        return Ok(Format::LubeLoggerOdometer);
    }
    if has("date") && has("description") && has("cost") && has("odometer") {
        return Ok(Format::LubeLoggerService);
    }
    if has("date") && has("description") && has("cost") {
        return Ok(Format::LubeLoggerTax);
    }
    Err(ImportError::UnknownFormat(header.join(",")))
}

text_enum!(
    /// What the rows of a generic file are.
    GenericKind {
        Fuel => "fuel",
        Service => "service",
        Odometer => "odometer",
    }
);

/// Our fields a generic file's columns can map to, and the LubeLogger column
/// each stands for (a generic file is read by renaming its mapped columns
/// and handing it to the LubeLogger reader).
const GENERIC_FIELDS: &[(&str, &str)] = &[
    ("date", "date"),
    ("odometer", "odometer"),
    ("quantity", "fuelconsumed"),
    ("total", "cost"),
    ("unit_price", "price"),
    ("full", "isfilltofull"),
    ("partial", "partial_fuelup"),
    ("missed", "missedfuelup"),
    ("notes", "notes"),
    ("description", "description"),
];

/// Parses a `columns` mapping such as `date:Fecha,odometer:Km,quantity:Litros`.
pub fn parse_mapping(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (ours, theirs) = pair
            .split_once(':')
            .ok_or_else(|| format!("`{pair}` is not field:column"))?;
        let ours = ours.trim().to_lowercase();
        if !GENERIC_FIELDS.iter().any(|(f, _)| *f == ours) {
            let known: Vec<&str> = GENERIC_FIELDS.iter().map(|(f, _)| *f).collect();
            return Err(format!(
                "`{ours}` is not a field; map any of {}",
                known.join(", ")
            ));
        }
        out.push((ours, theirs.trim().to_string()));
    }
    if !out.iter().any(|(f, _)| f == "date") {
        return Err("must map `date`".into());
    }
    Ok(out)
}

/// Reads any CSV whose columns the user mapped to our fields. Units, the
/// decimal separator and (for non-ISO dates) the date order must be given.
pub fn parse_generic(
    text: &str,
    kind: GenericKind,
    mapping: &[(String, String)],
    options: &Options,
) -> Result<Parsed, ImportError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let original: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    // Unmapped columns get names no reader looks for.
    let mut header: Vec<String> = (0..original.len())
        .map(|i| format!("unmapped_{i}"))
        .collect();
    for (ours, theirs) in mapping {
        let Some(i) = original
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(theirs))
        else {
            return Err(ImportError::UnknownFormat(format!(
                "no column `{theirs}` (mapped to `{ours}`) in the header"
            )));
        };
        let target = GENERIC_FIELDS
            .iter()
            .find(|(f, _)| f == ours)
            .map(|(_, t)| *t)
            .unwrap_or("unmapped");
        header[i] = target.to_string();
    }
    let mut records = Vec::new();
    for (i, record) in reader.records().enumerate() {
        records.push((i + 2, record.map_err(|e| ImportError::Csv(e.to_string()))?));
    }
    let format = match kind {
        GenericKind::Fuel => Format::LubeLoggerFuel,
        GenericKind::Service => Format::LubeLoggerService,
        GenericKind::Odometer => Format::LubeLoggerOdometer,
    };
    let mut parsed = lubelogger::parse(format, &header, &records, options)?;
    parsed.format = Format::Generic;
    Ok(parsed)
}

/// Reads a CSV file: detects its format and parses every row.
pub fn parse(text: &str, options: &Options) -> Result<Parsed, ImportError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    if fuelio::is_sectioned(text) {
        let sections = fuelio::sections(text)?;
        return if drivvo::is_drivvo(&sections) {
            drivvo::parse(&sections, options)
        } else {
            fuelio::parse(text, options)
        };
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let format = detect(&header)?;
    let mut records = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ImportError::Csv(e.to_string()))?;
        records.push((i + 2, record));
    }
    match format {
        Format::Fuelly => fuelly::parse(&header, &records, options),
        Format::Fuelio => fuelio::parse(text, options),
        Format::Generic => Err(ImportError::UnknownFormat(
            "a generic file needs parse_generic".into(),
        )),
        _ => lubelogger::parse(format, &header, &records, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Options {
        Options {
            currency_exponent: 2,
            ..Default::default()
        }
    }

    const FUELLY: &str = "car_name,model,mpg,odometer,miles,gallons,price,city_percentage,fuelup_date,date_added,tags,notes,missed_fuelup,partial_fuelup,latitude,longitude,brand
Civic,Honda Civic,0,10000,0,12.000,3.459,50,01/02/2024 8:15,01/02/2024,,first fill,0,0,,,Shell
Civic,Honda Civic,30.0,10300,300,10.000,3.500,50,01/09/2024,01/09/2024,,,0,0,,,Shell
Civic,Honda Civic,0,10450,150,5.000,3.400,50,01/12/2024,01/12/2024,,,0,1,,,
Civic,Honda Civic,0,oops,150,5.000,3.400,50,01/12/2024,01/12/2024,,,0,1,,,
";

    #[test]
    fn fuelly_export_reads_units_from_the_header() {
        let p = parse(FUELLY, &us()).unwrap();
        assert_eq!(p.format, Format::Fuelly);
        assert_eq!(
            (p.distance_unit, p.volume_unit),
            (OdometerUnit::Miles, FuelUnit::UsGallons)
        );
        assert_eq!(p.rows.len(), 3);
        assert_eq!(
            p.errors,
            vec![RowError {
                line: 5,
                field: "odometer".into(),
                message: "`oops` is not a number".into()
            }]
        );
        let Record::Fuel {
            at,
            odometer,
            quantity,
            total_minor,
            full,
            ..
        } = &p.rows[0].record
        else {
            panic!()
        };
        assert_eq!(
            (*odometer, *quantity, *total_minor, *full),
            (10000.0, 12.0, Some(4151), true),
            "12 × 3.459 = 41.508"
        );
        assert_eq!((at.month() as u8, at.day(), at.hour()), (1, 2, 8));
        assert!(
            matches!(p.rows[2].record, Record::Fuel { full: false, .. }),
            "partial_fuelup = 1"
        );
        assert_eq!(p.rows[0].vehicle.as_deref(), Some("Civic"));
        // The same file gives the same keys: a second import is recognised.
        assert_eq!(parse(FUELLY, &us()).unwrap().rows[1].key, p.rows[1].key);
        assert_ne!(p.rows[0].key, p.rows[1].key);
    }

    #[test]
    fn lubelogger_needs_units_and_separator() {
        let file = "Date,Odometer,FuelConsumed,Cost,FuelEconomy,IsFillToFull,MissedFuelUp,Notes,Tags\n1/15/2024,\"12,000\",11.5,$40.25,0,True,False,,\n";
        assert_eq!(
            parse(file, &us()),
            Err(ImportError::NeedsOption {
                what: "distance unit",
                option: "distance_unit"
            })
        );
        let mut o = us();
        o.distance_unit = Some(OdometerUnit::Miles);
        o.volume_unit = Some(FuelUnit::UsGallons);
        assert_eq!(
            parse(file, &o),
            Err(ImportError::NeedsOption {
                what: "decimal separator",
                option: "decimal_separator"
            })
        );
        o.decimal_separator = Some('.');
        let p = parse(file, &o).unwrap();
        assert_eq!(
            p.errors.len(),
            1,
            "1/15/2024 needs a date order: {:?}",
            p.errors
        );
        o.date_order = Some(DateOrder::Mdy);
        let p = parse(file, &o).unwrap();
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let Record::Fuel {
            odometer,
            total_minor,
            full,
            ..
        } = &p.rows[0].record
        else {
            panic!()
        };
        assert_eq!(
            (*odometer, *total_minor, *full),
            (12000.0, Some(4025), true)
        );
    }

    #[test]
    fn lubelogger_service_odometer_and_tax() {
        let o = Options {
            distance_unit: Some(OdometerUnit::Kilometres),
            decimal_separator: Some(','),
            date_order: Some(DateOrder::Dmy),
            currency_exponent: 2,
            ..Default::default()
        };
        let service = "Date,Description,Cost,Notes,Odometer,Tags\n15.01.2024,Oil change,\"89,90 €\",,\"45.000\",\n";
        let p = parse(service, &o).unwrap();
        assert_eq!(p.format, Format::LubeLoggerService);
        assert_eq!(
            p.rows[0].record,
            Record::Service {
                on: time::macros::date!(2024 - 01 - 15),
                description: "Oil change".into(),
                total_minor: 8990,
                odometer: Some(45000.0),
                notes: None
            }
        );
        let odo = "Date,InitialOdometer,Odometer,Notes,Tags\n16.01.2024,0,\"45.100\",,\n";
        assert!(
            matches!(parse(odo, &o).unwrap().rows[0].record, Record::Odometer { odometer, .. } if odometer == 45100.0)
        );
        let tax = "Date,Description,Cost,Notes,Tags\n01.02.2024,Road tax,\"120,00\",,\n";
        assert!(matches!(
            parse(tax, &o).unwrap().rows[0].record,
            Record::Expense {
                category: ExpenseCategory::Tax,
                amount_minor: 12000,
                ..
            }
        ));
    }

    const FUELIO: &str = "\"## Vehicle\"
Name,Description,DistUnit,FuelUnit,ConsumptionUnit,ImportCSVDateFormat,VIN,Insurance,Plate,Make,Model,Year,TankCount,Tank1Type,Tank2Type,Active,Tank1Capacity,Tank2Capacity,FuelUnitTank2,FuelConsumptionTank2
Golf,,0,0,0,yyyy-MM-dd,,,,VW,Golf,2018,1,100,0,1,50,0,0,0
\"## Log\"
Data,Odo (km),Fuel (litres),Full,Price (optional),l/100km (optional),latitude (optional),longitude (optional),City (optional),Notes (optional),Missed,TankNumber,FuelType,VolumePrice,StationID (optional),ExcludeDistance,UniqueId,TankCalc
2024-03-01 08:15,45000,40.5,1,60.75,0,0,0,,,0,1,100,1.5,0,0,1,0
2024-03-10 18:00,45600,42.0,1,63.00,7.0,0,0,,,0,1,100,1.5,0,0,2,0
\"## CostCategories\"
CostTypeID,Name,priority,color
1,Service,0,#fff
5,Tolls,0,#fff
\"## Costs\"
CostTitle,Date,Odo,CostTypeID,Notes,Cost,flag,idR,read,RemindOdo,RemindDate,isTemplate,RepeatOdo,RepeatMonths,isIncome,UniqueId
Oil change,2024-03-05,45300,1,,89.90,0,0,1,0,2011-01-01,0,0,0,0,3
Motorway,2024-03-06,0,5,A7,12.40,0,0,1,0,2011-01-01,0,0,0,0,4
Sold old tyres,2024-03-07,0,5,,30.00,0,0,1,0,2011-01-01,0,0,0,1,5
";

    #[test]
    fn fuelio_backup_sections_read_their_units_from_headers() {
        let p = parse(FUELIO, &us()).unwrap();
        assert_eq!(p.format, Format::Fuelio);
        assert_eq!(
            (p.distance_unit, p.volume_unit),
            (OdometerUnit::Kilometres, FuelUnit::Litres)
        );
        assert_eq!(p.rows.len(), 4, "{:?}", p.errors);
        let Record::Fuel {
            odometer,
            quantity,
            total_minor,
            unit_price_milli,
            full,
            ..
        } = &p.rows[0].record
        else {
            panic!()
        };
        assert_eq!(
            (*odometer, *quantity, *total_minor, *unit_price_milli, *full),
            (45000.0, 40.5, Some(6075), Some(150_000), true)
        );
        assert_eq!(
            p.rows[0].line, 6,
            "line numbers count from the top of the file"
        );
        assert!(
            matches!(&p.rows[2].record, Record::Service { description, total_minor: 8990, odometer: Some(o), .. } if description == "Oil change" && *o == 45300.0)
        );
        assert!(matches!(
            &p.rows[3].record,
            Record::Expense {
                category: ExpenseCategory::Tolls,
                amount_minor: 1240,
                ..
            }
        ));
        assert_eq!(p.errors.len(), 1, "income is reported, not imported");
        assert_eq!(p.errors[0].field, "isIncome");
    }

    #[test]
    fn drivvo_exports_read_by_position_with_units_from_headers() {
        let file = "##Vehicle\nName\nGol\n#Reabastecimiento\nOdômetro (km),Data,Combustível,Preço/litro,Custo total,Quantidade (litros),Tanque cheio,a,b,c,d,e,f,g,h,i,j,k,Observações\n\"12.000\",2024-03-01 10:00,Gasolina,\"5,89\",\"235,60\",\"40,0\",Sim,,,,,,,,,,,,primeiro\n\"12.500\",2024-03-09 10:00,Gasolina,\"5,90\",\"177,00\",\"30,0\",Sim,,,,,,,,,,,,\n##Expense\nOdômetro,Data,Custo,Título,a,b,Observações\n0,2024-03-05,\"12,50\",Pedágio,,,\n";
        let needs = parse(file, &us());
        assert_eq!(
            needs,
            Err(ImportError::NeedsOption {
                what: "decimal separator",
                option: "decimal_separator"
            })
        );
        let o = Options {
            decimal_separator: Some(','),
            currency_exponent: 2,
            ..Default::default()
        };
        let p = parse(file, &o).unwrap();
        assert_eq!(p.format, Format::Drivvo);
        assert_eq!(
            (p.distance_unit, p.volume_unit),
            (OdometerUnit::Kilometres, FuelUnit::Litres)
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.rows.len(), 3);
        let Record::Fuel {
            odometer,
            quantity,
            total_minor,
            full,
            notes,
            ..
        } = &p.rows[0].record
        else {
            panic!()
        };
        assert_eq!(
            (*odometer, *quantity, *total_minor, *full, notes.as_deref()),
            (12000.0, 40.0, Some(23560), true, Some("primeiro"))
        );
        assert!(
            matches!(&p.rows[2].record, Record::Expense { amount_minor: 1250, description, .. } if description == "Pedágio")
        );
    }

    #[test]
    fn generic_files_use_the_mapping() {
        let file = "Fecha;Km;Litros;Importe;Lleno\n2024-03-01;45.000;40,5;60,75;si\n"
            .replace(';', ",")
            .replace("45.000", "\"45.000\"")
            .replace("40,5", "\"40,5\"")
            .replace("60,75", "\"60,75\"");
        let mapping =
            parse_mapping("date:Fecha, odometer:Km, quantity:Litros, total:Importe").unwrap();
        let o = Options {
            distance_unit: Some(OdometerUnit::Kilometres),
            volume_unit: Some(FuelUnit::Litres),
            decimal_separator: Some(','),
            currency_exponent: 2,
            ..Default::default()
        };
        let p = parse_generic(&file, GenericKind::Fuel, &mapping, &o).unwrap();
        assert_eq!(p.format, Format::Generic);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert!(
            matches!(p.rows[0].record, Record::Fuel { odometer, quantity, total_minor: Some(6075), .. } if odometer == 45000.0 && quantity == 40.5)
        );
        assert!(parse_mapping("odometer:Km").is_err(), "date is required");
        assert!(
            parse_mapping("date:Fecha,colour:Rojo")
                .unwrap_err()
                .contains("colour")
        );
        let bad = parse_mapping("date:Datum").unwrap();
        assert!(
            matches!(parse_generic(&file, GenericKind::Fuel, &bad, &o), Err(ImportError::UnknownFormat(m)) if m.contains("Datum"))
        );
    }

    #[test]
    fn unknown_and_empty_files_are_refused() {
        assert_eq!(parse("", &us()), Err(ImportError::Empty));
        assert!(matches!(
            parse("a,b,c\n1,2,3\n", &us()),
            Err(ImportError::UnknownFormat(_))
        ));
    }
}
