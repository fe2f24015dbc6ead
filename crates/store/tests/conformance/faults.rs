//! Fault ingestion, fault cycles and health, on both backends.

use super::*;
use domain::fault_code::{FaultCode, FaultMessage, FaultStatus, Origin, Resolution};
use domain::health::RiskLevel;
use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps};
use domain::meter::{MeterKind, MeterUnit, meter_value};
use domain::obd::ObdCode;
use domain::vin::Vin;
use time::{Duration, OffsetDateTime};

const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;
const VIN: &str = "1M8GDM9AXKP042788";

fn truck_spec(name: &str, unit: &str, vin: Option<&str>) -> VehicleSpec {
    let mut s = spec(name, vin, Some(2019), "Mack");
    s.unit_number = Some(unit.into());
    s
}

fn lamps(red: Lamp) -> Lamps {
    Lamps {
        mil: Lamp::Off,
        red_stop: red,
        amber_warning: Lamp::On,
        protect: Lamp::Off,
    }
}

fn dtc(spn: u32, fmi: u8, oc: u8) -> Dtc {
    Dtc {
        spn,
        fmi,
        occurrences: oc,
        legacy_conversion: false,
    }
}

fn dm1(vehicle: VehicleRef, at: OffsetDateTime, red: Lamp, dtcs: Vec<Dtc>) -> TelemetryItem {
    TelemetryItem::Dm {
        vehicle,
        message: FaultMessage::Dm1,
        source_address: 0,
        observed_at: at,
        decoded: DiagnosticMessage {
            lamps: lamps(red),
            dtcs,
        },
    }
}

fn odometer(vehicle: VehicleRef, at: OffsetDateTime, km: f64) -> TelemetryItem {
    TelemetryItem::Reading {
        vehicle,
        kind: MeterKind::Odometer,
        read_at: at,
        value: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
    }
}

fn start() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::hours(1)
}

async fn cycles(s: &Store, t: TenantId, v: VehicleId) -> Vec<FaultCycle> {
    let mut all = s
        .list_fault_cycles(t, v, None, None, 500)
        .await
        .unwrap()
        .items;
    all.sort_by_key(|c| (c.code.key(), c.first_seen));
    all
}

async fn event_count(s: &Store, t: TenantId, v: VehicleId) -> usize {
    s.list_fault_events(t, v, None, 500)
        .await
        .unwrap()
        .items
        .len()
}

/// Gives a vehicle one active fault: a critical one (oil pressure low:
/// score 70, risk high) or an OBD-II code with the MIL lit (85, medium).
pub(super) async fn give_fault(s: &Store, t: TenantId, v: VehicleId, critical: bool) {
    let item = if critical {
        dm1(
            VehicleRef::Id(v),
            start(),
            Lamp::Off,
            vec![dtc(100, 1, 127)],
        )
    } else {
        TelemetryItem::Fault {
            vehicle: VehicleRef::Id(v),
            code: FaultCode::Obd(ObdCode::parse("P0420").unwrap()),
            observed_at: start(),
            occurrences: None,
            lamps: Lamps {
                mil: Lamp::On,
                ..domain::fault_code::LAMPS_OFF
            },
        }
    };
    let out = s
        .ingest_telemetry(t, &[item], Origin::Api, MAX, &ctx())
        .await
        .unwrap();
    assert_eq!(out, vec![ItemOutcome::Created]);
}

