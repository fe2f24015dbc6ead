//! Vehicles: what they are and the rules their fields follow.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ValidationErrors;
use crate::tenancy::parse_display_text;
use crate::vin::Vin;

text_enum!(
    /// Where a vehicle is in its life. Only `active` vehicles are expected to
    /// report meters and faults; the others are kept for their history.
    VehicleStatus {
        Active => "active",
        /// Temporarily unavailable (in the shop, awaiting parts).
        OutOfService => "out_of_service",
        Sold => "sold",
        Archived => "archived",
    }
);

text_enum!(
    /// The body or duty class of a vehicle.
    VehicleType {
        Car => "car",
        Motorcycle => "motorcycle",
        Suv => "suv",
        Pickup => "pickup",
        Van => "van",
        LightTruck => "light_truck",
        MediumTruck => "medium_truck",
        HeavyTruck => "heavy_truck",
        Tractor => "tractor",
        Trailer => "trailer",
        Bus => "bus",
        Rv => "rv",
        Equipment => "equipment",
        Other => "other",
    }
);

text_enum!(
    /// An energy source a vehicle takes. A vehicle may take several (a plug-in
    /// hybrid takes gasoline and electric; a diesel truck also takes DEF).
    FuelType {
        Gasoline => "gasoline",
        Diesel => "diesel",
        E85 => "e85",
        Lpg => "lpg",
        Cng => "cng",
        Lng => "lng",
        Electric => "electric",
        Hydrogen => "hydrogen",
        /// Diesel exhaust fluid, consumed by SCR-equipped diesels.
        Def => "def",
    }
);

text_enum!(
    /// The unit the vehicle's own odometer counts in.
    OdometerUnit {
        Miles => "mi",
        Kilometres => "km",
    }
);

/// Most tags a vehicle may carry.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_LEN: usize = 40;
/// Largest serialized size of a vehicle's custom fields, in bytes.
pub const MAX_CUSTOM_FIELDS_BYTES: usize = 8 * 1024;
/// Most keys in a vehicle's custom fields.
pub const MAX_CUSTOM_FIELDS_KEYS: usize = 64;
/// The first year of the motor car; anything earlier is a typo.
pub const FIRST_MODEL_YEAR: i32 = 1886;

/// A vehicle's editable fields as a client sent them, not yet checked.
/// Enum-typed fields were already checked by deserialisation.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleDraft {
    pub name: String,
    pub unit_number: Option<String>,
    pub vin: Option<String>,
    pub plate: Option<String>,
    pub year: Option<i32>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub trim: Option<String>,
    pub vehicle_type: VehicleType,
    pub fuel_types: Vec<FuelType>,
    pub odometer_unit: OdometerUnit,
    pub in_service_date: Option<Date>,
    pub status: VehicleStatus,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// A vehicle's fields after every rule has been applied: what the store
/// writes, and (flattened) what the API shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VehicleSpec {
    /// Name or unit label shown everywhere.
    pub name: String,
    pub unit_number: Option<String>,
    /// Upper case, 17 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub vin: Option<Vin>,
    /// Set when the VIN's check digit does not match; the VIN is kept.
    pub vin_warning: Option<String>,
    pub plate: Option<String>,
    pub year: Option<i32>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub trim: Option<String>,
    pub vehicle_type: VehicleType,
    pub fuel_types: Vec<FuelType>,
    pub odometer_unit: OdometerUnit,
    pub in_service_date: Option<Date>,
    pub status: VehicleStatus,
    /// Trimmed, deduplicated, in the order given.
    pub tags: Vec<String>,
    /// Free-form JSON object (at most 64 keys, 8 KiB).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Trims an optional text field; blank becomes `None`.
fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Option<String> {
    let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
    errors.check(field, parse_display_text(value, max))
}

impl VehicleSpec {
    /// Applies every rule to a draft. `current_year` bounds the model year
    /// (a model year may run up to two years ahead of the calendar).
    pub fn validate(draft: VehicleDraft, current_year: i32) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = errors.check("name", parse_display_text(&draft.name, 100));
        let unit_number = optional_text(&mut errors, "unit_number", &draft.unit_number, 40);
        let plate = optional_text(&mut errors, "plate", &draft.plate, 20);
        let make = optional_text(&mut errors, "make", &draft.make, 60);
        let model = optional_text(&mut errors, "model", &draft.model, 60);
        let trim = optional_text(&mut errors, "trim", &draft.trim, 60);

