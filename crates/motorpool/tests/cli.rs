//! The binary as an operator uses it: admin commands, then `serve` as a
//! real process, driven over HTTP, stopped with SIGTERM. On SQLite and
//! PostgreSQL (as the unprivileged app role).

// Helpers panic on setup failure: that is how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use domain::maintenance::{Now, evaluate};
use serde_json::{Value, json};
use store::BackendKind;
use store::testing::TestDatabase;

fn motorpool(dir: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_motorpool"));
    cmd.args(args)
        .env("MOTORPOOL_DATABASE_URL", url)
        .env("MOTORPOOL_LOG", "warn")
        .env_remove("RUST_BACKTRACE")
        .current_dir(dir);
    cmd
}

fn run(dir: &Path, url: &str, args: &[&str]) -> Output {
    motorpool(dir, url, args).output().unwrap()
}

fn ok(dir: &Path, url: &str, args: &[&str]) -> String {
    let out = run(dir, url, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value after `label` on the line that has it.
fn after(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no `{label}` in {text}"));
    line.rsplit(' ').next().unwrap().to_string()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, url: &str) -> Server {
        let key = dir.join("secret.key");
        let mut child = motorpool(
            dir,
            url,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--secret-key-file",
                key.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("Motorpool is listening on ") {
                break rest.split(' ').next().unwrap().to_string();
            }
        };
        Server { child, base }
    }

    /// Sends SIGTERM and returns whether the server exited cleanly.
    fn stop(mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> (String, String) {
    let response = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_second_tenant_made_with_admin_cannot_see_the_first() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());

        let a = ok(
            dir,
            url,
            &[
                "admin",
                "create-user",
                "--email",
                "a@example.com",
                "--tenant",
                "fleet-a",
                "--role",
                "owner",
            ],
        );
        assert!(a.contains("Created tenant `fleet-a`"), "{a}");
        let a_password = after(&a, "Password (shown once)");
        let b = ok(
            dir,
            url,
            &[
                "admin",
                "create-user",
                "--email",
                "b@example.com",
                "--tenant",
                "fleet-b",
            ],
        );
        let b_password = after(&b, "Password (shown once)");
        let token = after(
            &ok(
                dir,
                url,
                &[
                    "admin",
                    "create-token",
                    "--tenant",
                    "fleet-a",
                    "--email",
                    "a@example.com",
                    "--name",
                    "cli",
                    "--role-ceiling",
                    "manager",
                ],
            ),
            "Secret",
        );
        assert!(token.starts_with("mpt_"));

        let dup = run(dir, url, &["admin", "create-tenant", "--slug", "fleet-a"]);
        assert!(!dup.status.success());
        assert!(String::from_utf8_lossy(&dup.stderr).contains("slug already exists"));
        let bad = run(
            dir,
            url,
            &[
                "admin",
                "add-member",
                "--tenant",
                "fleet-b",
                "--email",
                "a@example.com",
                "--role",
                "boss",
            ],
        );
        assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid --role"));
        let tenants = ok(dir, url, &["admin", "list-tenants"]);
        assert!(tenants.contains("fleet-a") && tenants.contains("fleet-b"));

        let server = Server::start(dir, url);
        let http = reqwest::Client::new();
        let created = http
            .post(format!("{}/api/v1/vehicles", server.base))
            .bearer_auth(&token)
            .json(&json!({"name": "A's truck"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{:?}", db.kind);
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();

        let (b_cookie, _) = login(&http, &server.base, "b@example.com", &b_password).await;
        let list: Value = http
            .get(format!("{}/api/v1/vehicles", server.base))
            .header("cookie", &b_cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            0,
            "{:?}: B sees none of A's vehicles",
            db.kind
        );
        let one = http
            .get(format!("{}/api/v1/vehicles/{id}", server.base))
            .header("cookie", &b_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), 404);

        let (a_cookie, _) = login(&http, &server.base, "a@example.com", &a_password).await;
        let list: Value = http
            .get(format!("{}/api/v1/vehicles", server.base))
            .header("cookie", &a_cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"][0]["name"], "A's truck");

        // Resetting B's password ends B's sessions.
        let mut reset = motorpool(
            dir,
            url,
            &[
                "admin",
                "reset-password",
                "--email",
                "b@example.com",
                "--password-stdin",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        reset
            .stdin
            .take()
            .unwrap()
            .write_all(b"a brand new password\n")
            .unwrap();
        assert!(reset.wait().unwrap().success());
        // Another process's credential change applies at the server's next
        // request on SQLite, and as soon as its notification arrives on
        // PostgreSQL (`credential_epoch.rs`): polled there for up to 10 s.
        let mut polls = 0;
        loop {
            let me = http
                .get(format!("{}/api/v1/me", server.base))
                .header("cookie", &b_cookie)
                .send()
                .await
                .unwrap();
            if me.status() == 401 {
                break;
            }
            assert!(
                db.kind == BackendKind::Postgres && polls < 500,
                "{:?}: B's session still answers {} after the reset",
                db.kind,
                me.status()
            );
            polls += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        login(&http, &server.base, "b@example.com", "a brand new password").await;

        assert!(
            server.stop(),
            "{:?}: SIGTERM ends the server cleanly",
            db.kind
        );
    }
}

#[tokio::test]
async fn settings_and_roles_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = run(dir, "mysql://localhost/x", &["admin", "list-tenants"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_url"));

    let out = motorpool(dir, "sqlite://x.db", &["serve"])
        .env("MOTORPOOL_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));

    let version = ok(dir, "sqlite://x.db", &["version"]);
    let expected = format!(
        "schema: sqlite {} / postgres {}",
        store::SQLITE_SCHEMA_VERSION,
        store::POSTGRES_SCHEMA_VERSION
    );
    assert!(version.contains(&expected), "{version}");

    if let Some(db) = TestDatabase::postgres().await {
        // The owner (here a superuser) bypasses row-level security: serve refuses it.
        let out = run(dir, &db.owner_url, &["serve", "--listen", "127.0.0.1:0"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("row-level security"));
    }
}

#[tokio::test]
async fn import_from_the_command_line() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());
        ok(dir, url, &["admin", "create-tenant", "--slug", "home"]);
        let tenant = db.store.tenant_by_slug("home").await.unwrap();
        let spec = domain::vehicle::VehicleSpec::validate(
            domain::vehicle::VehicleDraft {
                name: "Civic".into(),
                unit_number: None,
                vin: None,
                plate: None,
                year: None,
                make: None,
                model: None,
                trim: None,
                vehicle_type: domain::vehicle::VehicleType::Car,
                fuel_types: vec![domain::vehicle::FuelType::Gasoline],
                odometer_unit: domain::vehicle::OdometerUnit::Miles,
                in_service_date: None,
                status: domain::vehicle::VehicleStatus::Active,
                tags: vec![],
                custom_fields: Default::default(),
            },
            2026,
        )
        .unwrap();
        db.store
            .create_vehicle(tenant.id, &spec, &store::AuditContext::system("test"))
            .await
            .unwrap();
        let file = dir.join("fuelly.csv");
        std::fs::write(
            &file,
            "car_name,model,mpg,odometer,miles,gallons,price,city_percentage,fuelup_date,date_added,tags,notes,missed_fuelup,partial_fuelup,latitude,longitude,brand
Civic,Civic,0,10000,0,12.000,3.459,50,01/02/2024,01/02/2024,,,0,0,,,
Civic,Civic,30,10300,300,10.000,3.500,50,01/09/2024,01/09/2024,,,0,0,,,
",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let dry = ok(
            dir,
            url,
            &[
                "import",
                file,
                "--tenant",
                "home",
                "--vehicle",
                "civic",
                "--dry-run",
            ],
        );
        assert!(
            dry.contains("Would import 2 fuel entries") && dry.contains("Dry run"),
            "{:?}: {dry}",
            db.kind
        );
        let done = ok(
            dir,
            url,
            &["import", file, "--tenant", "home", "--vehicle", "Civic"],
        );
        assert!(done.contains("Imported 2 fuel entries"), "{done}");
        let again = ok(
            dir,
            url,
            &["import", file, "--tenant", "home", "--vehicle", "Civic"],
        );
        assert!(
            again.contains("Imported 0 fuel entries") && again.contains("2 duplicates"),
            "{again}"
        );
        // The whole tenant, exported and imported into another.
        let out = dir.join("export.json");
        let out_s = out.to_str().unwrap();
        run(dir, url, &["export", "--tenant", "home", "--output", out_s]);
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("\"format\": \"motorpool-export\"")
        );
        ok(dir, url, &["admin", "create-tenant", "--slug", "copy"]);
        let first = ok(dir, url, &["import", out_s, "--tenant", "copy"]);
        assert!(
            first.contains("Imported 1 vehicles (0 already there)"),
            "{first}"
        );
        let second = ok(dir, url, &["import", out_s, "--tenant", "copy"]);
        assert!(
            second.contains("Imported 0 vehicles (1 already there), 0 items"),
            "{second}"
        );
        let missing = run(
            dir,
            url,
            &["import", file, "--tenant", "home", "--vehicle", "Nope"],
        );
        assert!(String::from_utf8_lossy(&missing.stderr).contains("no vehicle matches"));
    }
}

/// A `candump -l` log of a truck with its red stop lamp on and three codes
/// (BAM transport from the engine, once a second), one transmission code
/// (single frame), an unrelated frame and some broken lines.
fn truck_log(start: i64) -> String {
    use domain::j1939::transport::bam_frames;
    use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps, PGN_DM1, encode_dm};
    let dtc = |spn, fmi| Dtc {
        spn,
        fmi,
        occurrences: 2,
        legacy_conversion: false,
    };
    let lamps = |red| Lamps {
        mil: Lamp::Off,
        red_stop: red,
        amber_warning: Lamp::Off,
        protect: Lamp::Off,
    };
    let engine = encode_dm(&DiagnosticMessage {
        lamps: lamps(Lamp::On),
        dtcs: vec![dtc(100, 1), dtc(110, 0), dtc(3251, 2)],
    });
    let transmission = encode_dm(&DiagnosticMessage {
        lamps: lamps(Lamp::Off),
        dtcs: vec![dtc(127, 1)],
    });
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02X}")).collect::<String>();
    let mut log = String::from("# recorded on the yard\n");
    for s in 0..5 {
        for (i, (pgn, data)) in bam_frames(PGN_DM1, &engine).iter().enumerate() {
            let id = 0x1C00_0000 | (pgn << 8) | 0xFF00;
            log += &format!(
                "({}.{:06}) can0 {id:08X}#{}\n",
                start + s,
                i * 50_000,
                hex(data)
            );
        }
        log += &format!(
            "({}.500000) can0 18FECA03#{}\n",
            start + s,
            hex(&transmission)
        );
        log += &format!("({}.600000) can0 0CF00400#FFFFFF6813FFFFFF\n", start + s);
    }
    log += "not a frame\n";
    log += &format!("({start}.700000) can0 18FECA00#04\n");
    log += "(0.000100) can0 18FECA03#00FF00000000FFFF\n";
    log
}

#[tokio::test]
async fn a_candump_log_ingests_once_into_fault_cycles() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());
        ok(dir, url, &["admin", "create-tenant", "--slug", "yard"]);
        let tenant = db.store.tenant_by_slug("yard").await.unwrap();
        let draft = domain::vehicle::VehicleDraft {
            name: "Rig 9".into(),
            unit_number: Some("R-9".into()),
            vin: None,
            plate: None,
            year: None,
            make: None,
            model: None,
            trim: None,
            vehicle_type: domain::vehicle::VehicleType::HeavyTruck,
            fuel_types: vec![domain::vehicle::FuelType::Diesel],
            odometer_unit: domain::vehicle::OdometerUnit::Kilometres,
            in_service_date: None,
            status: domain::vehicle::VehicleStatus::Active,
            tags: vec![],
            custom_fields: Default::default(),
        };
        let spec = domain::vehicle::VehicleSpec::validate(draft, 2026).unwrap();
        let vehicle = db
            .store
            .create_vehicle(tenant.id, &spec, &store::AuditContext::system("test"))
            .await
            .unwrap();
        let start = time::OffsetDateTime::now_utc().unix_timestamp() - 600;
        let file = dir.join("can0.log");
        std::fs::write(&file, truck_log(start)).unwrap();
        let file = file.to_str().unwrap();
        let args = [
            "ingest",
            "candump",
            file,
            "--tenant",
            "yard",
            "--vehicle",
            "R-9",
        ];
        let out = motorpool(dir, url, &args).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{:?}: {stderr}", db.kind);
        assert!(
            stdout.contains("10 DM1 and 0 DM2 messages") && stdout.contains("3 malformed lines"),
            "{:?}: {stdout}",
            db.kind
        );
        assert!(stdout.contains("10 new, 0 already ingested"), "{stdout}");
        assert!(
            stderr.contains("not a frame"),
            "malformed lines are shown: {stderr}"
        );
        assert!(stderr.contains("before 2000"), "{stderr}");

        let cycles = db
            .store
            .list_fault_cycles(tenant.id, vehicle.id, None, None, 50)
            .await
            .unwrap()
            .items;
        assert_eq!(cycles.len(), 4, "{:?}", db.kind);
        assert!(cycles.iter().all(|c| c.reports == 5), "{cycles:?}");
        let (health, _) = db
            .store
            .vehicle_health(tenant.id, vehicle.id)
            .await
            .unwrap();
        assert_eq!(health.risk, domain::health::RiskLevel::Critical);

        let again = ok(dir, url, &args);
        assert!(again.contains("0 new, 10 already ingested"), "{again}");
        let after = db
            .store
            .list_fault_cycles(tenant.id, vehicle.id, None, None, 50)
            .await
            .unwrap()
            .items;
        assert_eq!(after, cycles, "{:?}: re-ingesting changed nothing", db.kind);
    }
}

/// The benchmark suite's smoke run (CI): a tiny fleet, with its counts
/// checked against what the database holds — never its timings.
/// A bench tenant's vehicles (the bench tests generate fewer than 100).
async fn bench_vehicles(
    store: &store::Store,
    tenant: domain::ids::TenantId,
) -> store::Page<store::Vehicle> {
    store
        .list_vehicles(
            tenant,
            &store::VehicleFilter {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// A bench vehicle's odometer readings, newest first (fewer than 500).
async fn odometer_readings(
    store: &store::Store,
    tenant: domain::ids::TenantId,
    vehicle: domain::ids::VehicleId,
) -> Vec<store::Reading> {
    store
        .list_readings(
            tenant,
            vehicle,
            domain::meter::MeterKind::Odometer,
            None,
            500,
        )
        .await
        .unwrap()
        .items
}

/// `--order time` sends the readings as a live feed does (every vehicle's
/// readings of one time together, so a batch spans many vehicles and each
/// meter's window has stored readings on both sides: the day before, and
/// the fills imported first). It makes the same fleet as `--order vehicle`.
#[tokio::test]
async fn bench_generate_in_time_order_makes_the_same_fleet() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());
        let out = dir.join("bench");
        let today = time::OffsetDateTime::now_utc().date();
        let mut fleets = Vec::new();
        for order in ["vehicle", "time"] {
            let printed = ok(
                dir,
                url,
                &[
                    "bench",
                    "generate",
                    "--vehicles",
                    "6",
                    "--days",
                    "40",
                    "--per-tenant",
                    "6",
                    "--seed",
                    "3",
                    "--readings-per-day",
                    "3",
                    "--batch",
                    "5",
                    "--order",
                    order,
                    "--prefix",
                    order,
                    "--out-dir",
                    out.to_str().unwrap(),
                ],
            );
            assert!(
                printed.contains("Generated 1 tenants, 6 vehicles")
                    && printed.contains(" readings, "),
                "{:?} {order}: {printed}",
                db.kind
            );
            let tenant = db
                .store
                .tenant_by_slug(&format!("{order}-1"))
                .await
                .unwrap();
            // The counts it reports, without the time it took.
            let generated = printed
                .lines()
                .find(|l| l.starts_with("Generated"))
                .and_then(|l| l.split(" in ").next())
                .unwrap_or_default()
                .to_string();
            let page = bench_vehicles(&db.store, tenant.id).await;
            let mut vehicles = Vec::new();
            for v in &page.items {
                let readings = odometer_readings(&db.store, tenant.id, v.id).await;
                let values: Vec<(time::OffsetDateTime, f64)> =
                    readings.iter().map(|r| (r.read_at, r.effective)).collect();
                // Each schedule's baseline (time order computes it before
                // the history is in) and its due state.
                let mut schedules: Vec<_> = db
                    .store
                    .list_schedules(tenant.id, v.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| (s.task_name, s.last_done, s.state))
                    .collect();
                schedules.sort_by(|a, b| a.0.cmp(&b.0));
                vehicles.push((v.spec.name.clone(), v.meters, v.health, values, schedules));
            }
            vehicles.sort_by(|a, b| a.0.cmp(&b.0));
            let overview = db.store.fleet_overview(tenant.id, today).await.unwrap();
            fleets.push((
                generated,
                vehicles,
                overview.risk,
                overview.schedules_due_soon,
                overview.schedules_overdue,
                overview.active_faults,
                overview.active_critical_faults,
            ));
        }
        let (vehicle_order, time_order) = (&fleets[0], &fleets[1]);
        assert!(
            vehicle_order.0.contains(" fuel entries, ") && vehicle_order.0.contains("60 schedules"),
            "{:?}: {}",
            db.kind,
            vehicle_order.0
        );
        assert_eq!(vehicle_order.1.len(), 6, "{:?}", db.kind);
        assert!(
            vehicle_order
                .1
                .iter()
                .all(
                    |(_, meters, _, readings, schedules)| meters.odometer_km.is_some()
                        && readings.len() >= 40 * 3
                        && schedules.len() == 10
                ),
            "{:?}: every vehicle has its readings and a current odometer",
            db.kind
        );
        assert_eq!(vehicle_order, time_order, "{:?}", db.kind);
    }
}

/// `--schedules-from start` counts a live feed's schedules from the meters
/// its history starts with, so the replay drives the nearest ones through
/// due soon to overdue (with `end`, the default, every state stays "ok"),
/// and every stored state equals a fresh evaluation at the end. (The last
/// month's import re-evaluates every vehicle, so this does not check the
/// batches' own due-state work: the store's `due_watch` tests do.)
#[tokio::test]
async fn bench_generate_with_schedules_from_the_start_keeps_every_due_state_exact() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());
        let out = dir.join("bench");
        let args = |order: &'static str| {
            [
                "bench",
                "generate",
                "--vehicles",
                "6",
                "--days",
                "90",
                "--per-tenant",
                "6",
                "--seed",
                "5",
                "--readings-per-day",
                "4",
                "--batch",
                "50",
                "--order",
                order,
                "--schedules-from",
                "start",
                "--out-dir",
                out.to_str().unwrap(),
            ]
        };
        let refused = run(dir, url, &args("vehicle"));
        assert!(!refused.status.success(), "{:?}", db.kind);
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("--schedules-from start needs --order time"),
            "{:?}: {}",
            db.kind,
            String::from_utf8_lossy(&refused.stderr)
        );
        assert!(
            db.store.tenant_by_slug("bench-1").await.is_err(),
            "{:?}: a refused run writes nothing",
            db.kind
        );

        ok(dir, url, &args("time"));
        let tenant = db.store.tenant_by_slug("bench-1").await.unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let rates = db.usage_rates().await;
        let mut statuses = std::collections::BTreeMap::new();
        for v in bench_vehicles(&db.store, tenant.id).await.items {
            let (_, km_per_day, hours_per_day) =
                *rates.iter().find(|r| r.0 == v.id.as_uuid()).unwrap();
            let m = v.meters;
            let now = Now {
                date: today,
                km: m.odometer_km,
                hours: m.engine_hours,
                km_read_on: m.odometer_at.map(|at| at.date()),
                hours_read_on: m.hours_at.map(|at| at.date()),
                km_per_day,
                hours_per_day,
            };
            let schedules = db.store.list_schedules(tenant.id, v.id).await.unwrap();
            assert_eq!(schedules.len(), 10, "{:?}", db.kind);
            for s in schedules {
                assert_eq!(s.last_done.date, today, "{:?}", db.kind);
                assert!(
                    s.last_done.km.unwrap() < m.odometer_km.unwrap(),
                    "{:?}: counted from before the history",
                    db.kind
                );
                let fresh = evaluate(&s.interval, &s.window, &s.last_done, &now);
                assert_eq!(
                    s.state, fresh,
                    "{:?}: {} {}",
                    db.kind, v.spec.name, s.task_name
                );
                *statuses.entry(s.state.status.as_str()).or_insert(0) += 1;
            }
        }
        // The replay drove schedules past their windows: some overdue, and
        // the rest still ok (the due-soon ones, if any at the end, are
        // checked above with the others).
        assert!(
            statuses.get("overdue").is_some_and(|n| *n > 0),
            "{:?}: {statuses:?}",
            db.kind
        );
        assert!(
            statuses.get("ok").is_some_and(|n| *n > 0),
            "{:?}: {statuses:?}",
            db.kind
        );
    }
}

