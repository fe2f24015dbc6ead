//! A vehicle's health score (0–100) and risk level, with the factors that
//! produced them.
//!
//! The score starts at 100 and loses points per factor:
//!
//! - each open fault: its severity's base points (critical 30, major 15,
//!   minor 5, info 1), times a recency weight (seen in the last 24 h: 1.0,
//!   last 7 days: 0.75, older: 0.5), times an occurrence weight
//!   (1 + min(count, 20) / 40, so at most 1.5); a fault the vehicle has
//!   stopped reporting (inactive, not yet resolved) counts a quarter;
//! - a lit red stop lamp on an active fault: 20 more, once; an amber warning
//!   or protect lamp: 5 more, once;
//! - overdue maintenance: 5 per overdue schedule, at most 20.
//!
//! The risk level follows the score (≥ 80 low, ≥ 60 medium, ≥ 40 high, else
//! critical), with two floors that the score alone could hide: a red stop
//! lamp on an active fault is always CRITICAL, and an active critical fault
//! is at least HIGH. Predicted failure probability joins as a factor when
//! predictions exist.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::faults::Severity;

text_enum!(
    /// How urgently a vehicle needs attention.
    RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

impl RiskLevel {
    /// Higher is worse (what the fleet list sorts by).
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
            Self::Critical => 3,
        }
    }
}

/// One open fault, as the score sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultInput {
    /// What the explanation calls it (e.g. the code's label).
    pub label: String,
    pub severity: Severity,
    /// Still being reported (false: inactive, not yet resolved).
    pub active: bool,
    pub red_stop_lamp: bool,
    /// Amber warning or protect lamp lit.
    pub amber_lamp: bool,
    pub last_seen: OffsetDateTime,
    /// The ECU's occurrence count, when it sent one.
    pub occurrences: Option<u8>,
}

/// Everything the score depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthInputs {
    pub faults: Vec<FaultInput>,
    pub overdue_schedules: u32,
    pub now: OffsetDateTime,
}

/// One contribution to the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Factor {
    /// `fault`, `lamp` or `maintenance`.
    pub kind: String,
    pub description: String,
    /// Points taken off the score (rounded to 0.1).
    pub points: f64,
}

/// A score, its risk level and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub score: u8,
    pub risk: RiskLevel,
    /// Largest first.
    pub factors: Vec<Factor>,
    /// Why the risk level is above what the score gives, if it is.
    pub risk_floor: Option<String>,
}

fn base_points(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => 30.0,
        Severity::Major => 15.0,
        Severity::Minor => 5.0,
        Severity::Info => 1.0,
    }
}

fn recency_weight(age: time::Duration) -> f64 {
    if age <= time::Duration::hours(24) {
        1.0
    } else if age <= time::Duration::days(7) {
        0.75
    } else {
        0.5
    }
}

