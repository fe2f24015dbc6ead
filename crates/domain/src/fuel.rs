//! Fuel and charging: quantities, units, prices, and fuel economy.
//!
//! Economy is measured between two **full** fills: the distance between them
//! over all the fuel put in after the first (partial fills accumulate into
//! the next full one). A fill marked `missed_previous` says a fill-up was not
//! logged, so the segment it would close has no economy; the chain restarts
//! at the next full fill. Averages are total distance over total fuel of the
//! measured segments, never an average of ratios.

use serde::{Deserialize, Serialize};

use crate::meter::KM_PER_MILE;
use crate::vehicle::FuelType;

/// Litres in a US gallon (exact by definition).
pub const L_PER_US_GALLON: f64 = 3.785_411_784;
/// Litres in an imperial gallon (exact by definition).
pub const L_PER_UK_GALLON: f64 = 4.546_09;

text_enum!(
    /// The unit a quantity of fuel or energy was bought in.
    FuelUnit {
        UsGallons => "us_gal",
        UkGallons => "uk_gal",
        Litres => "l",
        KilowattHours => "kwh",
        Kilograms => "kg",
    }
);

/// What a fuel is measured in, canonically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Litres.
    Volume,
    /// Kilowatt-hours.
    Energy,
    /// Kilograms.
    Mass,
}

impl FuelUnit {
    pub fn measure(self) -> Measure {
        match self {
            Self::UsGallons | Self::UkGallons | Self::Litres => Measure::Volume,
            Self::KilowattHours => Measure::Energy,
            Self::Kilograms => Measure::Mass,
        }
    }

    /// Converts to the canonical unit of its measure (L, kWh, kg).
    pub fn to_canonical(self, quantity: f64) -> f64 {
        match self {
            Self::UsGallons => quantity * L_PER_US_GALLON,
            Self::UkGallons => quantity * L_PER_UK_GALLON,
            Self::Litres | Self::KilowattHours | Self::Kilograms => quantity,
        }
    }

    pub fn from_canonical(self, quantity: f64) -> f64 {
        match self {
            Self::UsGallons => quantity / L_PER_US_GALLON,
            Self::UkGallons => quantity / L_PER_UK_GALLON,
            Self::Litres | Self::KilowattHours | Self::Kilograms => quantity,
        }
    }
}

/// How each fuel type is measured. CNG and hydrogen are sold by mass in most
/// markets; LPG and LNG by volume.
pub fn measure_of(fuel: FuelType) -> Measure {
    match fuel {
        FuelType::Electric => Measure::Energy,
        FuelType::Cng | FuelType::Hydrogen => Measure::Mass,
        _ => Measure::Volume,
    }
}

/// Checks that a quantity's unit suits the fuel and the number is sane.
pub fn check_quantity(fuel: FuelType, quantity: f64, unit: FuelUnit) -> Result<f64, String> {
    if unit.measure() != measure_of(fuel) {
        return Err(format!(
            "`{}` does not measure {}",
            unit.as_str(),
            fuel.as_str()
        ));
    }
    if !quantity.is_finite() || quantity <= 0.0 {
        return Err("must be more than zero".into());
    }
    let canonical = unit.to_canonical(quantity);
    if canonical > 5_000.0 {
        return Err("is implausibly large (more than 5,000 L, kWh or kg in one fill)".into());
    }
    Ok(canonical)
}

/// One fill, as economy needs it, in canonical units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub odometer_km: f64,
    /// L, kWh or kg.
    pub quantity: f64,
    pub full: bool,
    pub missed_previous: bool,
    /// In minor units; `None` when unknown.
    pub cost_minor: Option<i64>,
}

/// A measured stretch between two full fills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub distance_km: f64,
    /// Fuel put in over the segment (partials plus the closing full fill).
    pub quantity: f64,
    /// What that fuel cost, when every fill of the segment had a cost.
    pub cost_minor: Option<i64>,
}

impl Segment {
    /// L (or kWh, kg) per 100 km.
    pub fn per_100km(&self) -> f64 {
        self.quantity / self.distance_km * 100.0
    }
}

/// For fills sorted by odometer, the segment each one closes (`None` for a
/// partial fill, the first full fill of a chain, or a fill after a missed one).
pub fn segments(fills: &[Fill]) -> Vec<Option<Segment>> {
    let mut start: Option<f64> = None;
    let mut quantity = 0.0;
    let mut cost: Option<i64> = Some(0);
    fills
        .iter()
        .map(|f| {
            if f.missed_previous {
                start = None;
            }
            quantity += f.quantity;
            cost = cost.zip(f.cost_minor).map(|(a, b)| a + b);
            if !f.full {
                return None;
            }
            let segment = start
                .map(|s| Segment {
                    distance_km: f.odometer_km - s,
                    quantity,
                    cost_minor: cost,
                })
                .filter(|s| s.distance_km > 0.0);
            start = Some(f.odometer_km);
            quantity = 0.0;
            cost = Some(0);
            segment
        })
        .collect()
}

