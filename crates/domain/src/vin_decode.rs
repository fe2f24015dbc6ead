//! Decoding a VIN offline: who made it, where, which model year, which plant.
//!
//! The model year (position 10) repeats every 30 years. Since model year 2010,
//! light vehicles (cars, MPVs, trucks up to 10,000 lb) must put a letter in
//! position 7 from 2010 on and a digit before, which settles the cycle; heavy
//! trucks, buses and trailers are exempt, so for them the VIN alone cannot
//! decide between, say, 1987 and 2017 (49 CFR 565, 2008 final rule).

use serde::Serialize;

use crate::vin::Vin;
use crate::wmi::{self, VehicleClass};

/// Everything a VIN says by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VinDecode {
    pub vin: String,
    /// Whether position 9 holds the check digit the rest calls for.
    pub check_digit_valid: bool,
    /// Why not, when it is not (kept as a warning, never a rejection).
    pub check_digit_warning: Option<String>,
    /// The manufacturer identifier: positions 1–3, or 1–3 + 12–14 for small makers.
    pub wmi: String,
    pub manufacturer: Option<String>,
    pub make: Option<String>,
    pub vehicle_class: Option<VehicleClass>,
    pub region: String,
    pub country: Option<String>,
    /// Vehicle descriptor section, positions 4–8 (maker-specific model data).
    pub descriptor: String,
    pub model_year: ModelYear,
    /// Position 11.
    pub plant_code: String,
    /// Positions 12–17 (15–17 for small makers).
    pub serial: String,
}

/// What position 10 says about the model year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelYear {
    /// Position 10.
    pub code: String,
    /// Every year the code can mean that is not in the future.
    pub candidates: Vec<i32>,
    /// The year, when the VIN alone settles it.
    pub year: Option<i32>,
    /// The likelier year when it does not (the position-7 rule applied anyway).
    pub likely: Option<i32>,
    /// How `year` was decided, or why it could not be.
    pub explanation: String,
}

/// The first year of each 30-year cycle a position-10 code can mean, or
/// `None` for characters never used there (I O Q U Z 0).
fn year_code(c: char) -> Option<i32> {
    let offset = match c {
        'A'..='H' => c as i32 - 'A' as i32,
        'J'..='N' => 8 + (c as i32 - 'J' as i32),
        'P' => 13,
        'R'..='T' => 14 + (c as i32 - 'R' as i32),
        'V'..='Y' => 17 + (c as i32 - 'V' as i32),
        '1'..='9' => 21 + (c as i32 - '1' as i32),
        _ => return None,
    };
    Some(1980 + offset)
}

fn model_year(vin: &str, class: Option<VehicleClass>, current_year: i32) -> ModelYear {
    let chars: Vec<char> = vin.chars().collect();
    let code = chars[9];
    let Some(first) = year_code(code) else {
        return ModelYear {
            code: code.to_string(),
            candidates: vec![],
            year: None,
            likely: None,
            explanation: format!("`{code}` is never used as a model-year code"),
        };
    };
    let latest = current_year + 1;
    let candidates: Vec<i32> = [first, first + 30]
        .into_iter()
        .filter(|y| *y <= latest)
        .collect();
    let by_position_7 = if chars[6].is_ascii_digit() {
        first
    } else {
        first + 30
    };
    let (year, likely, explanation) = match (candidates.as_slice(), class) {
        ([only], _) => (Some(*only), None, "the other 30-year cycle is in the future".to_string()),
        (_, Some(VehicleClass::Light)) => (
            Some(by_position_7),
            None,
            format!(
                "light vehicle: position 7 is {}, so the {} cycle",
                if chars[6].is_ascii_digit() { "a digit" } else { "a letter" },
                if by_position_7 < 2010 { "1980–2009" } else { "2010–2039" }
            ),
        ),
        (_, Some(VehicleClass::Heavy)) => (
            None,
            Some(by_position_7).filter(|y| *y <= latest),
            "heavy vehicles are exempt from the position-7 rule: the VIN alone cannot tell the 30-year cycle; use the in-service date".to_string(),
        ),
        _ => (
            None,
            Some(by_position_7).filter(|y| *y <= latest),
            "the maker's vehicle class is unknown, so the position-7 rule may not apply".to_string(),
        ),
    };
    ModelYear {
        code: code.to_string(),
        candidates,
        year,
        likely,
        explanation,
    }
}