#[tokio::test]
async fn bench_generate_smoke_run() {
    for db in TestDatabase::all().await {
        let dir = tempfile::tempdir().unwrap();
        let (dir, url) = (dir.path(), db.url.as_str());
        let out = dir.join("bench");
        let args = [
            "bench",
            "generate",
            "--vehicles",
            "12",
            "--days",
            "150",
            "--per-tenant",
            "5",
            "--seed",
            "7",
            "--readings-per-day",
            "2",
            // Many small ingest transactions, the last one partial.
            "--batch",
            "97",
            "--out-dir",
            out.to_str().unwrap(),
        ];
        let printed = ok(dir, url, &args);
        assert!(
            printed.contains("Generated 3 tenants, 12 vehicles"),
            "{:?}: {printed}",
            db.kind
        );
        let summary: Value = serde_json::from_slice(
            &std::fs::read(
                std::fs::read_dir(&out)
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .path(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(summary["vehicles"], 12);
        assert_eq!(summary["schedules"], 120, "ten per vehicle");
        assert_eq!(
            (&summary["order"], &summary["batch"]),
            (&serde_json::json!("vehicle"), &serde_json::json!(97)),
            "what was run is recorded with its figures"
        );
        let mut vehicles = 0;
        let mut readings = 0u64;
        let mut fuel = 0;
        for slug in ["bench-1", "bench-2", "bench-3"] {
            let tenant = db.store.tenant_by_slug(slug).await.unwrap();
            let page = bench_vehicles(&db.store, tenant.id).await;
            vehicles += page.items.len();
            for v in &page.items {
                assert!(
                    v.meters.odometer_km.is_some(),
                    "{:?}: every vehicle has a current odometer",
                    db.kind
                );
                readings += odometer_readings(&db.store, tenant.id, v.id).await.len() as u64;
                fuel += db
                    .store
                    .list_fuel_entries(tenant.id, v.id, None, 500)
                    .await
                    .unwrap()
                    .items
                    .len();
            }
        }
        assert_eq!(vehicles, 12);
        assert_eq!(summary["fuel_entries"], fuel as u64);
        // Each vehicle: two telemetry readings a day, plus the import's reading
        // of each fill and each service (trucks get an oil change by day 150).
        let services = summary["service_records"].as_u64().unwrap();
        assert!(services > 0, "{summary}");
        assert_eq!(
            readings,
            12 * 150 * 2 + fuel as u64 + services,
            "{:?}",
            db.kind
        );
        // The rollups the write paths maintained equal a rebuild from raw records.
        let tenant = db.store.tenant_by_slug("bench-1").await.unwrap();
        let (from, to) = (
            time::macros::date!(1900 - 01 - 01),
            time::macros::date!(2200 - 01 - 01),
        );
        let report = db
            .store
            .cost_per_distance(tenant.id, from, to, None, 100)
            .await
            .unwrap();
        assert_eq!(report.items.len(), 5);
        assert!(
            report.items.iter().all(|v| v.months.len() >= 5
                && v.months
                    .iter()
                    .all(|m| m.distance_km.is_some_and(|d| d > 0.0))),
            "{:?}: every vehicle drove every month",
            db.kind
        );
        let timed = ok(
            dir,
            url,
            &[
                "bench",
                "reevaluate",
                "--runs",
                "1",
                "--out-dir",
                out.to_str().unwrap(),
            ],
        );
        // Every schedule was evaluated when written: none is due a recheck today.
        assert!(timed.contains("run 1: 0 schedules rechecked"), "{timed}");
        let tomorrow = time::OffsetDateTime::now_utc().date() + time::Duration::days(1);
        let rollover = ok(
            dir,
            url,
            &[
                "bench",
                "reevaluate",
                "--runs",
                "1",
                "--days-ahead",
                "1",
                "--out-dir",
                out.to_str().unwrap(),
            ],
        );
        assert!(
            rollover.contains(&format!("schedules rechecked at {tomorrow}")),
            "{rollover}"
        );
        let rebuilt = ok(dir, url, &["admin", "rebuild-rollups"]);
        assert!(
            rebuilt.contains("Rebuilt the rollups of 3 tenants"),
            "{rebuilt}"
        );
        let again = db
            .store
            .cost_per_distance(tenant.id, from, to, None, 100)
            .await
            .unwrap();
        assert_eq!(again.items, report.items, "{:?}", db.kind);

        let again = run(dir, url, &args);
        assert!(
            !again.status.success(),
            "a second run into the same database refuses"
        );
        assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    }
}