fn occurrence_weight(occurrences: Option<u8>) -> f64 {
    // 127 means "not available": no information, no extra weight.
    match occurrences {
        Some(n) if n < 127 => 1.0 + f64::from(n.min(20)) / 40.0,
        _ => 1.0,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn risk_from_score(score: u8) -> RiskLevel {
    match score {
        80.. => RiskLevel::Low,
        60..80 => RiskLevel::Medium,
        40..60 => RiskLevel::High,
        _ => RiskLevel::Critical,
    }
}

/// Computes a vehicle's health from its open faults and maintenance state.
pub fn assess(inputs: &HealthInputs) -> Health {
    let mut factors = Vec::new();
    for f in &inputs.faults {
        let age = inputs.now - f.last_seen;
        let status_weight = if f.active { 1.0 } else { 0.25 };
        let points = base_points(f.severity)
            * recency_weight(age)
            * occurrence_weight(f.occurrences)
            * status_weight;
        let state = if f.active { "active" } else { "inactive" };
        factors.push(Factor {
            kind: "fault".into(),
            description: format!("{} ({}, {state})", f.label, f.severity.as_str()),
            points: round1(points),
        });
    }
    let active = || inputs.faults.iter().filter(|f| f.active);
    let red_stop = active().any(|f| f.red_stop_lamp);
    if red_stop {
        factors.push(Factor {
            kind: "lamp".into(),
            description: "red stop lamp lit".into(),
            points: 20.0,
        });
    } else if active().any(|f| f.amber_lamp) {
        factors.push(Factor {
            kind: "lamp".into(),
            description: "amber warning or protect lamp lit".into(),
            points: 5.0,
        });
    }
    if inputs.overdue_schedules > 0 {
        factors.push(Factor {
            kind: "maintenance".into(),
            description: format!(
                "{} maintenance schedule{} overdue",
                inputs.overdue_schedules,
                if inputs.overdue_schedules == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            points: f64::from(inputs.overdue_schedules.min(4) * 5),
        });
    }
    factors.sort_by(|a, b| b.points.total_cmp(&a.points));
    let lost: f64 = factors.iter().map(|f| f.points).sum();
    // Clamped to 0..=100 first, so the cast cannot truncate.
    let score = (100.0 - lost).clamp(0.0, 100.0).round() as u8;
    let mut risk = risk_from_score(score);
    let mut risk_floor = None;
    if red_stop && risk < RiskLevel::Critical {
        risk = RiskLevel::Critical;
        risk_floor = Some("an active fault lit the red stop lamp".into());
    } else if active().any(|f| f.severity == Severity::Critical) && risk < RiskLevel::High {
        risk = RiskLevel::High;
        risk_floor = Some("an active fault is critical".into());
    }
    Health {
        score,
        risk,
        factors,
        risk_floor,
    }
}

impl PartialOrd for RiskLevel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RiskLevel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn fault(severity: Severity, hours_ago: i64) -> FaultInput {
        FaultInput {
            label: "test".into(),
            severity,
            active: true,
            red_stop_lamp: false,
            amber_lamp: false,
            last_seen: now() - time::Duration::hours(hours_ago),
            occurrences: None,
        }
    }

    fn health(faults: Vec<FaultInput>, overdue: u32) -> Health {
        assess(&HealthInputs {
            faults,
            overdue_schedules: overdue,
            now: now(),
        })
    }

    #[test]
    fn a_clean_vehicle_is_perfect() {
        let h = health(vec![], 0);
        assert_eq!((h.score, h.risk), (100, RiskLevel::Low));
        assert!(h.factors.is_empty());
    }

    #[test]
    fn a_red_stop_lamp_with_three_faults_is_critical_and_explained() {
        let mut faults = vec![
            fault(Severity::Critical, 1),
            fault(Severity::Major, 1),
            fault(Severity::Minor, 1),
        ];
        faults[0].red_stop_lamp = true;
        let h = health(faults, 0);
        // 100 − 30 − 15 − 5 − 20 (lamp)
        assert_eq!(h.score, 30);
        assert_eq!(h.risk, RiskLevel::Critical);
        assert_eq!(h.factors.len(), 4);
        assert_eq!(h.factors[0].points, 30.0, "largest first");
        assert!(h.factors.iter().any(|f| f.kind == "lamp"));
    }

    #[test]
    fn the_red_stop_lamp_floors_the_risk_even_with_a_high_score() {
        let mut f = fault(Severity::Info, 1);
        f.red_stop_lamp = true;
        let h = health(vec![f], 0);
        assert_eq!(h.score, 79);
        assert_eq!(h.risk, RiskLevel::Critical);
        assert!(h.risk_floor.is_some());
    }

    #[test]
    fn an_active_critical_fault_is_at_least_high() {
        let h = health(vec![fault(Severity::Critical, 1)], 0);
        assert_eq!(h.score, 70);
        assert_eq!(h.risk, RiskLevel::High);
        let mut inactive = fault(Severity::Critical, 1);
        inactive.active = false;
        let h = health(vec![inactive], 0);
        assert_eq!(h.risk, RiskLevel::Low, "stopped reporting: no floor");
        assert_eq!(h.score, 93, "a quarter of 30, rounded");
    }

    #[test]
    fn recency_and_occurrences_weigh_in() {
        assert_eq!(health(vec![fault(Severity::Major, 48)], 0).score, 89);
        assert_eq!(health(vec![fault(Severity::Major, 24 * 30)], 0).score, 93);
        let mut frequent = fault(Severity::Major, 1);
        frequent.occurrences = Some(100);
        assert_eq!(health(vec![frequent.clone()], 0).score, 78, "1.5 × 15");
        frequent.occurrences = Some(127);
        assert_eq!(health(vec![frequent], 0).score, 85, "127 = not available");
    }

    #[test]
    fn overdue_maintenance_is_capped() {
        assert_eq!(health(vec![], 1).score, 95);
        assert_eq!(health(vec![], 9).score, 80);
        assert_eq!(health(vec![], 9).factors[0].kind, "maintenance");
    }

    proptest! {
        #[test]
        fn the_score_stays_in_range_and_more_faults_never_help(
            severities in proptest::collection::vec(0u8..4, 0..12),
            hours in 0i64..2000,
            overdue in 0u32..50,
        ) {
            let faults: Vec<FaultInput> = severities
                .iter()
                .map(|s| fault(Severity::ALL[usize::from(*s)], hours))
                .collect();
            let all = health(faults.clone(), overdue);
            prop_assert!(all.score <= 100);
            if let Some((_, fewer)) = faults.split_last() {
                let less = health(fewer.to_vec(), overdue);
                prop_assert!(less.score >= all.score);
                prop_assert!(less.risk <= all.risk);
            }
        }
    }
}