/// Decodes a VIN. `current_year` bounds the model year (a model year may run
/// one year ahead of the calendar).
pub fn decode(vin: &Vin, current_year: i32) -> VinDecode {
    let s = vin.as_str();
    let chars: Vec<char> = s.chars().collect();
    let small_maker = chars[2] == '9';
    let wmi_code = if small_maker {
        format!("{}{}", &s[0..3], &s[11..14])
    } else {
        s[0..3].to_string()
    };
    let known = wmi::lookup(&s[0..3]).filter(|_| !small_maker);
    let class = known.map(|w| w.class);
    let problem = vin.check_digit_problem();
    VinDecode {
        vin: s.to_string(),
        check_digit_valid: problem.is_none(),
        check_digit_warning: problem,
        wmi: wmi_code,
        manufacturer: known.map(|w| w.manufacturer.to_string()),
        make: known.map(|w| w.make.to_string()),
        vehicle_class: class,
        region: wmi::region(chars[0]).to_string(),
        country: wmi::country(chars[0], chars[1]).map(str::to_string),
        descriptor: s[3..8].to_string(),
        model_year: model_year(s, class, current_year),
        plant_code: chars[10].to_string(),
        serial: if small_maker {
            s[14..17].to_string()
        } else {
            s[11..17].to_string()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(vin: &str) -> VinDecode {
        decode(&Vin::parse(vin).unwrap(), 2026)
    }

    #[test]
    fn year_codes_cover_the_table() {
        let table = [
            ('A', 1980),
            ('B', 1981),
            ('H', 1987),
            ('J', 1988),
            ('N', 1992),
            ('P', 1993),
            ('R', 1994),
            ('T', 1996),
            ('V', 1997),
            ('Y', 2000),
            ('1', 2001),
            ('9', 2009),
        ];
        for (c, year) in table {
            assert_eq!(year_code(c), Some(year), "{c}");
        }
        for c in ['I', 'O', 'Q', 'U', 'Z', '0'] {
            assert_eq!(year_code(c), None, "{c}");
        }
    }

    #[test]
    fn heavy_truck_cycle_is_ambiguous() {
        // The reference's example: Freightliner, H = 1987 or 2017.
        let v = d("1FUJGLDR3HLHG7532");
        assert_eq!(v.make.as_deref(), Some("Freightliner"));
        assert_eq!(v.vehicle_class, Some(VehicleClass::Heavy));
        assert_eq!(v.model_year.candidates, [1987, 2017]);
        assert_eq!(v.model_year.year, None);
        assert_eq!(v.model_year.likely, Some(2017));
        assert_eq!(v.country.as_deref(), Some("United States"));
        assert_eq!(v.plant_code, "L");
        assert_eq!(v.serial, "HG7532");
        assert_eq!(v.descriptor, "JGLDR");
    }

    #[test]
    fn light_vehicle_cycle_follows_position_7() {
        // 2HGFC2F58JH512345: Honda Canada, position 7 `F` (letter), J → 2018.
        let v = d("2HGFC2F58JH512345");
        assert_eq!(v.make.as_deref(), Some("Honda"));
        assert_eq!(v.model_year.year, Some(2018));
        assert!(v.model_year.explanation.contains("2010–2039"));
        // A digit in position 7 means the earlier cycle: 1M8GDM9AXKP042788 is a 1989 (K) coach.
        let old = d("1HGCM8263JA000000");
        assert_eq!(old.model_year.candidates, [1988, 2018]);
        assert_eq!(old.model_year.year, Some(1988));
    }

    #[test]
    fn a_future_cycle_settles_the_year() {
        // Y = 2000 or 2030; 2030 is past 2027.
        let v = d("WDBRF61JXYF123456");
        assert_eq!(v.model_year.candidates, [2000]);
        assert_eq!(v.model_year.year, Some(2000));
    }

    #[test]
    fn small_makers_have_six_character_wmis() {
        let v = d("YT9NN1U14KA007175");
        assert_eq!(v.wmi, "YT9007");
        assert_eq!(v.serial, "175");
        assert_eq!(v.make, None);
        assert_eq!(v.region, "Europe");
    }

    #[test]
    fn unknown_makers_still_decode_what_they_can() {
        let v = d("9BWZZZ377VT004251");
        assert_eq!(v.manufacturer, None);
        assert_eq!(v.country.as_deref(), Some("Brazil"));
        assert_eq!(v.model_year.year, None, "class unknown: not certain");
    }

    const ALLOWED: &str = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

    fn valid_vin() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(ALLOWED.chars().collect::<Vec<_>>()),
            17,
        )
        .prop_map(|c| {
            let body: String = c.into_iter().collect();
            let mut chars: Vec<char> = body.chars().collect();
            chars[8] = Vin::parse(&body).unwrap().expected_check_digit();
            chars.into_iter().collect()
        })
    }

    /// The transliterated value of an allowed character.
    fn value(c: char) -> u32 {
        let vin = format!("{c}0000000000000000");
        // Weight of position 1 is 8: the check digit of this VIN reveals value × 8 mod 11.
        let digit = Vin::parse(&vin).unwrap().expected_check_digit();
        let r = if digit == 'X' {
            10
        } else {
            digit.to_digit(10).unwrap()
        };
        (0..10).find(|v| v * 8 % 11 == r).unwrap()
    }

    proptest! {
        #[test]
        fn every_valid_vin_decodes_and_round_trips(vin in valid_vin()) {
            let parsed = Vin::parse(&vin).unwrap();
            let decoded = decode(&parsed, 2026);
            prop_assert!(decoded.check_digit_valid);
            prop_assert_eq!(&decoded.vin, &vin);
            prop_assert_eq!(Vin::parse(&decoded.vin).unwrap(), parsed);
        }

        /// A single-character change is caught by the check digit unless the
        /// new character has the same transliterated value (A/J, B/K/S …).
        #[test]
        fn single_character_corruptions_are_detected(vin in valid_vin(), position in 0usize..17, pick in 0usize..33) {
            let mut chars: Vec<char> = vin.chars().collect();
            let original = chars[position];
            let replacement = ALLOWED.chars().nth(pick).unwrap();
            prop_assume!(replacement != original);
            chars[position] = replacement;
            let corrupted: String = chars.into_iter().collect();
            let detected = Vin::parse(&corrupted).unwrap().check_digit_problem().is_some();
            let same_value = position != 8 && value(original) == value(replacement);
            prop_assert_eq!(detected, !same_value);
        }
    }

    /// Exhaustive count behind the rate documented in docs/VIN.md.
    #[test]
    fn undetected_single_substitution_rate() {
        let values: Vec<u32> = ALLOWED.chars().map(value).collect();
        let mut undetected = 0u32;
        let mut total = 0u32;
        for position in 0..17 {
            for (i, _) in ALLOWED.chars().enumerate() {
                for (j, _) in ALLOWED.chars().enumerate() {
                    if i == j {
                        continue;
                    }
                    total += 1;
                    if position != 8 && values[i] == values[j] {
                        undetected += 1;
                    }
                }
            }
        }
        // 33 characters → 17 × 33 × 32 = 17,952 substitutions. Characters
        // sharing a value form groups of 4 (values 2, 3, 4, 5, 7), 3 (1, 6, 8, 9)
        // and 1 (0): 5 × 12 + 4 × 6 = 84 ordered pairs per position, at the 16
        // positions other than 9 → 1,344 undetected (7.49 %).
        assert_eq!(total, 17_952);
        assert_eq!(undetected, 1_344);
    }
}
