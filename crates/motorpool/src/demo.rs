//! `serve --demo`: a demo tenant with a login and sample vehicles, so a
//! newcomer sees a working system at once. Running it again keeps the data
//! and prints a fresh password (the old one is never stored in clear).

use anyhow::Context;
use domain::credentials::{Password, hash_password};
use domain::tenancy::{Email, Role, Slug, TenantKind};
use domain::vehicle::{
    FuelType, OdometerUnit, VehicleDraft, VehicleSpec, VehicleStatus, VehicleType,
};
use domain::vin::Vin;
use store::{AuditContext, NewUser, Store, StoreError};
use time::macros::date;

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_EMAIL: &str = "demo@motorpool.local";

/// A VIN with its check digit (position 9) made right.
fn vin(body: &str) -> Option<String> {
    let mut chars: Vec<char> = body.chars().collect();
    let parsed = Vin::parse(body).ok()?;
    *chars.get_mut(8)? = parsed.expected_check_digit();
    Some(chars.into_iter().collect())
}

struct Sample {
    name: &'static str,
    unit: Option<&'static str>,
    vin_body: &'static str,
    year: i32,
    make: &'static str,
    model: &'static str,
    kind: VehicleType,
    fuels: &'static [FuelType],
    unit_of_odometer: OdometerUnit,
    status: VehicleStatus,
    tags: &'static [&'static str],
}

const SAMPLES: &[Sample] = &[
    Sample {
        name: "Truck 101",
        unit: Some("101"),
        vin_body: "1FUJGLDR0HLHG7532",
        year: 2017,
        make: "Freightliner",
        model: "Cascadia",
        kind: VehicleType::HeavyTruck,
        fuels: &[FuelType::Diesel, FuelType::Def],
        unit_of_odometer: OdometerUnit::Miles,
        status: VehicleStatus::Active,
        tags: &["linehaul", "east"],
    },
    Sample {
        name: "Truck 102",
        unit: Some("102"),
        vin_body: "1XKYD49X0LJ123456",
        year: 2020,
        make: "Kenworth",
        model: "T680",
        kind: VehicleType::HeavyTruck,
        fuels: &[FuelType::Diesel, FuelType::Def],
        unit_of_odometer: OdometerUnit::Miles,
        status: VehicleStatus::Active,
        tags: &["linehaul", "west"],
    },
    Sample {
        name: "Van 7",
        unit: Some("V7"),
        vin_body: "1FTBW3XM0KKA12345",
        year: 2019,
        make: "Ford",
        model: "Transit 350",
        kind: VehicleType::Van,
        fuels: &[FuelType::Gasoline],
        unit_of_odometer: OdometerUnit::Miles,
        status: VehicleStatus::OutOfService,
        tags: &["delivery"],
    },
    Sample {
        name: "Service pickup",
        unit: Some("P2"),
        vin_body: "1FTFW1E50MFA12345",
        year: 2021,
        make: "Ford",
        model: "F-150",
        kind: VehicleType::Pickup,
        fuels: &[FuelType::Gasoline],
        unit_of_odometer: OdometerUnit::Miles,
        status: VehicleStatus::Active,
        tags: &["service"],
    },
    Sample {
        name: "Yard EV",
        unit: None,
        vin_body: "5YJ3E1EA0PF123456",
        year: 2023,
        make: "Tesla",
        model: "Model 3",
        kind: VehicleType::Car,
        fuels: &[FuelType::Electric],
        unit_of_odometer: OdometerUnit::Kilometres,
        status: VehicleStatus::Active,
        tags: &["pool car"],
    },
    Sample {
        name: "Old Civic",
        unit: None,
        vin_body: "2HGFC2F50JH512345",
        year: 2018,
        make: "Honda",
        model: "Civic",
        kind: VehicleType::Car,
        fuels: &[FuelType::Gasoline],
        unit_of_odometer: OdometerUnit::Kilometres,
        status: VehicleStatus::Sold,
        tags: &[],
    },
];

