//! Telematics sync against local servers that answer like Traccar and a
//! Samsara-shaped feed (request and response shapes, auth, paging, errors).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::fault_code::FaultStatus;
use domain::health::RiskLevel;
use domain::sealed::Keyring;
use domain::telematics::{Provider, SyncStatus, SyncTrigger};
use domain::vehicle::{
    FuelType, OdometerUnit, VehicleDraft, VehicleSpec, VehicleStatus, VehicleType,
};
use motorpool_jobs::Runner;
use motorpool_jobs::telematics::{self, SyncContext};
use serde_json::{Value, json};
use store::{AuditContext, NewConnection, Store, Tenant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const VIN: &str = "1M8GDM9AXKP042788";

fn ctx() -> AuditContext {
    AuditContext::system("telematics test")
}

async fn fleet(store: &Store, slug: &str) -> (Tenant, store::Vehicle) {
    let tenant = store
        .create_tenant(
            &domain::tenancy::Slug::parse(slug).unwrap(),
            slug,
            domain::tenancy::TenantKind::Fleet,
            &ctx(),
        )
        .await
        .unwrap();
    let spec = VehicleSpec::validate(
        VehicleDraft {
            name: "Truck 100".into(),
            unit_number: Some("T-100".into()),
            vin: None,
            plate: None,
            year: None,
            make: None,
            model: None,
            trim: None,
            vehicle_type: VehicleType::HeavyTruck,
            fuel_types: vec![FuelType::Diesel],
            odometer_unit: OdometerUnit::Kilometres,
            in_service_date: None,
            status: VehicleStatus::Active,
            tags: vec![],
            custom_fields: Default::default(),
        },
        2026,
    )
    .unwrap();
    let vehicle = store
        .create_vehicle(tenant.id, &spec, &ctx())
        .await
        .unwrap();
    (tenant, vehicle)
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn connect(
    store: &Store,
    keyring: &Keyring,
    tenant: &Tenant,
    provider: Provider,
    base_url: &str,
    token: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    let creds = serde_json::to_vec(&json!({"token": token})).unwrap();
    store
        .create_connection(
            tenant.id,
            &NewConnection {
                id,
                name: format!("{provider:?} {token} {base_url}"),
                provider,
                base_url: base_url.into(),
                settings: Default::default(),
                credentials: Some(keyring.seal(&creds, id.as_bytes()).unwrap()),
                webhook_secret: keyring.seal(b"whsec_x", id.as_bytes()).unwrap(),
                sync_interval_minutes: 15,
                enabled: true,
            },
            &ctx(),
        )
        .await
        .unwrap()
        .id
}

#[derive(Clone)]
struct Fake {
    token: &'static str,
    start: OffsetDateTime,
    calls: Arc<AtomicU32>,
    limited: bool,
}

/// The provider's refusal, if it refuses: rate limited, or a wrong token.
fn refusal(fake: &Fake, headers: &HeaderMap) -> Option<Response> {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    if fake.limited {
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "30")],
                "slow down",
            )
                .into_response(),
        );
    }
    let expected = format!("Bearer {}", fake.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Some((StatusCode::UNAUTHORIZED, "Unauthorized").into_response());
    }
    None
}

/// Traccar: two devices; device 1 is the truck (named by its unit number,
/// VIN in its positions), reporting every 5 minutes for the last 2 hours.
fn traccar(fake: Fake) -> axum::Router {
    async fn devices(State(f): State<Fake>, headers: HeaderMap) -> Response {
        if let Some(r) = refusal(&f, &headers) {
            return r;
        }
        axum::Json(json!([
            {"id": 1, "name": "T-100", "uniqueId": "861234", "status": "online", "attributes": {}},
            {"id": 2, "name": "Loaner", "uniqueId": "861235", "status": "offline", "attributes": {}}
        ]))
        .into_response()
    }
    async fn positions(
        State(f): State<Fake>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if let Some(r) = refusal(&f, &headers) {
            return r;
        }
        let parse =
            |k: &str| OffsetDateTime::parse(q.get(k).map(String::as_str).unwrap_or(""), &Rfc3339);
        let (Ok(from), Ok(to), Some(device)) = (parse("from"), parse("to"), q.get("deviceId"))
        else {
            return (
                StatusCode::BAD_REQUEST,
                "deviceId, from and to are required",
            )
                .into_response();
        };
        let mut out = vec![];
        if device == "1" {
            for i in 0..24 {
                let at = f.start + time::Duration::minutes(5 * i);
                if at <= from || at > to {
                    continue;
                }
                let mut attributes = json!({
                    "odometer": 100_000_000.0 + 5_000.0 * i as f64,
                    "hours": 36_000_000_000.0 + 300_000.0 * i as f64,
                    "vin": VIN,
                    "ignition": true
                });
                if i >= 20 {
                    attributes["dtcs"] = json!("P0420 P0171");
                }
                out.push(json!({
                    "id": 1000 + i, "deviceId": 1, "protocol": "osmand",
                    "fixTime": at.format(&Rfc3339).unwrap(), "valid": true,
                    "latitude": 52.0, "longitude": 4.0, "attributes": attributes
                }));
            }
        }
        axum::Json(Value::Array(out)).into_response()
    }
    axum::Router::new()
        .route("/api/devices", get(devices))
        .route("/api/positions", get(positions))
        .with_state(fake)
}

