//! Per-tenant fault rules: rename or annotate a code, ignore it, or mark it
//! critical. A rule matches a J1939 code by SPN, optionally narrowed to one
//! FMI and one source address, or an OBD-II code exactly; the most specific
//! matching rule applies. Rules act when faults are read and scored, so a new
//! rule also applies to faults already recorded.

use serde::{Deserialize, Serialize};

use crate::fault_code::FaultCode;
use crate::j1939::MAX_SPN;
use crate::obd::ObdCode;

text_enum!(
    /// What a rule does to the faults it matches.
    RuleAction {
        /// Keep recording the code, but leave it out of health scores.
        Ignore => "ignore",
        /// Treat the code as critical whatever its lamps or FMI say.
        Critical => "critical",
        /// Only rename and annotate it.
        Annotate => "annotate",
    }
);

/// Which codes a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    J1939 {
        spn: u32,
        /// `None`: every FMI.
        fmi: Option<u8>,
        /// `None`: every source address.
        source_address: Option<u8>,
    },
    Obd(ObdCode),
}

impl RuleMatch {
    /// A J1939 match, range-checked (the error names the field).
    pub fn j1939(
        spn: u32,
        fmi: Option<u8>,
        source_address: Option<u8>,
    ) -> Result<Self, (&'static str, String)> {
        if spn > MAX_SPN {
            return Err(("spn", format!("{spn} is above the largest SPN, {MAX_SPN}")));
        }
        if fmi.is_some_and(|f| f > 31) {
            return Err(("fmi", "must be 0–31".into()));
        }
        Ok(Self::J1939 {
            spn,
            fmi,
            source_address,
        })
    }

    /// Whether the rule matches a code, and how specifically (higher wins).
    pub fn specificity(&self, code: &FaultCode) -> Option<u8> {
        match (self, code) {
            (
                Self::J1939 {
                    spn,
                    fmi,
                    source_address,
                },
                FaultCode::J1939 {
                    spn: s,
                    fmi: f,
                    source_address: a,
                },
            ) => {
                if spn != s
                    || fmi.is_some_and(|x| x != *f)
                    || source_address.is_some_and(|x| x != *a)
                {
                    return None;
                }
                Some(1 + u8::from(fmi.is_some()) + u8::from(source_address.is_some()))
            }
            (Self::Obd(r), FaultCode::Obd(c)) if r == c => Some(3),
            _ => None,
        }
    }
}

/// A tenant's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub matches: RuleMatch,
    pub action: RuleAction,
    /// Shown instead of the library's label.
    pub label: Option<String>,
    /// The fleet's own note (what to do, who to call).
    pub note: Option<String>,
}

/// The most specific rule that matches `code` (the first of equals).
pub fn applicable<'a, R>(
    rules: &'a [R],
    code: &FaultCode,
    rule: impl Fn(&R) -> &FaultRule,
) -> Option<&'a R> {
    rules
        .iter()
        .filter_map(|r| rule(r).matches.specificity(code).map(|s| (s, r)))
        .fold(None, |best: Option<(u8, &R)>, (s, r)| match best {
            Some((b, _)) if b >= s => best,
            _ => Some((s, r)),
        })
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(m: RuleMatch, action: RuleAction) -> FaultRule {
        FaultRule {
            matches: m,
            action,
            label: None,
            note: None,
        }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = vec![
            rule(
                RuleMatch::j1939(100, None, None).unwrap(),
                RuleAction::Ignore,
            ),
            rule(
                RuleMatch::j1939(100, Some(1), None).unwrap(),
                RuleAction::Critical,
            ),
            rule(
                RuleMatch::j1939(100, Some(1), Some(3)).unwrap(),
                RuleAction::Annotate,
            ),
            rule(
                RuleMatch::Obd(ObdCode::parse("P0420").unwrap()),
                RuleAction::Ignore,
            ),
        ];
        let pick = |code: FaultCode| applicable(&rules, &code, |r| r).map(|r| r.action);
        assert_eq!(
            pick(FaultCode::j1939(100, 4, 0).unwrap()),
            Some(RuleAction::Ignore)
        );
        assert_eq!(
            pick(FaultCode::j1939(100, 1, 0).unwrap()),
            Some(RuleAction::Critical)
        );
        assert_eq!(
            pick(FaultCode::j1939(100, 1, 3).unwrap()),
            Some(RuleAction::Annotate)
        );
        assert_eq!(pick(FaultCode::j1939(110, 1, 0).unwrap()), None);
        assert_eq!(
            pick(FaultCode::Obd(ObdCode::parse("p0420").unwrap())),
            Some(RuleAction::Ignore)
        );
        assert_eq!(pick(FaultCode::Obd(ObdCode::parse("P0421").unwrap())), None);
    }

    #[test]
    fn matches_are_range_checked() {
        assert_eq!(
            RuleMatch::j1939(MAX_SPN + 1, None, None).unwrap_err().0,
            "spn"
        );
        assert_eq!(RuleMatch::j1939(1, Some(32), None).unwrap_err().0, "fmi");
    }
}