#[tokio::test]
async fn a_red_stop_truck_with_three_codes_is_critical_and_reingesting_changes_nothing() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "faults-red").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Truck 7", "T-7", Some(VIN)), &ctx())
            .await
            .unwrap()
            .id;
        let t0 = start();
        let by_unit = VehicleRef::UnitNumber("T-7".into());
        let by_vin = VehicleRef::Vin(Vin::parse(VIN).unwrap());
        let codes = vec![dtc(100, 1, 3), dtc(110, 0, 1), dtc(3251, 2, 127)];
        let batch = vec![
            odometer(VehicleRef::Id(v), t0 - Duration::minutes(5), 412_000.0),
            // A reading may name its vehicle otherwise than by id, too.
            odometer(by_unit.clone(), t0 - Duration::minutes(1), 412_010.0),
            dm1(by_unit.clone(), t0, Lamp::On, codes.clone()),
            dm1(
                by_vin.clone(),
                t0 + Duration::seconds(1),
                Lamp::On,
                codes.clone(),
            ),
            dm1(
                by_unit.clone(),
                t0 + Duration::seconds(2),
                Lamp::On,
                codes.clone(),
            ),
        ];
        let first = s
            .ingest_telemetry(t.id, &batch, Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        assert_eq!(first, vec![ItemOutcome::Created; 5], "{:?}", db.kind);

        let all = cycles(s, t.id, v).await;
        assert_eq!(all.len(), 3, "{:?}: one cycle per code", db.kind);
        for c in &all {
            assert_eq!(c.status, FaultStatus::Active);
            assert_eq!(c.reports, 3);
            assert_eq!((c.first_seen, c.last_seen), (t0, t0 + Duration::seconds(2)));
            assert_eq!(c.lamps.red_stop, Lamp::On);
            assert_eq!(c.odometer_first_km, Some(412_010.0));
            assert_eq!(c.severity, domain::faults::Severity::Critical);
        }
        let oil = all
            .iter()
            .find(|c| c.code == FaultCode::j1939(100, 1, 0).unwrap())
            .unwrap();
        assert_eq!(oil.occurrences, Some(3));
        let unknown_oc = all
            .iter()
            .find(|c| c.code == FaultCode::j1939(3251, 2, 0).unwrap())
            .unwrap();
        assert_eq!(unknown_oc.occurrences, None, "127 means not available");
        assert_eq!(event_count(s, t.id, v).await, 9);

        let (health, _) = s.vehicle_health(t.id, v).await.unwrap();
        assert_eq!(health.risk, RiskLevel::Critical, "{:?}", db.kind);
        assert!(
            health
                .factors
                .iter()
                .any(|f| f.description.contains("red stop"))
        );
        assert_eq!(
            health.factors.iter().filter(|f| f.kind == "fault").count(),
            3
        );
        let listed = s.vehicle(t.id, v).await.unwrap();
        assert_eq!(
            listed.meters.odometer_km,
            Some(412_010.0),
            "the reading by unit number"
        );
        assert_eq!(
            (listed.health.risk, listed.health.score),
            (health.risk, health.score)
        );

        let again = s
            .ingest_telemetry(t.id, &batch, Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        assert_eq!(again, vec![ItemOutcome::Duplicate; 5], "{:?}", db.kind);
        assert_eq!(
            cycles(s, t.id, v).await,
            all,
            "{:?}: nothing changed",
            db.kind
        );
        assert_eq!(event_count(s, t.id, v).await, 9);
    }
}