#[tokio::test]
async fn a_traccar_source_syncs_odometer_and_faults_on_a_schedule_with_a_sync_log() {
    for db in store::testing::TestDatabase::all().await {
        let store = &db.store;
        let keyring = Arc::new(Keyring::new([9; 32], vec![]));
        let sync_ctx = SyncContext::new(keyring.clone());
        let (tenant, truck) = fleet(store, "traccar-fleet").await;
        let start =
            OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::hours(2);
        let fake = Fake {
            token: "trc-token",
            start,
            calls: Arc::default(),
            limited: false,
        };
        let base = serve(traccar(fake.clone())).await;
        let conn = connect(
            store,
            &keyring,
            &tenant,
            Provider::Traccar,
            &base,
            "trc-token",
        )
        .await;

        // The per-minute schedule finds the new connection due and queues its sync.
        telematics::schedule(store.clone()).await.unwrap();
        telematics::schedule(store.clone()).await.unwrap();
        let runner = Runner::new(store.clone()).handle(telematics::SYNC_KIND, {
            let c = sync_ctx.clone();
            move |s, p| telematics::run(s, c.clone(), p)
        });
        assert!(runner.run_one().await.unwrap());
        assert!(
            !runner.run_one().await.unwrap(),
            "{:?}: one job per slot",
            db.kind
        );

        let logs = store
            .list_sync_logs(tenant.id, conn, None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(logs.len(), 1);
        let log = &logs[0];
        assert_eq!(
            (log.status, log.trigger),
            (SyncStatus::Completed, SyncTrigger::Schedule),
            "{log:?}"
        );
        assert_eq!(log.vehicles, 1, "the loaner has no vehicle");
        // Positions every 5 minutes, sampled every 15 (and the latest): 9 per meter.
        assert_eq!(log.readings, 18, "{log:?}");
        // Two codes reported from minute 100: sampled at 100 and at the latest, 115.
        assert_eq!(log.faults, 4, "{log:?}");
        assert!(log.cursor_after.is_some() && log.duration_ms.is_some());

        let v = store.vehicle(tenant.id, truck.id).await.unwrap();
        assert_eq!(
            v.meters.odometer_km,
            Some(100_000.0 + 5.0 * 23.0),
            "{:?}",
            db.kind
        );
        assert_eq!(
            v.meters.engine_hours,
            Some(10_000.0 + 23.0 * 300_000.0 / 3_600_000.0)
        );
        let cycles = store
            .list_fault_cycles(tenant.id, truck.id, Some(FaultStatus::Active), None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(cycles.len(), 2, "{cycles:?}");
        let connection = store.connection(tenant.id, conn).await.unwrap();
        assert!(connection.next_sync_at > OffsetDateTime::now_utc());
        assert_eq!(connection.last_status, Some(SyncStatus::Completed));

        // The next sync starts from the cursor: nothing new, nothing doubled.
        let again = telematics::sync(store, &sync_ctx, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap();
        assert_eq!(
            (again.readings, again.faults, again.status),
            (0, 0, SyncStatus::Completed)
        );
        assert_eq!(again.cursor_before, log.cursor_after);

        // Refused credentials and rate limits fail the sync (the queue retries) and are logged.
        let wrong = connect(store, &keyring, &tenant, Provider::Traccar, &base, "stale").await;
        let err = telematics::sync(store, &sync_ctx, tenant.id, wrong, SyncTrigger::Manual)
            .await
            .unwrap_err();
        assert!(err.contains("refused the credentials"), "{err}");
        let limited = serve(traccar(Fake {
            limited: true,
            ..fake.clone()
        }))
        .await;
        let slow = connect(
            store,
            &keyring,
            &tenant,
            Provider::Traccar,
            &limited,
            "trc-token",
        )
        .await;
        let err = telematics::sync(store, &sync_ctx, tenant.id, slow, SyncTrigger::Manual)
            .await
            .unwrap_err();
        assert!(err.contains("rate limiting") && err.contains("30"), "{err}");
        let failed = store
            .list_sync_logs(tenant.id, slow, None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(failed[0].status, SyncStatus::Failed);
        assert!(
            failed[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("rate limiting")
        );
        assert_eq!(
            store.connection(tenant.id, slow).await.unwrap().cursor,
            None,
            "no cursor move on failure"
        );

        // Credentials sealed under another key do not open.
        let other = SyncContext::new(Arc::new(Keyring::new([1; 32], vec![])));
        let err = telematics::sync(store, &other, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap_err();
        assert!(err.contains("credentials"), "{err}");
    }
}

/// A Samsara-shaped feed: one truck with its stop lamp on and three J1939
/// codes from the engine, an OBD odometer, over two pages.
fn samsara(fake: Fake) -> axum::Router {
    async fn feed(
        State(f): State<Fake>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if let Some(r) = refusal(&f, &headers) {
            return r;
        }
        if q.get("types").map(String::as_str) != Some("faultCodes,obdOdometerMeters") {
            return (StatusCode::BAD_REQUEST, "types").into_response();
        }
        let at = f.start.format(&Rfc3339).unwrap();
        let body = match q.get("after").map(String::as_str) {
            None => json!({
                "data": [{
                    "id": "281474977", "name": "Truck 100",
                    "externalIds": {"samsara.vin": VIN},
                    "obdOdometerMeters": [{"time": at, "value": 412_000_000}],
                    "faultCodes": [{
                        "time": at, "canBusType": "J1939",
                        "j1939": {
                            "checkEngineLights": {"stopIsOn": true, "warningIsOn": false, "protectIsOn": false, "emissionsIsOn": false},
                            "diagnosticTroubleCodes": [
                                {"spnId": 100, "fmiId": 1, "occurrenceCount": 3, "txId": 0, "spnDescription": "Engine Oil Pressure"},
                                {"spnId": 110, "fmiId": 0, "occurrenceCount": 1, "txId": 0},
                                {"spnId": 3251, "fmiId": 2, "occurrenceCount": 1, "txId": 0}
                            ]
                        }
                    }]
                }],
                "pagination": {"endCursor": "c1", "hasNextPage": true}
            }),
            Some("c1") => {
                json!({"data": [], "pagination": {"endCursor": "c2", "hasNextPage": false}})
            }
            Some(_) => json!({"data": [], "pagination": {"endCursor": "", "hasNextPage": false}}),
        };
        axum::Json(body).into_response()
    }
    axum::Router::new()
        .route("/fleet/vehicles/stats/feed", get(feed))
        .with_state(fake)
}

#[tokio::test]
async fn a_samsara_feed_brings_a_red_stop_truck_in_critical() {
    for db in store::testing::TestDatabase::all().await {
        let store = &db.store;
        let keyring = Arc::new(Keyring::new([3; 32], vec![]));
        let sync_ctx = SyncContext::new(keyring.clone());
        let (tenant, _) = fleet(store, "samsara-fleet").await;
        // Linked by VIN this time (the feed's name differs from the unit number).
        let mut spec = store
            .vehicle(
                tenant.id,
                store
                    .list_vehicles(tenant.id, &Default::default())
                    .await
                    .unwrap()
                    .items[0]
                    .id,
            )
            .await
            .unwrap();
        spec.spec.vin = Some(domain::vin::Vin::parse(VIN).unwrap());
        spec.spec.name = "Mack 1".into();
        let truck = store
            .update_vehicle(tenant.id, spec.id, &spec.spec, &ctx())
            .await
            .unwrap();
        let fake = Fake {
            token: "sam-token",
            start: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
                - time::Duration::minutes(30),
            calls: Arc::default(),
            limited: false,
        };
        let base = serve(samsara(fake.clone())).await;
        let conn = connect(
            store,
            &keyring,
            &tenant,
            Provider::Samsara,
            &base,
            "sam-token",
        )
        .await;
        let log = telematics::sync(store, &sync_ctx, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap();
        assert_eq!(
            (log.vehicles, log.readings, log.faults),
            (1, 1, 1),
            "{:?}: {log:?}",
            db.kind
        );
        assert_eq!(log.cursor_after.as_deref(), Some("c2"), "both pages read");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        let (health, _) = store.vehicle_health(tenant.id, truck.id).await.unwrap();
        assert_eq!(health.risk, RiskLevel::Critical, "{health:?}");
        let cycles = store
            .list_fault_cycles(tenant.id, truck.id, None, None, 10)
            .await
            .unwrap()
            .items;
        assert_eq!(cycles.len(), 3);
        assert_eq!(
            store
                .vehicle(tenant.id, truck.id)
                .await
                .unwrap()
                .meters
                .odometer_km,
            Some(412_000.0)
        );
        let again = telematics::sync(store, &sync_ctx, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap();
        assert_eq!((again.readings, again.faults), (0, 0));
        assert_eq!(
            again.cursor_after.as_deref(),
            Some("c2"),
            "an empty end cursor keeps the old one"
        );
    }
}

/// Motorpool's own feed: two pages, items by device id, one malformed item.
fn motorpool_feed(fake: Fake) -> axum::Router {
    async fn feed(
        State(f): State<Fake>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Response {
        if let Some(r) = refusal(&f, &headers) {
            return r;
        }
        let at = |m: i64| {
            (f.start + time::Duration::minutes(m))
                .format(&Rfc3339)
                .unwrap()
        };
        let body = match q.get("cursor").map(String::as_str) {
            None => json!({
                "items": [
                    {"type": "reading", "external_id": "dev-7", "kind": "odometer", "value": 5000, "unit": "km", "read_at": at(0)},
                    {"type": "fault", "external_id": "dev-7", "spn": 100, "fmi": 99, "observed_at": at(1)}
                ],
                "devices": [{"external_id": "dev-7", "name": "T-100"}],
                "next_cursor": "p2", "has_more": true
            }),
            Some("p2") => json!({
                "items": [
                    {"type": "fault", "external_id": "dev-7", "spn": 110, "fmi": 0, "observed_at": at(2), "lamps": {"red_stop": "on"}}
                ],
                "next_cursor": "p3", "has_more": false
            }),
            Some(_) => json!({"items": [], "next_cursor": "p3", "has_more": false}),
        };
        axum::Json(body).into_response()
    }
    axum::Router::new()
        .route("/feed", get(feed))
        .with_state(fake)
}

#[tokio::test]
async fn the_motorpool_feed_pages_links_devices_and_reports_bad_items() {
    for db in store::testing::TestDatabase::all().await {
        let store = &db.store;
        let keyring = Arc::new(Keyring::new([5; 32], vec![]));
        let sync_ctx = SyncContext::new(keyring.clone());
        let (tenant, truck) = fleet(store, "feed-fleet").await;
        let fake = Fake {
            token: "feed-token",
            start: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
                - time::Duration::minutes(10),
            calls: Arc::default(),
            limited: false,
        };
        let base = serve(motorpool_feed(fake.clone())).await;
        let conn = connect(
            store,
            &keyring,
            &tenant,
            Provider::MotorpoolFeed,
            &format!("{base}/feed"),
            "feed-token",
        )
        .await;
        let log = telematics::sync(store, &sync_ctx, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap();
        assert_eq!(
            (
                log.status,
                log.vehicles,
                log.readings,
                log.faults,
                log.rejected
            ),
            (SyncStatus::Partial, 1, 1, 1, 1),
            "{:?}: {log:?}",
            db.kind
        );
        assert_eq!(log.cursor_after.as_deref(), Some("p3"));
        assert_eq!(
            store
                .vehicle(tenant.id, truck.id)
                .await
                .unwrap()
                .meters
                .odometer_km,
            Some(5000.0)
        );
        let (health, _) = store.vehicle_health(tenant.id, truck.id).await.unwrap();
        assert_eq!(health.risk, RiskLevel::Critical);
        let again = telematics::sync(store, &sync_ctx, tenant.id, conn, SyncTrigger::Manual)
            .await
            .unwrap();
        assert_eq!(
            (again.status, again.readings, again.faults),
            (SyncStatus::Completed, 0, 0)
        );
    }
}