        let vin = draft
            .vin
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| errors.check("vin", Vin::parse(v)));
        let vin_warning = vin.as_ref().and_then(Vin::check_digit_problem);

        if let Some(year) = draft.year {
            let last = current_year + 2;
            if !(FIRST_MODEL_YEAR..=last).contains(&year) {
                errors.push(
                    "year",
                    format!("must be between {FIRST_MODEL_YEAR} and {last}"),
                );
            }
        }

        let mut fuel_types = Vec::new();
        for fuel in draft.fuel_types {
            if !fuel_types.contains(&fuel) {
                fuel_types.push(fuel);
            }
        }
        if fuel_types.is_empty() {
            errors.push("fuel_types", "must name at least one fuel type");
        }

        let mut tags: Vec<String> = Vec::new();
        for (i, tag) in draft.tags.iter().enumerate() {
            if let Some(tag) =
                errors.check(&format!("tags[{i}]"), parse_display_text(tag, MAX_TAG_LEN))
                && !tags.contains(&tag)
            {
                tags.push(tag);
            }
        }
        if tags.len() > MAX_TAGS {
            errors.push("tags", format!("must have at most {MAX_TAGS} tags"));
        }

        if draft.custom_fields.len() > MAX_CUSTOM_FIELDS_KEYS {
            errors.push(
                "custom_fields",
                format!("must have at most {MAX_CUSTOM_FIELDS_KEYS} keys"),
            );
        }
        let size = serde_json::to_vec(&draft.custom_fields)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_CUSTOM_FIELDS_BYTES {
            errors.push(
                "custom_fields",
                format!("must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON (got {size})"),
            );
        }

        errors.into_result()?;
        Ok(Self {
            // `name` is Some here: a None would have recorded an error above.
            name: name.unwrap_or_default(),
            unit_number,
            vin,
            vin_warning,
            plate,
            year: draft.year,
            make,
            model,
            trim,
            vehicle_type: draft.vehicle_type,
            fuel_types,
            odometer_unit: draft.odometer_unit,
            in_service_date: draft.in_service_date,
            status: draft.status,
            tags,
            custom_fields: draft.custom_fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> VehicleDraft {
        VehicleDraft {
            name: " Truck 12 ".into(),
            unit_number: Some("".into()),
            vin: Some("1fujgldr3hlhg7532".into()),
            plate: None,
            year: Some(2017),
            make: Some("Freightliner".into()),
            model: None,
            trim: None,
            vehicle_type: VehicleType::HeavyTruck,
            fuel_types: vec![FuelType::Diesel, FuelType::Def, FuelType::Diesel],
            odometer_unit: OdometerUnit::Miles,
            in_service_date: None,
            status: VehicleStatus::Active,
            tags: vec!["east".into(), " east ".into(), "reefer".into()],
            custom_fields: serde_json::Map::new(),
        }
    }

    #[test]
    fn valid_draft_is_normalised() {
        let spec = VehicleSpec::validate(draft(), 2026).unwrap();
        assert_eq!(spec.name, "Truck 12");
        assert_eq!(spec.unit_number, None);
        assert_eq!(spec.vin.unwrap().as_str(), "1FUJGLDR3HLHG7532");
        assert_eq!(spec.vin_warning, None);
        assert_eq!(spec.fuel_types, [FuelType::Diesel, FuelType::Def]);
        assert_eq!(spec.tags, ["east", "reefer"]);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut d = draft();
        d.name = "  ".into();
        d.vin = Some("1FUJGLDR3HLHG753O".into());
        d.year = Some(1700);
        d.fuel_types.clear();
        d.tags = vec!["".into()];
        let err = VehicleSpec::validate(d, 2026).unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "vin", "year", "fuel_types", "tags[0]"]);
    }

    #[test]
    fn check_digit_mismatch_is_a_warning_not_an_error() {
        let mut d = draft();
        d.vin = Some("1FUJGLDR4HLHG7532".into());
        let spec = VehicleSpec::validate(d, 2026).unwrap();
        assert!(spec.vin_warning.unwrap().contains("position 9"));
    }

    #[test]
    fn custom_fields_are_bounded() {
        let mut d = draft();
        d.custom_fields
            .insert("blob".into(), serde_json::Value::String("x".repeat(9000)));
        let err = VehicleSpec::validate(d, 2026).unwrap_err();
        assert_eq!(err.0[0].field, "custom_fields");
    }

    #[test]
    fn enums_round_trip_through_text() {
        for s in VehicleStatus::ALL {
            assert_eq!(s.as_str().parse::<VehicleStatus>(), Ok(*s));
        }
        for f in FuelType::ALL {
            assert_eq!(f.as_str().parse::<FuelType>(), Ok(*f));
        }
        for t in VehicleType::ALL {
            assert_eq!(t.as_str().parse::<VehicleType>(), Ok(*t));
        }
        assert!("flying".parse::<VehicleType>().is_err());
    }
}