/// A batch that repeats an event (the same DM1 at the same second) stores
/// it once: the first item is created, its repeat a duplicate, and a later
/// batch's new event beside a stored one is told apart.
#[tokio::test]
async fn an_event_repeated_inside_a_batch_is_stored_once() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "faults-repeat").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Truck 9", "T-9", None), &ctx())
            .await
            .unwrap()
            .id;
        let t0 = start();
        let me = VehicleRef::Id(v);
        let codes = vec![dtc(110, 0, 1), dtc(3251, 2, 4)];
        let batch = vec![
            dm1(me.clone(), t0, Lamp::On, codes.clone()),
            dm1(me.clone(), t0, Lamp::On, codes.clone()),
        ];
        let first = s
            .ingest_telemetry(t.id, &batch, Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        let kind = db.kind;
        assert_eq!(
            first,
            vec![ItemOutcome::Created, ItemOutcome::Duplicate],
            "{kind:?}"
        );
        assert_eq!(
            event_count(s, t.id, v).await,
            2,
            "{kind:?}: one event a code"
        );
        assert!(
            cycles(s, t.id, v).await.iter().all(|c| c.reports == 1),
            "{kind:?}"
        );

        let later = vec![
            dm1(me.clone(), t0, Lamp::On, codes.clone()),
            dm1(
                me.clone(),
                t0 + Duration::seconds(10),
                Lamp::On,
                codes.clone(),
            ),
        ];
        let second = s
            .ingest_telemetry(t.id, &later, Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        assert_eq!(
            second,
            vec![ItemOutcome::Duplicate, ItemOutcome::Created],
            "{kind:?}"
        );
        assert_eq!(event_count(s, t.id, v).await, 4, "{kind:?}");
        assert!(
            cycles(s, t.id, v).await.iter().all(|c| c.reports == 2),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn cycles_go_inactive_come_back_and_reopen_after_resolution() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "faults-life").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Truck 8", "T-8", None), &ctx())
            .await
            .unwrap()
            .id;
        let id = || VehicleRef::Id(v);
        let t0 = start();
        let sec = |n: i64| t0 + Duration::seconds(n);
        let a = dtc(190, 2, 1);
        let b = dtc(97, 3, 1);
        let mut batch = vec![dm1(id(), sec(0), Lamp::Off, vec![a, b])];
        for n in 1..=3 {
            batch.push(dm1(id(), sec(n), Lamp::Off, vec![a]));
        }
        s.ingest_telemetry(t.id, &batch, Origin::Cli, MAX, &ctx())
            .await
            .unwrap();
        let key_b = FaultCode::j1939(97, 3, 0).unwrap().key();
        let status = |all: &[FaultCycle], key: &str| {
            all.iter()
                .filter(|c| c.code.key() == key)
                .map(|c| c.status)
                .collect::<Vec<_>>()
        };
        let all = cycles(s, t.id, v).await;
        assert_eq!(
            status(&all, &key_b),
            vec![FaultStatus::Inactive],
            "{:?}: three missed DM1 reports",
            db.kind
        );
        let b_cycle = all.iter().find(|c| c.code.key() == key_b).unwrap().clone();
        assert_eq!(b_cycle.inactive_since, Some(sec(3)));
        let key_a = FaultCode::j1939(190, 2, 0).unwrap().key();
        assert_eq!(status(&all, &key_a), vec![FaultStatus::Active]);

        // B comes back: the same cycle is active again.
        s.ingest_telemetry(
            t.id,
            &[dm1(id(), sec(4), Lamp::Off, vec![a, b])],
            Origin::Cli,
            MAX,
            &ctx(),
        )
        .await
        .unwrap();
        let all = cycles(s, t.id, v).await;
        let b_again = all.iter().find(|c| c.code.key() == key_b).unwrap();
        assert_eq!(
            (b_again.id, b_again.status),
            (b_cycle.id, FaultStatus::Active)
        );
        assert_eq!(b_again.reports, 2);

        // Resolved by hand: health improves; a repeat is a conflict.
        let score_before = s.vehicle_health(t.id, v).await.unwrap().0.score;
        let a_cycle = all.iter().find(|c| c.code.key() == key_a).unwrap();
        let how = Resolve {
            resolution: Resolution::Manual,
            service_record_id: None,
            note: Some("replaced the sensor".into()),
            by: None,
        };
        let resolved = s
            .resolve_fault(t.id, v, a_cycle.id, &how, &ctx())
            .await
            .unwrap();
        assert_eq!(resolved.status, FaultStatus::Resolved);
        assert_eq!(
            resolved.resolution_note.as_deref(),
            Some("replaced the sensor")
        );
        let score_after = s.vehicle_health(t.id, v).await.unwrap().0.score;
        assert!(score_after > score_before, "{score_before} → {score_after}");
        assert!(matches!(
            s.resolve_fault(t.id, v, a_cycle.id, &how, &ctx()).await,
            Err(StoreError::Conflict {
                field: "status",
                ..
            })
        ));
        let by_service = Resolve {
            resolution: Resolution::Service,
            ..how.clone()
        };
        assert!(matches!(
            s.resolve_fault(t.id, v, b_again.id, &by_service, &ctx())
                .await,
            Err(StoreError::Rule {
                field: "service_record_id",
                ..
            })
        ));

        // An old sighting stays history; a new one opens a second cycle.
        let later = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::seconds(5);
        s.ingest_telemetry(
            t.id,
            &[
                dm1(id(), sec(5), Lamp::Off, vec![a, b]),
                dm1(id(), later, Lamp::Off, vec![a, b]),
            ],
            Origin::Cli,
            MAX,
            &ctx(),
        )
        .await
        .unwrap();
        let all = cycles(s, t.id, v).await;
        assert_eq!(
            status(&all, &key_a),
            vec![FaultStatus::Resolved, FaultStatus::Active],
            "{:?}",
            db.kind
        );
        let reopened = all
            .iter()
            .find(|c| c.code.key() == key_a && c.status == FaultStatus::Active)
            .unwrap();
        assert_eq!((reopened.first_seen, reopened.reports), (later, 1));
        let active = s
            .list_fault_cycles(t.id, v, Some(FaultStatus::Active), None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(active.len(), 2);
    }
}

#[tokio::test]
async fn bad_items_are_refused_by_field_and_faults_age_out() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "faults-bad").await;
        let other = tenant(s, "faults-other").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Car", "C-1", None), &ctx())
            .await
            .unwrap()
            .id;
        for name in ["Twin 1", "Twin 2"] {
            s.create_vehicle(t.id, &truck_spec(name, "TWIN", None), &ctx())
                .await
                .unwrap();
        }
        let foreign = s
            .create_vehicle(other.id, &truck_spec("Theirs", "X-1", None), &ctx())
            .await
            .unwrap()
            .id;
        let old = start() - Duration::days(2);
        let p0420 = TelemetryItem::Fault {
            vehicle: VehicleRef::Id(v),
            code: FaultCode::Obd(ObdCode::parse("P0420").unwrap()),
            observed_at: old,
            occurrences: None,
            lamps: Lamps {
                mil: Lamp::On,
                ..domain::fault_code::LAMPS_OFF
            },
        };
        let batch = vec![
            p0420.clone(),
            dm1(
                VehicleRef::Vin(Vin::parse(VIN).unwrap()),
                old,
                Lamp::Off,
                vec![dtc(100, 1, 1)],
            ),
            dm1(
                VehicleRef::UnitNumber("TWIN".into()),
                old,
                Lamp::Off,
                vec![dtc(100, 1, 1)],
            ),
            dm1(
                VehicleRef::Id(foreign),
                old,
                Lamp::Off,
                vec![dtc(100, 1, 1)],
            ),
            odometer(VehicleRef::Id(v), old, 1000.0),
            odometer(VehicleRef::Id(v), old + Duration::hours(1), 900.0),
        ];
        let out = s
            .ingest_telemetry(t.id, &batch, Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        assert_eq!(out[0], ItemOutcome::Created);
        assert!(
            matches!(&out[1], ItemOutcome::Rejected { field: "vin", .. }),
            "{:?}",
            out[1]
        );
        assert!(
            matches!(&out[2], ItemOutcome::Rejected { field: "unit_number", message } if message.contains("more than one")),
            "{:?}",
            out[2]
        );
        assert!(
            matches!(
                &out[3],
                ItemOutcome::Rejected {
                    field: "vehicle_id",
                    ..
                }
            ),
            "another tenant's vehicle is no vehicle: {:?}",
            out[3]
        );
        assert_eq!(out[4], ItemOutcome::Created);
        assert!(
            matches!(&out[5], ItemOutcome::Rejected { field: "value", .. }),
            "{:?}",
            out[5]
        );
        assert_eq!(event_count(s, t.id, v).await, 1);
        assert_eq!(event_count(s, other.id, foreign).await, 0);

        let all = cycles(s, t.id, v).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].severity, domain::faults::Severity::Major, "MIL lit");
        assert_eq!(all[0].status, FaultStatus::Active);
        // Not reported for two days: the hourly pass marks it inactive.
        s.refresh_fleet_health(OffsetDateTime::now_utc())
            .await
            .unwrap();
        let all = cycles(s, t.id, v).await;
        assert_eq!(all[0].status, FaultStatus::Inactive, "{:?}", db.kind);
        let health = s.vehicle_health(t.id, v).await.unwrap().0;
        assert_eq!(health.risk, RiskLevel::Low);
    }
}