/// Creates or refreshes the demo tenant and prints how to log in.
pub async fn seed(store: &Store, files: &store::FileStore, base_url: &str) -> anyhow::Result<()> {
    let ctx = AuditContext::system("demo");
    let email = Email::parse(DEMO_EMAIL).map_err(anyhow::Error::msg)?;
    let password = Password::generate()?;
    let (hash, password) =
        tokio::task::spawn_blocking(move || hash_password(&password).map(|h| (h, password)))
            .await??;

    let tenant = match store.tenant_by_slug(DEMO_SLUG).await {
        Ok(t) => Some(t),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let user = match store.user_by_email(&email).await {
        Ok(u) => {
            store.set_password(u.id, &hash, &ctx).await?;
            u
        }
        Err(StoreError::NotFound) => {
            store
                .create_user(
                    &NewUser {
                        email: email.clone(),
                        display_name: "Demo Manager".into(),
                        password_hash: Some(hash),
                        is_instance_admin: false,
                    },
                    &ctx,
                )
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    let tenant = match tenant {
        Some(t) => t,
        None => {
            let slug = Slug::parse(DEMO_SLUG).map_err(anyhow::Error::msg)?;
            let t = store
                .create_tenant(&slug, "Demo Fleet", TenantKind::Fleet, &ctx)
                .await?;
            store
                .set_membership(t.id, user.id, Role::Owner, &ctx)
                .await?;
            for s in SAMPLES {
                let spec = VehicleSpec::validate(
                    VehicleDraft {
                        name: s.name.into(),
                        unit_number: s.unit.map(Into::into),
                        vin: vin(s.vin_body),
                        plate: None,
                        year: Some(s.year),
                        make: Some(s.make.into()),
                        model: Some(s.model.into()),
                        trim: None,
                        vehicle_type: s.kind,
                        fuel_types: s.fuels.to_vec(),
                        odometer_unit: s.unit_of_odometer,
                        in_service_date: Some(date!(2021 - 03 - 01)),
                        status: s.status,
                        tags: s.tags.iter().map(|t| t.to_string()).collect(),
                        custom_fields: Default::default(),
                    },
                    2026,
                )
                .map_err(|e| anyhow::anyhow!("demo vehicle {}: {e}", s.name))?;
                store
                    .create_vehicle(t.id, &spec, &ctx)
                    .await
                    .with_context(|| format!("demo vehicle {}", s.name))?;
            }
            let filter = store::VehicleFilter {
                sort: store::VehicleSort::Created,
                limit: 100,
                ..Default::default()
            };
            for (i, vehicle) in store
                .list_vehicles(t.id, &filter)
                .await?
                .items
                .iter()
                .enumerate()
            {
                crate::demo_history::seed_vehicle(store, files, t.id, vehicle, i as u64).await?;
            }
            seed_fault(store, t.id).await?;
            t
        }
    };
    println!(
        "\nDemo ready: tenant `{}` with sample vehicles.\n  Log in as {DEMO_EMAIL} with password {} (shown once; a new one is printed at every --demo start).\n  Try: curl -c /tmp/mp.cookies -H 'content-type: application/json' \\\n         -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{}\"}}' {base_url}/api/v1/auth/login\n       curl -b /tmp/mp.cookies {base_url}/api/v1/vehicles\n  Truck 101 reports low oil pressure with its red stop lamp on: see its faults and health explanation\n  (/api/v1/vehicles/{{id}}/faults, /health) and {base_url}/api/v1/fleet/overview.\n",
        tenant.slug,
        password.expose(),
        password.expose(),
    );
    Ok(())
}

/// Truck 101's engine reports low oil pressure with its red stop lamp on
/// (a DM1, as telematics would send it), so the demo shows a CRITICAL
/// vehicle with its fault cycle and health explanation.
async fn seed_fault(store: &Store, tenant: domain::ids::TenantId) -> anyhow::Result<()> {
    use domain::fault_code::{FaultMessage, Origin};
    use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps};
    let item = store::TelemetryItem::Dm {
        vehicle: store::VehicleRef::UnitNumber("101".into()),
        message: FaultMessage::Dm1,
        source_address: 0,
        observed_at: time::OffsetDateTime::now_utc() - time::Duration::hours(2),
        decoded: DiagnosticMessage {
            lamps: Lamps {
                mil: Lamp::Off,
                red_stop: Lamp::On,
                amber_warning: Lamp::Off,
                protect: Lamp::Off,
            },
            dtcs: vec![Dtc {
                spn: 100,
                fmi: 1,
                occurrences: 2,
                legacy_conversion: false,
            }],
        },
    };
    store
        .ingest_telemetry(
            tenant,
            &[item],
            Origin::Api,
            domain::meter::DEFAULT_MAX_DAILY_KM,
            &AuditContext::system("demo"),
        )
        .await
        .context("demo fault")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::VehicleFilter;
    use store::testing::TestDatabase;

    #[test]
    fn sample_vins_are_valid() {
        for s in SAMPLES {
            let v = Vin::parse(&vin(s.vin_body).unwrap()).unwrap();
            assert!(v.check_digit_problem().is_none(), "{}", s.name);
        }
    }

    #[tokio::test]
    async fn seeding_twice_keeps_one_copy_of_the_data() {
        for db in TestDatabase::all().await {
            let dir = tempfile::tempdir().unwrap();
            let files = store::FileStore::open(dir.path()).unwrap();
            seed(&db.store, &files, "http://localhost").await.unwrap();
            seed(&db.store, &files, "http://localhost").await.unwrap();
            let tenant = db.store.tenant_by_slug(DEMO_SLUG).await.unwrap();
            let page = db
                .store
                .list_vehicles(
                    tenant.id,
                    &VehicleFilter {
                        limit: 100,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.items.len(), SAMPLES.len(), "{:?}", db.kind);
            // Years of history, measured economy, schedules and documents.
            let truck = page
                .items
                .iter()
                .find(|v| v.spec.name == "Truck 101")
                .unwrap();
            let fills = db
                .store
                .list_fuel_entries(tenant.id, truck.id, None, 500)
                .await
                .unwrap();
            assert!(fills.items.len() > 200, "{}", fills.items.len());
            let (health, _) = db.store.vehicle_health(tenant.id, truck.id).await.unwrap();
            assert_eq!(
                health.risk,
                domain::health::RiskLevel::Critical,
                "the demo fault"
            );
            let today = time::OffsetDateTime::now_utc().date();
            let overview = db.store.fleet_overview(tenant.id, today).await.unwrap();
            assert_eq!(overview.risk.get("critical"), Some(&1));
            assert_eq!(overview.active_faults, 1, "seeded once");
            let stats = db
                .store
                .fuel_stats(tenant.id, truck.id, None, None)
                .await
                .unwrap();
            let l_per_100 = stats[0].measured.unwrap().per_100km();
            assert!((25.0..45.0).contains(&l_per_100), "{l_per_100}");
            assert!(
                !db.store
                    .list_schedules(tenant.id, truck.id)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let soon = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
            assert!(
                !db.store
                    .expiring_documents(tenant.id, None, soon, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let user = db
                .store
                .user_by_email(&Email::parse(DEMO_EMAIL).unwrap())
                .await
                .unwrap();
            assert_eq!(
                db.store.role_in(tenant.id, user.id).await.unwrap(),
                Some(Role::Owner)
            );
        }
    }
}
