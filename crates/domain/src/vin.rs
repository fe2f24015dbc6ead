//! Vehicle identification numbers (ISO 3779 / 49 CFR 565).
//!
//! A [`Vin`] is always 17 characters from the allowed set. The check digit
//! (position 9) is *not* a parse condition: it is mandatory only in North
//! America, and real vehicles exist with wrong ones, so a mismatch is reported
//! by [`Vin::check_digit_problem`] and stored as a warning.

use serde::{Deserialize, Serialize};

/// Transliteration weights for positions 1–17; position 9 is the check digit.
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/// A syntactically valid VIN, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vin(String);

/// Why a string is not a VIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    #[error("must be 17 characters (got {0})")]
    Length(usize),
    #[error(
        "contains `{character}` at position {position}: VINs use 0-9 and A-Z except I, O and Q"
    )]
    Character { character: char, position: usize },
}

/// The numeric value of an allowed VIN character, `None` for a forbidden one.
fn transliterate(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c.to_digit(10)?,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => return None,
    })
}

impl Vin {
    /// Parses a VIN: surrounding space is trimmed and letters upper-cased.
    pub fn parse(input: &str) -> Result<Self, VinError> {
        let vin = input.trim().to_ascii_uppercase();
        let len = vin.chars().count();
        if let Some((index, character)) = vin
            .chars()
            .enumerate()
            .find(|(_, c)| transliterate(*c).is_none())
        {
            return Err(VinError::Character {
                character,
                position: index + 1,
            });
        }
        if len != 17 {
            return Err(VinError::Length(len));
        }
        Ok(Self(vin))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The check digit the other 16 characters call for (`0`–`9` or `X`).
    pub fn expected_check_digit(&self) -> char {
        expected_check_digit(&self.0)
    }

    /// `None` when position 9 holds the right check digit, else a sentence
    /// saying what it should be (stored on the vehicle as a warning).
    pub fn check_digit_problem(&self) -> Option<String> {
        let expected = self.expected_check_digit();
        let actual = self.0.chars().nth(8).unwrap_or('?');
        (actual != expected).then(|| {
            format!(
                "check digit (position 9) is `{actual}` but the other characters call for `{expected}`; \
                 common outside North America, otherwise a sign of a typo"
            )
        })
    }
}

/// Computes the check digit of a 17-character string of allowed characters.
fn expected_check_digit(vin: &str) -> char {
    let sum: u32 = vin
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| transliterate(c).unwrap_or(0) * w)
        .sum();
    match sum % 11 {
        10 => 'X',
        n => char::from_digit(n, 10).unwrap_or('0'),
    }
}

impl std::fmt::Display for Vin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Vin {
    type Error = VinError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Vin> for String {
    fn from(value: Vin) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn worked_example_from_49_cfr_565() {
        // The reference's worked example: sum 351, remainder 10, check digit X.
        let vin = Vin::parse("1M8GDM9AXKP042788").unwrap();
        assert_eq!(vin.expected_check_digit(), 'X');
        assert_eq!(vin.check_digit_problem(), None);
    }

    #[test]
    fn real_vins() {
        // Freightliner heavy truck from the reference.
        assert!(
            Vin::parse("1FUJGLDR3HLHG7532")
                .unwrap()
                .check_digit_problem()
                .is_none()
        );
        // A real Genesis VIN listed among NHTSA's exceptions: position 9 holds
        // `D`, which is never a check digit. Parsed, and warned about.
        let genesis = Vin::parse("KMTGA4SCDRU227656").unwrap();
        assert!(genesis.check_digit_problem().unwrap().contains("`D`"));
    }

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Vin::parse(" 1m8gdm9axkp042788 ").unwrap().as_str(),
            "1M8GDM9AXKP042788"
        );
    }

    #[test]
    fn rejects_bad_characters_and_lengths() {
        assert_eq!(
            Vin::parse("1M8GDM9AXKP04278O"),
            Err(VinError::Character {
                character: 'O',
                position: 17
            })
        );
        assert!(matches!(
            Vin::parse("1M8GDM9AXKP0427I8"),
            Err(VinError::Character { character: 'I', .. })
        ));
        assert!(matches!(
            Vin::parse("1M8GDM9AXKP04278Q"),
            Err(VinError::Character { character: 'Q', .. })
        ));
        assert_eq!(Vin::parse("1M8GDM9AXKP04278"), Err(VinError::Length(16)));
        assert_eq!(Vin::parse(""), Err(VinError::Length(0)));
    }

    const ALLOWED: &str = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

    fn vin_body() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(ALLOWED.chars().collect::<Vec<_>>()),
            17,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn any_allowed_17_chars_parse_and_round_trip(body in vin_body()) {
            let vin = Vin::parse(&body).unwrap();
            prop_assert_eq!(vin.as_str(), body.as_str());
            let json = serde_json::to_string(&vin).unwrap();
            prop_assert_eq!(serde_json::from_str::<Vin>(&json).unwrap(), vin);
        }

        #[test]
        fn fixing_the_check_digit_makes_it_valid(body in vin_body()) {
            let mut chars: Vec<char> = body.chars().collect();
            chars[8] = expected_check_digit(&body);
            let fixed: String = chars.into_iter().collect();
            prop_assert!(Vin::parse(&fixed).unwrap().check_digit_problem().is_none());
        }
    }
}