#[tokio::test]
async fn fault_partitions_are_tenant_scoped_too() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let s = &db.store;
    let t = tenant(s, "faults-rls").await;
    let v = s
        .create_vehicle(t.id, &truck_spec("Truck", "R-1", None), &ctx())
        .await
        .unwrap()
        .id;
    let at = start();
    s.ingest_telemetry(
        t.id,
        &[dm1(VehicleRef::Id(v), at, Lamp::Off, vec![dtc(100, 1, 1)])],
        Origin::Api,
        MAX,
        &ctx(),
    )
    .await
    .unwrap();
    let partition = format!("fault_events_{:04}_{:02}", at.year(), u8::from(at.month()));
    for (tenant, expected) in [(Some(t.id), 1), (None, 0)] {
        let Tx::Postgres(mut tx) = s.begin(Mode::Read, tenant).await.unwrap() else {
            unreachable!()
        };
        let parent: i64 = sqlx::query_scalar("SELECT count(*) FROM fault_events")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(parent, expected);
        // The partition itself: either no privilege, or its own RLS policy.
        let direct = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {partition}"
        )))
        .fetch_one(&mut *tx)
        .await;
        match direct {
            Ok(n) => assert!(n <= expected, "partition leaked {n} rows"),
            Err(e) => assert!(e.to_string().contains("permission denied"), "{e}"),
        }
    }
}

