//! Service records and expenses: what was done, what it cost.

use serde::{Deserialize, Serialize};

use crate::money::round_half_away;

text_enum!(
    /// A line of a service invoice.
    LineKind {
        /// Quantity is hours, unit cost the hourly rate.
        Labor => "labor",
        Part => "part",
        /// Shop supplies, disposal, diagnostics …
        Fee => "fee",
    }
);

text_enum!(
    /// What an expense was for.
    ExpenseCategory {
        Registration => "registration",
        Insurance => "insurance",
        Tax => "tax",
        Tolls => "tolls",
        Parking => "parking",
        Fines => "fines",
        Other => "other",
    }
);

text_enum!(
    /// How often an expense repeats (informational; each payment is recorded).
    Recurrence {
        Monthly => "monthly",
        Quarterly => "quarterly",
        Yearly => "yearly",
    }
);

/// The amount of a line: quantity × unit cost, rounded half away from zero
/// to the minor unit.
pub fn line_amount(quantity: f64, unit_cost_minor: i64) -> i64 {
    round_half_away(quantity * unit_cost_minor as f64)
}

/// A record's total: lines, less the discount, plus tax (all minor units).
pub fn record_total(lines: &[i64], tax_minor: i64, discount_minor: i64) -> i64 {
    lines.iter().sum::<i64>() - discount_minor + tax_minor
}

/// The service tasks every tenant starts with: (key, name).
pub const DEFAULT_TASKS: &[(&str, &str)] = &[
    ("oil_change", "Oil and filter change"),
    ("tire_rotation", "Tire rotation"),
    ("brake_inspection", "Brake inspection"),
    ("air_filter", "Engine air filter"),
    ("cabin_filter", "Cabin air filter"),
    ("coolant", "Coolant service"),
    ("transmission_fluid", "Transmission fluid"),
    ("fuel_filter", "Fuel filter"),
    ("spark_plugs", "Spark plugs"),
    ("def_filter", "DEF filter"),
    ("dpf_cleaning", "DPF cleaning"),
    ("annual_inspection", "Annual inspection"),
    ("wheel_alignment", "Wheel alignment"),
    ("battery", "Battery check"),
    ("wiper_blades", "Wiper blades"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_half_away_from_zero() {
        // 1.5 h at 95.00/h = 142.50; 3 × 12.345 (in cents: 1234.5) rounds up.
        assert_eq!(line_amount(1.5, 9500), 14250);
        assert_eq!(line_amount(3.0, 1234), 3702);
        assert_eq!(line_amount(0.5, 1), 1, "0.5 cent rounds away from zero");
        assert_eq!(record_total(&[14250, 3702], 1436, 500), 18888);
    }

    #[test]
    fn default_task_keys_are_unique() {
        let mut keys: Vec<_> = DEFAULT_TASKS.iter().map(|(k, _)| *k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), DEFAULT_TASKS.len());
    }
}