/// Sums segments into one: the average is total distance over total fuel.
pub fn total(segments: impl IntoIterator<Item = Segment>) -> Option<Segment> {
    segments.into_iter().reduce(|a, b| Segment {
        distance_km: a.distance_km + b.distance_km,
        quantity: a.quantity + b.quantity,
        cost_minor: a.cost_minor.zip(b.cost_minor).map(|(x, y)| x + y),
    })
}

/// Economy in every unit people use, from one segment (or a total).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Economy {
    pub measure: Measure,
    /// L/100 km, kWh/100 km or kg/100 km.
    pub per_100km: f64,
    /// km per L (volume), per kWh (energy) or per kg (mass).
    pub km_per_unit: f64,
    /// Miles per US gallon (volume only).
    pub mpg_us: Option<f64>,
    /// Miles per imperial gallon (volume only).
    pub mpg_uk: Option<f64>,
    /// Miles per kWh (energy only).
    pub mi_per_kwh: Option<f64>,
    /// Cost per km and per mile in minor units, when costs are known.
    pub cost_per_km_minor: Option<f64>,
    pub cost_per_mile_minor: Option<f64>,
}

/// Expresses a segment's economy in every unit.
pub fn economy(measure: Measure, s: &Segment) -> Economy {
    let miles = s.distance_km / KM_PER_MILE;
    let volume = measure == Measure::Volume;
    Economy {
        measure,
        per_100km: s.per_100km(),
        km_per_unit: s.distance_km / s.quantity,
        mpg_us: volume.then(|| miles / (s.quantity / L_PER_US_GALLON)),
        mpg_uk: volume.then(|| miles / (s.quantity / L_PER_UK_GALLON)),
        mi_per_kwh: (measure == Measure::Energy).then(|| miles / s.quantity),
        cost_per_km_minor: s.cost_minor.map(|c| c as f64 / s.distance_km),
        cost_per_mile_minor: s.cost_minor.map(|c| c as f64 / miles),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fill(odometer_km: f64, quantity: f64, full: bool) -> Fill {
        Fill {
            odometer_km,
            quantity,
            full,
            missed_previous: false,
            cost_minor: Some(1000),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * a.abs().max(1.0)
    }

    #[test]
    fn thirty_mpg_checked_by_hand() {
        // 300 miles on 10 US gallons: 30 mpg (US) = 7.840 L/100 km = 36.03 mpg (UK).
        let fills = [
            fill(0.0, 20.0 * L_PER_US_GALLON, true),
            fill(300.0 * KM_PER_MILE, 10.0 * L_PER_US_GALLON, true),
        ];
        let s = segments(&fills)[1].unwrap();
        let e = economy(Measure::Volume, &s);
        assert!(close(e.mpg_us.unwrap(), 30.0));
        assert!((e.per_100km - 7.840_486).abs() < 1e-5, "{}", e.per_100km);
        assert!(
            (e.mpg_uk.unwrap() - 36.028_6).abs() < 1e-3,
            "{:?}",
            e.mpg_uk
        );
        assert_eq!(e.mi_per_kwh, None);
        // Cost: 10.00 over 300 miles (the closing fill's cost only).
        assert!(close(e.cost_per_mile_minor.unwrap(), 1000.0 / 300.0));
    }

    #[test]
    fn a_partial_fill_accumulates_into_the_next_full() {
        // Full at 1000 km; partial 20 L at 1300; full 25 L at 1600 km:
        // 600 km on 45 L = 7.5 L/100 km.
        let fills = [
            fill(1000.0, 40.0, true),
            fill(1300.0, 20.0, false),
            fill(1600.0, 25.0, true),
        ];
        let out = segments(&fills);
        assert_eq!(out[0], None, "the first full fill opens the chain");
        assert_eq!(out[1], None, "partials close nothing");
        let s = out[2].unwrap();
        assert_eq!(
            (s.distance_km, s.quantity, s.cost_minor),
            (600.0, 45.0, Some(2000))
        );
        assert!(close(s.per_100km(), 7.5));
    }

    #[test]
    fn a_missed_fill_breaks_the_chain() {
        let mut missed = fill(1600.0, 30.0, true);
        missed.missed_previous = true;
        let fills = [fill(1000.0, 40.0, true), missed, fill(2100.0, 35.0, true)];
        let out = segments(&fills);
        assert_eq!(
            out[1], None,
            "the segment the missed fill would close is unmeasured"
        );
        let s = out[2].unwrap();
        assert_eq!(
            (s.distance_km, s.quantity),
            (500.0, 35.0),
            "the chain restarts at the missed fill"
        );
    }

    #[test]
    fn unknown_costs_make_the_segment_cost_unknown() {
        let mut partial = fill(1300.0, 20.0, false);
        partial.cost_minor = None;
        let out = segments(&[fill(1000.0, 40.0, true), partial, fill(1600.0, 25.0, true)]);
        assert_eq!(out[2].unwrap().cost_minor, None);
    }

    #[test]
    fn averages_are_distance_over_fuel() {
        let a = Segment {
            distance_km: 100.0,
            quantity: 10.0,
            cost_minor: Some(100),
        };
        let b = Segment {
            distance_km: 300.0,
            quantity: 15.0,
            cost_minor: None,
        };
        let t = total([a, b]).unwrap();
        assert!(
            close(t.per_100km(), 25.0 / 400.0 * 100.0),
            "not the mean of 10 and 5"
        );
        assert_eq!(t.cost_minor, None);
    }

    #[test]
    fn electric_economy() {
        // 250 km on 40 kWh: 16 kWh/100 km; 155.343 mi / 40 kWh = 3.8836 mi/kWh.
        let s = Segment {
            distance_km: 250.0,
            quantity: 40.0,
            cost_minor: None,
        };
        let e = economy(Measure::Energy, &s);
        assert!(close(e.per_100km, 16.0));
        assert!((e.mi_per_kwh.unwrap() - 3.883_57).abs() < 1e-5);
        assert_eq!(e.mpg_us, None);
    }

    #[test]
    fn quantities_must_suit_their_fuel() {
        assert!(check_quantity(FuelType::Diesel, 40.0, FuelUnit::Litres).is_ok());
        assert!(check_quantity(FuelType::Electric, 40.0, FuelUnit::Litres).is_err());
        assert!(check_quantity(FuelType::Cng, 12.0, FuelUnit::Kilograms).is_ok());
        assert!(check_quantity(FuelType::Gasoline, 0.0, FuelUnit::UsGallons).is_err());
        assert!(check_quantity(FuelType::Gasoline, 10_000.0, FuelUnit::UsGallons).is_err());
    }

    proptest! {
        #[test]
        fn unit_conversions_round_trip(q in 0.001f64..5000.0) {
            for unit in FuelUnit::ALL {
                prop_assert!((unit.from_canonical(unit.to_canonical(q)) - q).abs() < 1e-9 * q.max(1.0));
            }
        }

        #[test]
        fn mpg_and_litres_per_100km_agree(distance in 1.0f64..2000.0, litres in 1.0f64..500.0) {
            let e = economy(Measure::Volume, &Segment { distance_km: distance, quantity: litres, cost_minor: None });
            // mpg(US) × L/100km = 235.2145… for any consumption.
            let k = 100.0 * L_PER_US_GALLON / KM_PER_MILE;
            prop_assert!((e.mpg_us.unwrap() * e.per_100km - k).abs() < 1e-6 * k);
            prop_assert!((e.km_per_unit * e.per_100km - 100.0).abs() < 1e-9 * 100.0);
        }

        /// Without missed fills, the measured segments cover exactly the
        /// distance from the first full fill to the last, and all fuel after the first.
        #[test]
        fn segments_conserve_distance_and_fuel(steps in proptest::collection::vec((1.0f64..800.0, 1.0f64..80.0, any::<bool>()), 2..40)) {
            let mut odo = 0.0;
            let mut fills = vec![fill(0.0, 50.0, true)];
            for (d, q, full) in &steps {
                odo += d;
                fills.push(fill(odo, *q, *full));
            }
            let last_full = fills.iter().rposition(|f| f.full).unwrap();
            let measured = total(segments(&fills).into_iter().flatten());
            let fuel_after_first: f64 = fills[1..=last_full].iter().map(|f| f.quantity).sum();
            match measured {
                Some(t) => {
                    prop_assert!((t.distance_km - fills[last_full].odometer_km).abs() < 1e-6);
                    prop_assert!((t.quantity - fuel_after_first).abs() < 1e-6);
                }
                None => prop_assert_eq!(last_full, 0),
            }
        }
    }
}