#[tokio::test]
async fn tenant_rules_ignore_or_escalate_faults_in_the_score() {
    use domain::fault_rules::{FaultRule, RuleAction, RuleMatch};
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "faults-rules").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Truck 9", "T-9", None), &ctx())
            .await
            .unwrap()
            .id;
        // A minor code (sensor circuit), lamps off, no occurrence count.
        s.ingest_telemetry(
            t.id,
            &[TelemetryItem::Dm {
                vehicle: VehicleRef::Id(v),
                message: FaultMessage::Dm1,
                source_address: 0,
                observed_at: start(),
                decoded: DiagnosticMessage {
                    lamps: domain::fault_code::LAMPS_OFF,
                    dtcs: vec![dtc(97, 3, 127)],
                },
            }],
            Origin::Api,
            MAX,
            &ctx(),
        )
        .await
        .unwrap();
        let score = |h: domain::health::Health| (h.score, h.risk);
        assert_eq!(
            score(s.vehicle_health(t.id, v).await.unwrap().0),
            (95, RiskLevel::Low)
        );

        let critical = s
            .create_fault_rule(
                t.id,
                &FaultRule {
                    matches: RuleMatch::j1939(97, None, None).unwrap(),
                    action: RuleAction::Critical,
                    label: Some("Water in fuel".into()),
                    note: Some("Drain the separator".into()),
                },
                &ctx(),
            )
            .await
            .unwrap();
        let (h, _) = s.vehicle_health(t.id, v).await.unwrap();
        assert_eq!(
            score(h.clone()),
            (70, RiskLevel::High),
            "{:?}: rescored at once",
            db.kind
        );
        assert!(h.factors[0].description.contains("Water in fuel"), "{h:?}");

        let duplicate = s
            .create_fault_rule(
                t.id,
                &FaultRule {
                    matches: RuleMatch::j1939(97, None, None).unwrap(),
                    action: RuleAction::Ignore,
                    label: None,
                    note: None,
                },
                &ctx(),
            )
            .await;
        assert!(
            matches!(duplicate, Err(StoreError::Conflict { field: "spn", .. })),
            "{:?}: {duplicate:?}",
            db.kind
        );

        s.update_fault_rule(t.id, critical.id, RuleAction::Ignore, None, None, &ctx())
            .await
            .unwrap();
        assert_eq!(
            score(s.vehicle_health(t.id, v).await.unwrap().0),
            (100, RiskLevel::Low)
        );
        let other = tenant(s, "faults-rules-other").await;
        assert!(s.list_fault_rules(other.id).await.unwrap().is_empty());
        assert!(matches!(
            s.delete_fault_rule(other.id, critical.id, &ctx()).await,
            Err(StoreError::NotFound)
        ));
        s.delete_fault_rule(t.id, critical.id, &ctx())
            .await
            .unwrap();
        assert_eq!(
            score(s.vehicle_health(t.id, v).await.unwrap().0),
            (95, RiskLevel::Low)
        );
    }
}

#[tokio::test]
async fn the_fleet_overview_adds_up() {
    use domain::preferences::CurrencyCode;
    use domain::service::ExpenseCategory;
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "overview").await;
        let mut ids = vec![];
        for i in 0..5 {
            let v = s
                .create_vehicle(
                    t.id,
                    &truck_spec(&format!("Truck {i}"), &format!("O-{i}"), None),
                    &ctx(),
                )
                .await
                .unwrap();
            ids.push(v.id);
        }
        give_fault(s, t.id, ids[0], true).await;
        give_fault(s, t.id, ids[1], false).await;
        let today = OffsetDateTime::now_utc().date();
        let last_month = today.replace_day(1).unwrap() - Duration::days(1);
        let mut expenses = vec![];
        for (on, amount, currency) in [
            (today, 12_000, "USD"),
            (today, 3_000, "EUR"),
            (last_month, 5_000, "USD"),
        ] {
            let e = s
                .create_expense(
                    t.id,
                    &NewExpense {
                        vehicle_id: ids[2],
                        category: ExpenseCategory::ALL[0],
                        spent_on: on,
                        amount_minor: amount,
                        currency: CurrencyCode::parse(currency).unwrap(),
                        recurrence: None,
                        notes: None,
                    },
                    &ctx(),
                )
                .await
                .unwrap();
            expenses.push(e.id);
        }
        let other = tenant(s, "overview-other").await;
        s.create_vehicle(other.id, &truck_spec("Theirs", "X", None), &ctx())
            .await
            .unwrap();

        let o = s.fleet_overview(t.id, today).await.unwrap();
        assert_eq!(o.vehicles, 5, "{:?}", db.kind);
        assert_eq!(o.vehicles_by_status.get("active"), Some(&5));
        assert_eq!(o.risk.get("high"), Some(&1), "{o:?}");
        // The OBD code with its MIL lit scores 85: still low risk.
        assert_eq!(o.risk.get("medium"), Some(&0));
        assert_eq!(o.risk.get("low"), Some(&4));
        assert_eq!(o.risk.get("critical"), Some(&0));
        assert_eq!(o.health_bands.get("80-100"), Some(&4), "{o:?}");
        assert_eq!(o.health_bands.get("60-79"), Some(&1));
        assert_eq!(
            (
                o.active_faults,
                o.active_critical_faults,
                o.vehicles_with_critical_faults
            ),
            (2, 1, 1)
        );
        assert_eq!(o.spend_this_month.get("USD"), Some(&12_000), "{o:?}");
        assert_eq!(o.spend_this_month.get("EUR"), Some(&3_000));
        assert_eq!(o.spend_last_month.get("USD"), Some(&5_000));
        assert!(o.average_health.unwrap() < 100.0);
        assert_eq!(s.fleet_overview(other.id, today).await.unwrap().vehicles, 1);
        // The monthly spend rollup follows deletes too.
        s.delete_expense(t.id, ids[2], expenses[1], &ctx())
            .await
            .unwrap();
        let o = s.fleet_overview(t.id, today).await.unwrap();
        assert_eq!(o.spend_this_month.get("EUR"), None, "{o:?}");
        assert_eq!(o.spend_this_month.get("USD"), Some(&12_000));

        // A server's overview cache serves the computed figures for its
        // lifetime, per tenant, and says when they were computed.
        let cached = s
            .clone()
            .with_overview_cache(std::time::Duration::from_secs(60));
        let first = cached.fleet_overview(t.id, today).await.unwrap();
        assert_eq!(first.vehicles, 5);
        s.create_vehicle(t.id, &truck_spec("Truck 5", "O-5", None), &ctx())
            .await
            .unwrap();
        let again = cached.fleet_overview(t.id, today).await.unwrap();
        assert_eq!(again, first, "{:?}: served from the cache", db.kind);
        assert_eq!(
            cached
                .fleet_overview(other.id, today)
                .await
                .unwrap()
                .vehicles,
            1
        );
        let fresh = s.fleet_overview(t.id, today).await.unwrap();
        assert_eq!(fresh.vehicles, 6, "without the cache: computed");
        assert!(fresh.computed_at > first.computed_at);
        let tomorrow = today.next_day().unwrap();
        assert_eq!(
            cached
                .fleet_overview(t.id, tomorrow)
                .await
                .unwrap()
                .vehicles,
            6,
            "another day is another overview"
        );
    }
}

/// Every fault cycle of one vehicle resolved at once (each its own
/// transaction, on a multi-threaded runtime): every resolution succeeds and
/// the vehicle's stored health counts all of them, whichever commits last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_resolved_at_once_all_count_in_the_health() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let kind = db.kind;
        let t = tenant(s, "resolve-race").await;
        let v = s
            .create_vehicle(t.id, &truck_spec("Resolved", "R1", None), &ctx())
            .await
            .unwrap()
            .id;
        let codes = vec![
            dtc(100, 1, 1),
            dtc(110, 0, 1),
            dtc(190, 2, 1),
            dtc(91, 3, 1),
            dtc(84, 2, 1),
            dtc(96, 5, 1),
        ];
        let item = dm1(VehicleRef::Id(v), start(), Lamp::On, codes);
        s.ingest_telemetry(t.id, &[item], Origin::Api, MAX, &ctx())
            .await
            .unwrap();
        let open = cycles(s, t.id, v).await;
        assert_eq!(open.len(), 6, "{kind:?}");
        assert!(s.vehicle_health(t.id, v).await.unwrap().0.score < 100);
        let mut writes = tokio::task::JoinSet::new();
        for cycle in open {
            let (s, tenant) = (s.clone(), t.id);
            writes.spawn(async move {
                let how = Resolve {
                    resolution: Resolution::Manual,
                    service_record_id: None,
                    note: None,
                    by: None,
                };
                s.resolve_fault(tenant, v, cycle.id, &how, &ctx()).await
            });
        }
        crate::concurrent_writes::all_succeed(writes, kind).await;
        assert!(
            cycles(s, t.id, v)
                .await
                .iter()
                .all(|c| c.status == FaultStatus::Resolved),
            "{kind:?}"
        );
        let (health, _) = s.vehicle_health(t.id, v).await.unwrap();
        assert_eq!(health.score, 100, "{kind:?}: {health:?}");
    }
}
