//! The store conformance suite: every test runs against SQLite and, when
//! reachable, PostgreSQL (required under CI=true), through the same Store API.

// Helpers panic on setup failure: that is how a test should fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::ids::{TenantId, VehicleId};
use domain::tenancy::{Email, Role, Slug, TenantKind};
use domain::vehicle::{
    FuelType, OdometerUnit, VehicleDraft, VehicleSpec, VehicleStatus, VehicleType,
};
use motorpool_store::testing::TestDatabase;
use motorpool_store::*;

fn ctx() -> AuditContext {
    AuditContext::system("conformance test")
}

fn spec(name: &str, vin: Option<&str>, year: Option<i32>, make: &str) -> VehicleSpec {
    VehicleSpec::validate(
        VehicleDraft {
            name: name.into(),
            unit_number: None,
            vin: vin.map(Into::into),
            plate: None,
            year,
            make: Some(make.into()),
            model: None,
            trim: None,
            vehicle_type: VehicleType::Car,
            fuel_types: vec![FuelType::Gasoline],
            odometer_unit: OdometerUnit::Kilometres,
            in_service_date: None,
            status: VehicleStatus::Active,
            tags: vec![],
            custom_fields: Default::default(),
        },
        2026,
    )
    .expect("valid spec")
}

async fn tenant(store: &Store, slug: &str) -> Tenant {
    store
        .create_tenant(&Slug::parse(slug).unwrap(), slug, TenantKind::Fleet, &ctx())
        .await
        .unwrap()
}

/// A new vehicle named `name` in tenant `t` (no VIN, no plate).
async fn vehicle(store: &Store, t: TenantId, name: &str) -> VehicleId {
    store
        .create_vehicle(t, &spec(name, None, None, "X"), &ctx())
        .await
        .unwrap()
        .id
}

async fn user(store: &Store, email: &str) -> User {
    store
        .create_user(
            &NewUser {
                email: Email::parse(email).unwrap(),
                display_name: email.into(),
                password_hash: None,
                is_instance_admin: false,
            },
            &ctx(),
        )
        .await
        .unwrap()
}

#[path = "conformance/faults.rs"]
mod faults;

#[path = "conformance/cost_report.rs"]
mod cost_report;

#[path = "conformance/concurrent_writes.rs"]
mod concurrent_writes;
#[path = "conformance/current_meters.rs"]
mod current_meters;
#[path = "conformance/due_watch.rs"]
mod due_watch;
#[path = "conformance/page_rollups.rs"]
mod page_rollups;
#[path = "conformance/usage.rs"]
mod usage;
#[path = "conformance/vehicle_page.rs"]
mod vehicle_page;

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schemas_are_refused() {
    for db in TestDatabase::all().await {
        let owner = Store::connect(&db.owner_url, &ConnectOptions::default())
            .await
            .unwrap();
        let again = owner.migrate().await.unwrap();
        assert!(
            again.applied.is_empty(),
            "{:?}: second migrate applied {:?}",
            db.kind,
            again.applied
        );
        let status = db.store.check_schema().await.unwrap();
        assert_eq!(status.database, status.binary);

        db.owner_execute(
            "INSERT INTO schema_migrations (version, description, checksum, applied_at)
             VALUES (9999, 'from the future', 'x', 'now')",
        )
        .await;
        assert!(matches!(
            owner.check_schema().await,
            Err(StoreError::SchemaTooNew { database: 9999, .. })
        ));
        assert!(matches!(
            owner.migrate().await,
            Err(StoreError::SchemaTooNew { .. })
        ));
    }
}

#[tokio::test]
async fn unique_rules_answer_with_the_field() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        tenant(s, "acme").await;
        let dup = s
            .create_tenant(
                &Slug::parse("ACME").unwrap(),
                "Acme 2",
                TenantKind::Fleet,
                &ctx(),
            )
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { field: "slug", .. })),
            "{:?}: {dup:?}",
            db.kind
        );

        user(s, "ann@example.com").await;
        let dup = s
            .create_user(
                &NewUser {
                    email: Email::parse("ANN@example.com").unwrap(),
                    display_name: "Ann".into(),
                    password_hash: None,
                    is_instance_admin: false,
                },
                &ctx(),
            )
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { field: "email", .. })),
            "{:?}: {dup:?}",
            db.kind
        );
    }
}

#[tokio::test]
async fn vehicles_crud_vin_uniqueness_and_audit() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "fleet-a").await;
        let vin = "1M8GDM9AXKP042788";
        let v = s
            .create_vehicle(
                t.id,
                &spec("Truck 1", Some(vin), Some(2019), "Motor Coach"),
                &ctx(),
            )
            .await
            .unwrap();
        assert_eq!(s.vehicle(t.id, v.id).await.unwrap(), v);

        let dup = s
            .create_vehicle(t.id, &spec("Truck 2", Some(vin), None, "X"), &ctx())
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict { field: "vin", .. })),
            "{:?}: {dup:?}",
            db.kind
        );

        let updated = s
            .update_vehicle(
                t.id,
                v.id,
                &spec("Truck One", Some(vin), Some(2019), "MCI"),
                &ctx(),
            )
            .await
            .unwrap();
        assert_eq!(updated.spec.name, "Truck One");
        assert!(updated.updated_at >= v.updated_at);

        s.delete_vehicle(t.id, v.id, &ctx()).await.unwrap();
        assert!(matches!(
            s.vehicle(t.id, v.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.delete_vehicle(t.id, v.id, &ctx()).await,
            Err(StoreError::NotFound)
        ));
        // The VIN is free again once its vehicle is deleted.
        s.create_vehicle(t.id, &spec("Truck 3", Some(vin), None, "X"), &ctx())
            .await
            .unwrap();

        let audit = s
            .list_audit(
                t.id,
                &AuditFilter {
                    entity_id: Some(v.id.to_string()),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<_> = audit.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["vehicle.delete", "vehicle.update", "vehicle.create"],
            "{:?}",
            db.kind
        );
        let update = &audit.items[1];
        assert_eq!(update.before.as_ref().unwrap().0["name"], "Truck 1");
        assert_eq!(update.after.as_ref().unwrap().0["name"], "Truck One");
        assert_eq!(update.actor_label, "conformance test");
    }
}

/// `GET` one vehicle runs on a connection kept out of the pool between
/// reads (`warm_connections.rs`): it is reused, counted idle, and handed
/// back so the store can still close (a pool waits for every connection).
#[tokio::test]
async fn one_statement_reads_keep_their_connection_and_the_store_still_closes() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "warm").await;
        let v = s
            .create_vehicle(t.id, &spec("Warm", None, None, "X"), &ctx())
            .await
            .unwrap();
        for _ in 0..5 {
            assert_eq!(s.vehicle(t.id, v.id).await.unwrap().id, v.id);
        }
        let other = tenant(s, "cold").await;
        assert!(matches!(
            s.vehicle(other.id, v.id).await,
            Err(StoreError::NotFound)
        ));
        let stats = s.pool_stats();
        assert!(stats.idle >= 1, "{:?}: {stats:?}", db.kind);
        tokio::time::timeout(std::time::Duration::from_secs(30), s.close())
            .await
            .unwrap_or_else(|_| panic!("{:?}: the store closes", db.kind));
    }
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_vehicles() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let a = tenant(s, "tenant-a").await;
        let b = tenant(s, "tenant-b").await;
        let va = s
            .create_vehicle(
                a.id,
                &spec("A's car", Some("1M8GDM9AXKP042788"), None, "X"),
                &ctx(),
            )
            .await
            .unwrap();
        // The same VIN in another tenant is fine: uniqueness is per tenant.
        s.create_vehicle(
            b.id,
            &spec("B's car", Some("1M8GDM9AXKP042788"), None, "X"),
            &ctx(),
        )
        .await
        .unwrap();

        assert!(matches!(
            s.vehicle(b.id, va.id).await,
            Err(StoreError::NotFound)
        ));
        let today = time::OffsetDateTime::now_utc().date();
        let year_ago = today - time::Duration::days(365);
        assert!(matches!(
            s.vehicle_page(b.id, va.id, year_ago, today, today).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            s.vehicle_page(a.id, va.id, year_ago, today, today)
                .await
                .unwrap()
                .vehicle
                .id,
            va.id
        );
        assert!(matches!(
            s.update_vehicle(b.id, va.id, &spec("stolen", None, None, "X"), &ctx())
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.delete_vehicle(b.id, va.id, &ctx()).await,
            Err(StoreError::NotFound)
        ));
        let listed = s
            .list_vehicles(
                b.id,
                &VehicleFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        assert!(listed.items.iter().all(|v| v.tenant_id == b.id));
        let audit = s
            .list_audit(
                b.id,
                &AuditFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(
            audit.items.iter().all(|e| e.entity_id != va.id.to_string()),
            "{:?}",
            db.kind
        );
        // A's vehicle is untouched.
        assert_eq!(s.vehicle(a.id, va.id).await.unwrap().spec.name, "A's car");
    }
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_even_without_a_predicate() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let s = &db.store;
    let a = tenant(s, "rls-a").await;
    let b = tenant(s, "rls-b").await;
    for i in 0..3 {
        s.create_vehicle(a.id, &spec(&format!("a{i}"), None, None, "X"), &ctx())
            .await
            .unwrap();
    }
    for i in 0..5 {
        s.create_vehicle(b.id, &spec(&format!("b{i}"), None, None, "X"), &ctx())
            .await
            .unwrap();
    }
    let count = |tenant: Option<TenantId>| async move {
        let Tx::Postgres(mut tx) = s.begin(Mode::Read, tenant).await.unwrap() else {
            unreachable!()
        };
        // Deliberately no tenant predicate: only row-level security filters.
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM vehicles")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM vehicles")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        (n, names)
    };
    let (n, names) = count(Some(a.id)).await;
    assert_eq!(n, 3);
    assert!(names.iter().all(|n| n.starts_with('a')), "{names:?}");
    assert_eq!(count(Some(b.id)).await.0, 5);
    assert_eq!(count(None).await.0, 0, "no tenant set: no rows");

    // `tenant_vehicle` (one vehicle in one statement) sets the tenant for its
    // own statement only: the connection goes back to the pool without one.
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let a_vehicle: VehicleId = s
        .list_vehicles(
            a.id,
            &VehicleFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items[0]
        .id;
    let found: Vec<String> = sqlx::query_scalar("SELECT name FROM tenant_vehicle($1, $2)")
        .bind(a.id.as_uuid())
        .bind(a_vehicle.as_uuid())
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let after: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('app.tenant_id', true), '')")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(after, None, "the tenant outlived the statement");
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM vehicles")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(visible, 0);
    // Another tenant's vehicle through the function: not found.
    let crossed: Vec<String> = sqlx::query_scalar("SELECT name FROM tenant_vehicle($1, $2)")
        .bind(b.id.as_uuid())
        .bind(a_vehicle.as_uuid())
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(crossed.is_empty());

    // Writing a row into another tenant from A's transaction is refused too.
    let Tx::Postgres(mut tx) = s.begin(Mode::Write, Some(a.id)).await.unwrap() else {
        unreachable!()
    };
    let err = sqlx::query(
        "INSERT INTO vehicles (tenant_id, id, name, vehicle_type, fuel_types, odometer_unit, status, created_at, updated_at)
         VALUES ($1, $2, 'sneaky', 'car', '[]', 'km', 'active', now(), now())",
    )
    .bind(b.id.as_uuid())
    .bind(VehicleId::new().as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");

    // And the app role cannot switch the wall off.
    let privileges = s.role_privileges().await.unwrap().unwrap();
    assert_eq!(
        privileges,
        RolePrivileges {
            superuser: false,
            bypass_rls: false,
            owns_tables: false
        }
    );
}

#[tokio::test]
async fn a_snapshot_transaction_does_not_see_later_commits() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "snapshot").await;
        s.create_vehicle(t.id, &spec("first", None, None, "X"), &ctx())
            .await
            .unwrap();
        async fn count(tx: &mut Tx, t: TenantId) -> i64 {
            on_tx!(tx, |c| sqlx::query_scalar(
                "SELECT count(*) FROM vehicles WHERE tenant_id = $1"
            )
            .bind(t.as_uuid())
            .fetch_one(c)
            .await)
            .unwrap()
        }
        let mut tx = s.begin(Mode::Snapshot, Some(t.id)).await.unwrap();
        assert_eq!(count(&mut tx, t.id).await, 1);
        // Committed by another transaction while the snapshot is open.
        s.create_vehicle(t.id, &spec("second", None, None, "X"), &ctx())
            .await
            .unwrap();
        assert_eq!(count(&mut tx, t.id).await, 1, "{:?}", db.kind);
        drop(tx);
        let mut fresh = s.begin(Mode::Read, Some(t.id)).await.unwrap();
        assert_eq!(count(&mut fresh, t.id).await, 2);
    }
}

#[tokio::test]
async fn keyset_pagination_visits_every_vehicle_once_in_order() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "paging").await;
        for i in 0..23 {
            let year = if i % 5 == 0 {
                None
            } else {
                Some(2000 + (i % 7))
            };
            // Duplicate names, years and scores make the id tie-breaker matter.
            let v = s
                .create_vehicle(
                    t.id,
                    &spec(&format!("car {:02}", i % 9), None, year, "X"),
                    &ctx(),
                )
                .await
                .unwrap();
            if i % 4 < 2 {
                faults::give_fault(s, t.id, v.id, i % 4 == 0).await;
            }
        }
        for (sort_name, sort) in VehicleSort::ALL {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = s
                    .list_vehicles(
                        t.id,
                        &VehicleFilter {
                            sort,
                            cursor: cursor.clone(),
                            limit: 5,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                seen.extend(page.items);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen.len(), 23, "{:?} {sort_name}", db.kind);
            let mut ids: Vec<_> = seen.iter().map(|v| v.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 23, "{:?} {sort_name}: duplicates", db.kind);
            let keys: Vec<(String, i32, VehicleId, u8, u8)> = seen
                .iter()
                .map(|v| {
                    (
                        v.spec.name.clone(),
                        v.spec.year.unwrap_or(0),
                        v.id,
                        v.health.score,
                        v.health.risk.rank(),
                    )
                })
                .collect();
            let ordered = keys.windows(2).all(|w| match sort {
                VehicleSort::Name => (&w[0].0, w[0].2) < (&w[1].0, w[1].2),
                VehicleSort::NameDesc => (&w[0].0, w[0].2) > (&w[1].0, w[1].2),
                VehicleSort::Year => (w[0].1, w[0].2) < (w[1].1, w[1].2),
                VehicleSort::YearDesc => (w[0].1, w[0].2) > (w[1].1, w[1].2),
                VehicleSort::Created => w[0].2 < w[1].2,
                VehicleSort::CreatedDesc => w[0].2 > w[1].2,
                VehicleSort::Health => (w[0].3, w[0].2) < (w[1].3, w[1].2),
                VehicleSort::HealthDesc => (w[0].3, w[0].2) > (w[1].3, w[1].2),
                VehicleSort::Risk => (w[0].4, w[0].2) < (w[1].4, w[1].2),
                VehicleSort::RiskDesc => (w[0].4, w[0].2) > (w[1].4, w[1].2),
            });
            assert!(ordered, "{:?} {sort_name}: out of order", db.kind);
        }
        let high = s
            .list_vehicles(
                t.id,
                &VehicleFilter {
                    risk: Some(domain::health::RiskLevel::High),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            high.items.len(),
            6,
            "{:?}: the critical-fault vehicles",
            db.kind
        );
        let bad = s
            .list_vehicles(
                t.id,
                &VehicleFilter {
                    cursor: Some("nonsense".into()),
                    limit: 5,
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(
            bad,
            Err(StoreError::Invalid {
                field: "cursor",
                ..
            })
        ));
    }
}

#[tokio::test]
async fn vehicle_filters() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "filters").await;
        s.create_vehicle(
            t.id,
            &spec("Blue Ford", Some("1FUJGLDR3HLHG7532"), Some(2017), "Ford"),
            &ctx(),
        )
        .await
        .unwrap();
        s.create_vehicle(t.id, &spec("Red Ford", None, Some(2021), "FORD"), &ctx())
            .await
            .unwrap();
        s.create_vehicle(t.id, &spec("100%_wild", None, Some(2010), "Kia"), &ctx())
            .await
            .unwrap();
        let mut sold = spec("Old Kia", None, Some(2005), "Kia");
        sold.status = VehicleStatus::Sold;
        s.create_vehicle(t.id, &sold, &ctx()).await.unwrap();

        let names = |f: VehicleFilter| async move {
            let mut names: Vec<String> = s
                .list_vehicles(t.id, &VehicleFilter { limit: 100, ..f })
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|v| v.spec.name)
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(VehicleFilter {
                make: Some("ford".into()),
                ..Default::default()
            })
            .await,
            ["Blue Ford", "Red Ford"]
        );
        assert_eq!(
            names(VehicleFilter {
                status: Some(VehicleStatus::Sold),
                ..Default::default()
            })
            .await,
            ["Old Kia"]
        );
        assert_eq!(
            names(VehicleFilter {
                year_min: Some(2010),
                year_max: Some(2017),
                ..Default::default()
            })
            .await,
            ["100%_wild", "Blue Ford"]
        );
        assert_eq!(
            names(VehicleFilter {
                q: Some("hlhg75".into()),
                ..Default::default()
            })
            .await,
            ["Blue Ford"]
        );
        assert_eq!(
            names(VehicleFilter {
                q: Some("RED".into()),
                ..Default::default()
            })
            .await,
            ["Red Ford"]
        );
        // LIKE wildcards in the search text are literal.
        assert_eq!(
            names(VehicleFilter {
                q: Some("%_".into()),
                ..Default::default()
            })
            .await,
            ["100%_wild"]
        );
    }
}

#[tokio::test]
async fn memberships_roles_and_the_last_owner() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "members").await;
        let other = tenant(s, "other").await;
        let ann = user(s, "ann@example.com").await;
        let bob = user(s, "bob@example.com").await;
        s.set_membership(t.id, ann.id, Role::Owner, &ctx())
            .await
            .unwrap();
        s.set_membership(t.id, bob.id, Role::Viewer, &ctx())
            .await
            .unwrap();
        s.set_membership(other.id, bob.id, Role::Manager, &ctx())
            .await
            .unwrap();

        assert_eq!(s.role_in(t.id, bob.id).await.unwrap(), Some(Role::Viewer));
        let bobs: Vec<_> = s
            .memberships_of(bob.id)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.tenant.slug, m.role))
            .collect();
        assert_eq!(
            bobs,
            [
                ("members".to_string(), Role::Viewer),
                ("other".to_string(), Role::Manager)
            ]
        );

        let last_owner = s.set_membership(t.id, ann.id, Role::Admin, &ctx()).await;
        assert!(
            matches!(last_owner, Err(StoreError::Conflict { field: "role", .. })),
            "{:?}",
            db.kind
        );
        assert!(matches!(
            s.remove_membership(t.id, ann.id, &ctx()).await,
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(
            s.role_in(t.id, ann.id).await.unwrap(),
            Some(Role::Owner),
            "nothing changed"
        );

        s.remove_membership(t.id, bob.id, &ctx()).await.unwrap();
        assert_eq!(s.role_in(t.id, bob.id).await.unwrap(), None);
        assert_eq!(s.list_members(t.id, None, 10).await.unwrap().items.len(), 1);

        s.delete_tenant(other.id, &ctx()).await.unwrap();
        assert!(
            s.memberships_of(bob.id).await.unwrap().is_empty(),
            "deleted tenants are not listed"
        );
        assert!(matches!(
            s.tenant(other.id).await,
            Err(StoreError::NotFound)
        ));
    }
}

#[tokio::test]
async fn sessions_and_tokens_resolve_until_ended() {
    for db in TestDatabase::all().await {
        // With the credential cache a server uses: every ending below must
        // take effect at once, through the cache's invalidation.
        let s = &db
            .store
            .clone()
            .with_credential_cache(std::time::Duration::from_secs(60));
        let t = tenant(s, "auth").await;
        let ann = user(s, "ann@example.com").await;
        s.set_membership(t.id, ann.id, Role::Admin, &ctx())
            .await
            .unwrap();

        let session = s
            .create_session(&NewSession {
                user: ann.id,
                tenant: t.id,
                token_hash: "session-hash",
                csrf_token: "csrf",
                lifetime_secs: 3600,
                ip: Some("127.0.0.1"),
                user_agent: None,
            })
            .await
            .unwrap();
        let cred = s
            .resolve_credential("session-hash", 3600)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (cred.user.id, cred.tenant_id, cred.role),
            (ann.id, t.id, Role::Admin)
        );
        assert!(
            matches!(cred.kind, CredentialKind::Session { ref csrf_token, .. } if csrf_token == "csrf")
        );
        s.delete_session(session.id).await.unwrap();
        assert!(
            s.resolve_credential("session-hash", 3600)
                .await
                .unwrap()
                .is_none()
        );

        let expired = s
            .create_session(&NewSession {
                user: ann.id,
                tenant: t.id,
                token_hash: "old-hash",
                csrf_token: "csrf",
                lifetime_secs: -1,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();
        assert!(
            s.resolve_credential("old-hash", 3600)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(s.purge_expired_sessions().await.unwrap(), 1, "{expired:?}");

        let token = s
            .create_api_token(
                t.id,
                &NewApiToken {
                    name: "ci".into(),
                    token_hash: "token-hash".into(),
                    user_id: ann.id,
                    role_ceiling: Role::Viewer,
                    expires_at: None,
                },
                &ctx(),
            )
            .await
            .unwrap();
        let cred = s
            .resolve_credential("token-hash", 3600)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cred.role, Role::Viewer, "capped by the token's ceiling");
        let listed = s.list_api_tokens(t.id, None, 10).await.unwrap().items;
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        s.revoke_api_token(t.id, token.id, &ctx()).await.unwrap();
        assert!(
            s.resolve_credential("token-hash", 3600)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            s.revoke_api_token(t.id, token.id, &ctx()).await,
            Err(StoreError::NotFound)
        ));

        // Leaving the tenant disables the member's credentials there.
        let owner = user(s, "owner@example.com").await;
        s.set_membership(t.id, owner.id, Role::Owner, &ctx())
            .await
            .unwrap();
        s.create_session(&NewSession {
            user: ann.id,
            tenant: t.id,
            token_hash: "ann-2",
            csrf_token: "csrf",
            lifetime_secs: 3600,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
        s.remove_membership(t.id, ann.id, &ctx()).await.unwrap();
        assert!(s.resolve_credential("ann-2", 3600).await.unwrap().is_none());
    }
}

/// Two servers on one database (replicas, or a server and the admin CLI):
/// a change committed through one applies at the other's next request on
/// SQLite, and as soon as its notification arrives on PostgreSQL
/// (`credential_epoch.rs`), while a change made behind both (raw SQL, no
/// epoch) shows the cache is really in use.
#[tokio::test]
async fn a_credential_change_reaches_every_server() {
    for db in TestDatabase::all().await {
        let ttl = std::time::Duration::from_secs(60);
        let options = ConnectOptions::default();
        let a = Store::connect(&db.url, &options)
            .await
            .unwrap()
            .with_credential_cache(ttl);
        let b = Store::connect(&db.url, &options)
            .await
            .unwrap()
            .with_credential_cache(ttl);
        let t = tenant(&a, "replicas").await;
        let ann = user(&a, "ann@example.com").await;
        a.set_membership(t.id, ann.id, Role::Admin, &ctx())
            .await
            .unwrap();
        for hash in ["kept", "other"] {
            a.create_api_token(
                t.id,
                &NewApiToken {
                    name: hash.into(),
                    token_hash: hash.into(),
                    user_id: ann.id,
                    role_ceiling: Role::Admin,
                    expires_at: None,
                },
                &ctx(),
            )
            .await
            .unwrap();
        }
        assert!(a.resolve_credential("kept", 3600).await.unwrap().is_some());
        assert!(b.resolve_credential("kept", 3600).await.unwrap().is_some());
        // Revoked behind both servers' backs: b still answers from its cache.
        db.owner_execute("UPDATE api_tokens SET revoked_at = created_at WHERE token_hash = 'kept'")
            .await;
        assert!(
            b.resolve_credential("kept", 3600).await.unwrap().is_some(),
            "{:?}: the cache is in use",
            db.kind
        );
        // Any credential change through a applies at b: at its next request
        // on SQLite, once notified on PostgreSQL (polled for up to 10 s).
        let other = a.list_api_tokens(t.id, None, 10).await.unwrap().items;
        let other = other.iter().find(|t| t.name == "other").unwrap();
        a.revoke_api_token(t.id, other.id, &ctx()).await.unwrap();
        assert!(
            a.resolve_credential("kept", 3600).await.unwrap().is_none(),
            "{:?}: a's own change applies at once",
            db.kind
        );
        let mut polls = 0;
        while b.resolve_credential("kept", 3600).await.unwrap().is_some() {
            assert!(
                db.kind == BackendKind::Postgres && polls < 500,
                "{:?}: b still answers from its cache",
                db.kind
            );
            polls += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn login_throttle_blocks_after_the_limit_and_resets() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let keys = [("login:email:a@example.com", 3)];
        for _ in 0..2 {
            s.throttle_fail(&["login:email:a@example.com"], 900)
                .await
                .unwrap();
        }
        assert_eq!(
            s.throttle_check(&keys, 900).await.unwrap(),
            ThrottleDecision::Allowed
        );
        s.throttle_fail(&["login:email:a@example.com"], 900)
            .await
            .unwrap();
        let ThrottleDecision::Blocked { retry_after } = s.throttle_check(&keys, 900).await.unwrap()
        else {
            panic!("{:?}: should be blocked", db.kind)
        };
        assert!((1..=900).contains(&retry_after));
        s.throttle_reset("login:email:a@example.com").await.unwrap();
        assert_eq!(
            s.throttle_check(&keys, 900).await.unwrap(),
            ThrottleDecision::Allowed
        );
    }
}

#[tokio::test]
async fn idempotency_claims() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "idem").await;
        assert_eq!(
            s.claim_idempotency(t.id, "p", "k1", "h1", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::New
        );
        assert_eq!(
            s.claim_idempotency(t.id, "p", "k1", "h1", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::InProgress
        );
        let response = StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        };
        s.complete_idempotency(t.id, "p", "k1", &response)
            .await
            .unwrap();
        assert_eq!(
            s.claim_idempotency(t.id, "p", "k1", "h1", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::Replay(response)
        );
        assert_eq!(
            s.claim_idempotency(t.id, "p", "k1", "h2", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::Mismatch
        );
        // Keys belong to one principal.
        assert_eq!(
            s.claim_idempotency(t.id, "q", "k1", "h1", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::New
        );
        s.release_idempotency(t.id, "q", "k1").await.unwrap();
        assert_eq!(
            s.claim_idempotency(t.id, "q", "k1", "h1", 86400)
                .await
                .unwrap(),
            IdempotencyClaim::New
        );
        assert_eq!(s.purge_idempotency(-1).await.unwrap(), 2);
    }
}

mod meters {
    use super::*;
    use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
    use time::{Duration, OffsetDateTime};

    /// A manual engine-hour reading of `h` hours.
    pub(crate) fn hours_reading(vehicle: VehicleId, at: OffsetDateTime, h: f64) -> NewReading {
        NewReading {
            kind: MeterKind::Hours,
            value: meter_value(MeterKind::Hours, h, MeterUnit::Hours).unwrap(),
            ..reading(vehicle, at, 0.0)
        }
    }

    /// Records `batch` in tenant `t`; every item must be created.
    pub(crate) async fn record_created(s: &Store, t: TenantId, batch: &[NewReading], what: &str) {
        let max = domain::meter::DEFAULT_MAX_DAILY_KM;
        let out = s.record_readings(t, batch, max, &ctx()).await.unwrap();
        assert!(
            out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))),
            "{what}: {out:?}"
        );
    }

    pub(crate) fn reading(vehicle: VehicleId, at: OffsetDateTime, km: f64) -> NewReading {
        NewReading {
            vehicle_id: vehicle,
            kind: MeterKind::Odometer,
            read_at: at,
            value: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
            source: MeterSource::Manual,
            note: None,
            void: false,
        }
    }

    fn created(o: &ReadingOutcome) -> &Reading {
        match o {
            ReadingOutcome::Created(r) => r,
            other => panic!("expected created, got {other:?}"),
        }
    }

    fn rejected(o: &ReadingOutcome) -> &str {
        match o {
            ReadingOutcome::Rejected {
                field: "value",
                message,
            } => message,
            other => panic!("expected a rejected value, got {other:?}"),
        }
    }

    const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

    #[tokio::test]
    async fn meters_only_go_up_unless_void_or_replaced() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "meters").await;
            let v = s
                .create_vehicle(t.id, &spec("Van", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(30);
            let day = |n: i64| t0 + Duration::days(n);

            let out = s
                .record_readings(
                    t.id,
                    &[reading(v, day(0), 1000.0), reading(v, day(10), 3000.0)],
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            created(&out[0]);
            created(&out[1]);
            // Between its neighbours: fine. Below an earlier one or above a later one: refused.
            let out = s
                .record_readings(
                    t.id,
                    &[
                        reading(v, day(5), 2000.0),
                        reading(v, day(12), 2500.0),
                        reading(v, day(7), 3500.0),
                    ],
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            created(&out[0]);
            assert!(rejected(&out[1]).contains("lower"), "{:?}", db.kind);
            assert!(rejected(&out[2]).contains("higher"));
            // Void readings are kept whatever their value.
            let mut void = reading(v, day(12), 2500.0);
            void.void = true;
            assert!(created(&s.record_readings(t.id, &[void], MAX, &ctx()).await.unwrap()[0]).void);

            // The same reading again is a duplicate; a different value at the same key is refused.
            let out = s
                .record_readings(
                    t.id,
                    &[reading(v, day(0), 1000.0), reading(v, day(0), 1100.0)],
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            assert!(matches!(out[0], ReadingOutcome::Duplicate(_)));
            assert!(rejected(&out[1]).contains("already exists"));

            // A jump of 10,000 km in a day is kept, and flagged.
            let jump = created(
                &s.record_readings(t.id, &[reading(v, day(13), 13_000.0)], MAX, &ctx())
                    .await
                    .unwrap()[0],
            )
            .clone();
            assert!(jump.flag.as_deref().unwrap().contains("implausible"));
            assert_eq!(
                s.vehicle(t.id, v).await.unwrap().meters.odometer_km,
                Some(13_000.0)
            );

            // The odometer is replaced: the new one starts at 0 and counts on from 13,000.
            assert!(
                rejected(
                    &s.record_readings(t.id, &[reading(v, day(15), 50.0)], MAX, &ctx())
                        .await
                        .unwrap()[0]
                )
                .contains("lower")
            );
            let replacement = NewMeterOffset {
                kind: MeterKind::Odometer,
                effective_at: day(14),
                offset: 13_000.0,
                reason: "new instrument cluster".into(),
            };
            s.add_meter_offset(t.id, v, &replacement, &ctx())
                .await
                .unwrap();
            let after = created(
                &s.record_readings(t.id, &[reading(v, day(15), 50.0)], MAX, &ctx())
                    .await
                    .unwrap()[0],
            )
            .clone();
            assert_eq!(after.effective, 13_050.0);
            // Distance across the replacement counts the offset: 13,000 → 50 + 13,000.
            assert_eq!(
                s.distance_km(t.id, v, day(13), day(16)).await.unwrap(),
                Some(50.0),
                "{:?}",
                db.kind
            );
            assert_eq!(
                s.distance_km(t.id, v, day(14), day(16)).await.unwrap(),
                None,
                "one reading is no distance"
            );
            let meters = s.vehicle(t.id, v).await.unwrap().meters;
            assert_eq!(
                (meters.odometer_km, meters.odometer_at),
                (Some(13_050.0), Some(day(15))),
                "{:?}",
                db.kind
            );

            // Voiding the latest reading moves the current meter back; restoring a
            // reading that breaks the order is refused.
            s.set_reading_void(t.id, v, after.id, true, MAX, &ctx())
                .await
                .unwrap();
            assert_eq!(
                s.vehicle(t.id, v).await.unwrap().meters.odometer_km,
                Some(13_000.0)
            );
            let voided = s
                .list_readings(t.id, v, MeterKind::Odometer, None, 100)
                .await
                .unwrap()
                .items;
            let old_void = voided
                .iter()
                .find(|r| r.void && r.read_at == day(12))
                .unwrap();
            let err = s
                .set_reading_void(t.id, v, old_void.id, false, MAX, &ctx())
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Rule { field: "void", .. }),
                "{err:?}"
            );

            // Miles on a kilometre vehicle compare in canonical units: 8,200 mi ≈ 13,196 km.
            let mut miles = reading(v, day(16), 0.0);
            miles.value = meter_value(MeterKind::Odometer, 8_200.0, MeterUnit::Miles).unwrap();
            let m = created(
                &s.record_readings(t.id, &[miles], MAX, &ctx())
                    .await
                    .unwrap()[0],
            )
            .clone();
            assert!((m.canonical - 13_196.620_8).abs() < 1e-6);

            // Another tenant's vehicle is not found.
            let other = tenant(s, "meters-other").await;
            let out = s
                .record_readings(other.id, &[reading(v, day(20), 99_999.0)], MAX, &ctx())
                .await
                .unwrap();
            assert!(matches!(
                out[0],
                ReadingOutcome::Rejected {
                    field: "vehicle_id",
                    ..
                }
            ));
            assert!(matches!(
                s.list_readings(other.id, v, MeterKind::Odometer, None, 10)
                    .await,
                Err(StoreError::NotFound)
            ));
        }
    }

    /// One batch across vehicles and meters: each meter's items are checked
    /// against its own stored neighbours (inside the batch's span and just
    /// outside it) and its own offsets; a deleted vehicle's items are refused.
    #[tokio::test]
    async fn a_batch_across_vehicles_checks_each_meter_against_its_own_history() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "mixed").await;
            let mut ids = Vec::new();
            for name in ["Replaced", "Steady", "Sold"] {
                let spec = spec(name, None, None, "X");
                ids.push(s.create_vehicle(t.id, &spec, &ctx()).await.unwrap().id);
            }
            let [v, w, x] = ids[..] else { unreachable!() };
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(60);
            let day = |n: i64| t0 + Duration::days(n);
            let stored = [
                reading(v, day(10), 10_000.0),
                reading(w, day(10), 500.0),
                reading(w, day(30), 900.0),
            ];
            let out = s.record_readings(t.id, &stored, MAX, &ctx()).await.unwrap();
            assert!(out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))));
            let replacement = NewMeterOffset {
                kind: MeterKind::Odometer,
                effective_at: day(20),
                offset: 10_000.0,
                reason: "new cluster".into(),
            };
            s.add_meter_offset(t.id, v, &replacement, &ctx())
                .await
                .unwrap();
            s.delete_vehicle(t.id, x, &ctx()).await.unwrap();

            let hours = NewReading {
                kind: MeterKind::Hours,
                value: meter_value(MeterKind::Hours, 100.0, MeterUnit::Hours).unwrap(),
                ..reading(w, day(20), 0.0)
            };
            let batch = [
                reading(w, day(25), 1_000.0), // above w's stored day 30
                reading(v, day(25), 200.0),   // 200 + the 10,000 offset
                reading(x, day(1), 1.0),      // a deleted vehicle
                reading(w, day(10), 500.0),   // stored already
                hours,
                reading(v, day(5), 20_000.0), // above v's stored day 10
                reading(w, day(20), 700.0),
            ];
            let out = s.record_readings(t.id, &batch, MAX, &ctx()).await.unwrap();
            let kind = db.kind;
            assert!(
                rejected(&out[0]).contains("higher"),
                "{kind:?}: {:?}",
                out[0]
            );
            assert_eq!(created(&out[1]).effective, 10_200.0, "{kind:?}");
            assert!(
                matches!(
                    &out[2],
                    ReadingOutcome::Rejected {
                        field: "vehicle_id",
                        ..
                    }
                ),
                "{kind:?}: {:?}",
                out[2]
            );
            assert!(matches!(&out[3], ReadingOutcome::Duplicate(_)), "{kind:?}");
            assert_eq!(created(&out[4]).kind, MeterKind::Hours, "{kind:?}");
            assert!(
                rejected(&out[5]).contains("higher"),
                "{kind:?}: {:?}",
                out[5]
            );
            assert_eq!(created(&out[6]).effective, 700.0, "{kind:?}");

            let meters = |id| async move { s.vehicle(t.id, id).await.unwrap().meters };
            assert_eq!(meters(v).await.odometer_km, Some(10_200.0), "{kind:?}");
            assert_eq!(meters(w).await.odometer_km, Some(900.0), "{kind:?}");
            assert_eq!(meters(w).await.engine_hours, Some(100.0), "{kind:?}");
            let listed = s
                .list_readings(t.id, w, MeterKind::Odometer, None, 10)
                .await
                .unwrap();
            let values: Vec<f64> = listed.items.iter().map(|r| r.canonical).collect();
            assert_eq!(values, [900.0, 700.0, 500.0], "{kind:?}");
        }
    }

    #[tokio::test]
    async fn bulk_batches_arrive_unsorted_and_page_newest_first() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "bulk").await;
            let v = s
                .create_vehicle(t.id, &spec("Truck", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let w = s
                .create_vehicle(t.id, &spec("Truck 2", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(200);
            let mut batch = Vec::new();
            for i in (0..120).rev() {
                batch.push(reading(v, t0 + Duration::days(i), 100.0 * i as f64));
                batch.push(reading(w, t0 + Duration::days(i), 50.0 * i as f64));
            }
            let out = s.record_readings(t.id, &batch, MAX, &ctx()).await.unwrap();
            assert!(
                out.iter().all(|o| matches!(o, ReadingOutcome::Created(_))),
                "{:?}",
                db.kind
            );
            let again = s.record_readings(t.id, &batch, MAX, &ctx()).await.unwrap();
            assert!(
                again
                    .iter()
                    .all(|o| matches!(o, ReadingOutcome::Duplicate(_))),
                "idempotent"
            );
            assert_eq!(
                s.vehicle(t.id, v).await.unwrap().meters.odometer_km,
                Some(11_900.0)
            );

            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = s
                    .list_readings(t.id, v, MeterKind::Odometer, cursor.as_deref(), 50)
                    .await
                    .unwrap();
                seen.extend(page.items.iter().map(|r| r.canonical));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen.len(), 120);
            assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
            let audit = s
                .list_audit(
                    t.id,
                    &AuditFilter {
                        action: Some("meter.record_bulk".into()),
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                audit.items.len(),
                1,
                "one audit entry per batch; the repeat created nothing"
            );
        }
    }
}

mod fuel {
    use super::*;
    use domain::fuel::{FuelUnit, L_PER_US_GALLON};
    use domain::meter::{MeterKind, MeterUnit, meter_value};
    use domain::preferences::CurrencyCode;
    use time::{Duration, OffsetDateTime};

    fn fill(
        vehicle: VehicleId,
        at: OffsetDateTime,
        miles: f64,
        gallons: f64,
        cents: i64,
        full: bool,
    ) -> NewFuelEntry {
        NewFuelEntry {
            vehicle_id: vehicle,
            filled_at: at,
            odometer: meter_value(MeterKind::Odometer, miles, MeterUnit::Miles).unwrap(),
            fuel_type: FuelType::Gasoline,
            grade: None,
            quantity: gallons,
            quantity_unit: FuelUnit::UsGallons,
            quantity_canonical: FuelUnit::UsGallons.to_canonical(gallons),
            unit_price_milli: None,
            total_minor: Some(cents),
            currency: CurrencyCode::parse("USD").unwrap(),
            full,
            missed_previous: false,
            station: None,
            soc_before: None,
            soc_after: None,
            notes: None,
        }
    }

    const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

    #[tokio::test]
    async fn full_to_full_economy_follows_every_write() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "fuel").await;
            let v = s
                .create_vehicle(t.id, &spec("Pickup", None, None, "Ford"), &ctx())
                .await
                .unwrap()
                .id;
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(60);
            let day = |n: i64| t0 + Duration::days(n);

            let first = s
                .create_fuel_entry(
                    t.id,
                    &fill(v, day(0), 10_000.0, 12.0, 4000, true),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            assert_eq!(first.segment, None, "the first full fill opens the chain");
            s.create_fuel_entry(
                t.id,
                &fill(v, day(3), 10_150.0, 5.0, 1700, false),
                MAX,
                &ctx(),
            )
            .await
            .unwrap();
            let third = s
                .create_fuel_entry(
                    t.id,
                    &fill(v, day(6), 10_300.0, 5.0, 1750, true),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            let seg = third.segment.unwrap();
            let miles = seg.distance_km / domain::meter::KM_PER_MILE;
            let gallons = seg.quantity / L_PER_US_GALLON;
            assert!(
                (miles - 300.0).abs() < 1e-6 && (gallons - 10.0).abs() < 1e-9,
                "{:?}",
                db.kind
            );
            assert_eq!(seg.cost_minor, Some(3450));

            // A fill whose odometer goes backwards is refused, and writes nothing.
            let err = s
                .create_fuel_entry(
                    t.id,
                    &fill(v, day(7), 10_100.0, 5.0, 1700, true),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Rule {
                        field: "odometer",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(
                s.list_fuel_entries(t.id, v, None, 100)
                    .await
                    .unwrap()
                    .items
                    .len(),
                3
            );

            // A missed fill breaks the chain; the next full fill is measured from it.
            let mut missed = fill(v, day(10), 10_700.0, 11.0, 3800, true);
            missed.missed_previous = true;
            assert_eq!(
                s.create_fuel_entry(t.id, &missed, MAX, &ctx())
                    .await
                    .unwrap()
                    .segment,
                None
            );
            let fifth = s
                .create_fuel_entry(
                    t.id,
                    &fill(v, day(14), 11_000.0, 10.0, 3500, true),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            assert!((fifth.segment.unwrap().quantity / L_PER_US_GALLON - 10.0).abs() < 1e-9);
            let odometer = s
                .vehicle(t.id, v)
                .await
                .unwrap()
                .meters
                .odometer_km
                .unwrap();
            assert!(
                (odometer - 11_000.0 * domain::meter::KM_PER_MILE).abs() < 1e-6,
                "fills move the odometer"
            );

            // A back-dated partial fill changes the segment it falls in.
            let late = s
                .create_fuel_entry(
                    t.id,
                    &fill(v, day(1), 10_050.0, 2.0, 700, false),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap();
            let third_now = s
                .fuel_entry(t.id, v, third.id)
                .await
                .unwrap()
                .segment
                .unwrap();
            assert!((third_now.quantity / L_PER_US_GALLON - 12.0).abs() < 1e-9);
            assert_eq!(third_now.cost_minor, Some(4150));
            s.delete_fuel_entry(t.id, v, late.id, &ctx()).await.unwrap();
            let third_again = s
                .fuel_entry(t.id, v, third.id)
                .await
                .unwrap()
                .segment
                .unwrap();
            assert!(
                (third_again.quantity / L_PER_US_GALLON - 10.0).abs() < 1e-9,
                "deleting restores it"
            );

            let stats = s.fuel_stats(t.id, v, None, None).await.unwrap();
            assert_eq!(stats.len(), 1);
            let g = &stats[0];
            assert_eq!((g.fuel_type, g.entries), (FuelType::Gasoline, 5));
            assert_eq!(
                g.spend,
                vec![("USD".to_string(), 4000 + 1700 + 1750 + 3800 + 3500)]
            );
            let measured = g.measured.unwrap();
            assert!(
                (measured.distance_km / domain::meter::KM_PER_MILE - 600.0).abs() < 1e-6,
                "300 + 300 miles"
            );
            assert!((measured.quantity / L_PER_US_GALLON - 20.0).abs() < 1e-9);
            assert_eq!(g.last, fifth.segment);

            // Another tenant sees none of it.
            let other = tenant(s, "fuel-other").await;
            assert!(matches!(
                s.list_fuel_entries(other.id, v, None, 10).await,
                Err(StoreError::NotFound)
            ));
            assert!(matches!(
                s.fuel_entry(other.id, v, third.id).await,
                Err(StoreError::NotFound)
            ));
        }
    }

    /// A vehicle burning two fuels: one statistic per fuel type in order of
    /// first use, each with its own latest closed segment (none yet for a
    /// type whose chain has not closed one).
    #[tokio::test]
    async fn fuel_statistics_per_fuel_type_with_the_latest_segment_of_each() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "fuel-types").await;
            let v = s
                .create_vehicle(t.id, &spec("Flex", None, None, "Ford"), &ctx())
                .await
                .unwrap()
                .id;
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(30);
            let day = |n: i64| t0 + Duration::days(n);
            let e85 = |mut f: NewFuelEntry| {
                f.fuel_type = FuelType::E85;
                f
            };
            let mut last_gasoline = None;
            for (n, miles) in [(0, 1_000.0), (2, 1_200.0), (4, 1_450.0)] {
                let e = s
                    .create_fuel_entry(t.id, &fill(v, day(n), miles, 8.0, 3000, true), MAX, &ctx())
                    .await
                    .unwrap();
                last_gasoline = e.segment;
            }
            // E85 starts later, and its one fill closes nothing.
            s.create_fuel_entry(
                t.id,
                &e85(fill(v, day(5), 1_500.0, 9.0, 2500, true)),
                MAX,
                &ctx(),
            )
            .await
            .unwrap();
            let stats = s.fuel_stats(t.id, v, None, None).await.unwrap();
            let kinds: Vec<_> = stats.iter().map(|s| (s.fuel_type, s.entries)).collect();
            assert_eq!(
                kinds,
                vec![(FuelType::Gasoline, 3), (FuelType::E85, 1)],
                "{:?}",
                db.kind
            );
            assert!(last_gasoline.is_some());
            assert_eq!(stats[0].last, last_gasoline, "{:?}", db.kind);
            assert_eq!(stats[1].last, None, "{:?}", db.kind);

            // A second E85 fill closes its first segment: 150 miles on 9 gallons.
            let closed = s
                .create_fuel_entry(
                    t.id,
                    &e85(fill(v, day(6), 1_650.0, 9.0, 2600, true)),
                    MAX,
                    &ctx(),
                )
                .await
                .unwrap()
                .segment
                .unwrap();
            let stats = s.fuel_stats(t.id, v, None, None).await.unwrap();
            assert_eq!(stats[1].last, Some(closed), "{:?}", db.kind);
            assert_eq!(stats[0].last, last_gasoline, "{:?}", db.kind);
            let miles = closed.distance_km / domain::meter::KM_PER_MILE;
            assert!((miles - 150.0).abs() < 1e-6, "{miles}");
        }
    }
}

mod maintenance {
    use super::*;
    use domain::maintenance::{Baseline, DueStatus, Interval};
    use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
    use domain::preferences::CurrencyCode;
    use domain::service::{DEFAULT_TASKS, ExpenseCategory};
    use time::{Duration, OffsetDateTime};

    const MAX: f64 = domain::meter::DEFAULT_MAX_DAILY_KM;

    async fn odometer(s: &Store, t: TenantId, v: VehicleId, at: OffsetDateTime, km: f64) {
        let r = NewReading {
            vehicle_id: v,
            kind: MeterKind::Odometer,
            read_at: at,
            value: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
            source: MeterSource::Manual,
            note: None,
            void: false,
        };
        let out = s.record_readings(t, &[r], MAX, &ctx()).await.unwrap();
        assert!(matches!(out[0], ReadingOutcome::Created(_)), "{out:?}");
    }

    /// SQLite returns a listed page as one JSON row (`json_rows`), PostgreSQL
    /// row by row: either way every field, nulls and the last digit of the
    /// meters included, is the vehicle read by id.
    #[tokio::test]
    async fn a_listed_vehicle_is_the_vehicle_read_by_id() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "listed").await;
            let mut custom = serde_json::Map::new();
            custom.insert("depot".into(), "Nørth \"B\"".into());
            custom.insert(
                "axles".into(),
                serde_json::json!({"count": 3, "lift": [true, null]}),
            );
            let full = VehicleSpec::validate(
                VehicleDraft {
                    name: "Tractor 7 ☃".into(),
                    unit_number: Some("U-7".into()),
                    vin: Some("1M8GDM9AXKP042788".into()),
                    plate: Some("AB 123".into()),
                    year: Some(2019),
                    make: Some("Kenworth".into()),
                    model: Some("T680".into()),
                    trim: Some("Day cab".into()),
                    vehicle_type: VehicleType::Car,
                    fuel_types: vec![FuelType::Diesel, FuelType::Def],
                    odometer_unit: OdometerUnit::Miles,
                    in_service_date: Some(time::macros::date!(2019 - 03 - 04)),
                    status: VehicleStatus::OutOfService,
                    tags: vec!["night shift".into(), "'quoted'".into()],
                    custom_fields: custom,
                },
                2026,
            )
            .unwrap();
            let v = s.create_vehicle(t.id, &full, &ctx()).await.unwrap();
            let bare = s
                .create_vehicle(t.id, &spec("Bare", None, None, "X"), &ctx())
                .await
                .unwrap();
            let at = OffsetDateTime::now_utc() - Duration::days(1);
            odometer(s, t.id, v.id, at, 123_456.789_012_345_6 / 3.0).await;
            let hours = NewReading {
                vehicle_id: v.id,
                kind: MeterKind::Hours,
                read_at: at + Duration::microseconds(1),
                value: meter_value(MeterKind::Hours, 0.1 + 0.2, MeterUnit::Hours).unwrap(),
                source: MeterSource::Manual,
                note: None,
                void: false,
            };
            s.record_readings(t.id, &[hours], MAX, &ctx())
                .await
                .unwrap();

            let listed = s
                .list_vehicles(
                    t.id,
                    &VehicleFilter {
                        sort: VehicleSort::Name,
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let by_id = vec![
                s.vehicle(t.id, bare.id).await.unwrap(),
                s.vehicle(t.id, v.id).await.unwrap(),
            ];
            assert_eq!(
                by_id[1].meters.engine_hours,
                Some(0.1 + 0.2),
                "{:?}",
                db.kind
            );
            assert_eq!(listed.items, by_id, "{:?}", db.kind);

            // The same for a vehicle's schedules (one JSON row on SQLite)
            // against each read by id, reals with every digit in use.
            let tasks = s.list_service_tasks(t.id).await.unwrap();
            let mut ids = Vec::new();
            for (i, task) in tasks.iter().take(3).enumerate() {
                let odd = Interval {
                    km: Some(10_000.0 / 3.0 + i as f64),
                    hours: Some(0.1 + 0.2),
                    days: (i == 1).then_some(90),
                };
                let new = NewSchedule {
                    task_id: task.id,
                    one_off: i == 2,
                    interval: odd,
                    window: odd.default_window(),
                    last_done: None,
                };
                ids.push(
                    s.create_schedule(t.id, v.id, &new, &ctx())
                        .await
                        .unwrap()
                        .id,
                );
            }
            let listed = s.list_schedules(t.id, v.id).await.unwrap();
            assert_eq!(listed.len(), 3);
            for schedule in &listed {
                assert_eq!(
                    schedule,
                    &s.schedule(t.id, schedule.id).await.unwrap(),
                    "{:?}",
                    db.kind
                );
            }
            assert!(listed.iter().any(|s| s.one_off), "{:?}", db.kind);
        }
    }

    fn service(v: VehicleId, on: time::Date, km: f64, tasks: Vec<uuid::Uuid>) -> NewServiceRecord {
        NewServiceRecord {
            vehicle_id: v,
            performed_on: on,
            performed_at: on.with_time(time::macros::time!(12:00)).assume_utc(),
            odometer_km: Some(km),
            engine_hours: None,
            vendor: Some("Quick Lube".into()),
            notes: None,
            currency: CurrencyCode::parse("EUR").unwrap(),
            tax_minor: 0,
            discount_minor: 0,
            total_minor: 8900,
            task_ids: tasks,
            line_items: vec![],
        }
    }

    #[tokio::test]
    async fn an_oil_change_reminder_advances_itself() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "maint").await;
            let tasks = s.list_service_tasks(t.id).await.unwrap();
            assert_eq!(
                tasks.len(),
                DEFAULT_TASKS.len(),
                "{:?}: a new tenant gets the default catalog",
                db.kind
            );
            let oil = tasks.iter().find(|t| t.key == "oil_change").unwrap().id;
            let wipers = tasks.iter().find(|t| t.key == "wiper_blades").unwrap().id;

            let v = s
                .create_vehicle(t.id, &spec("Car", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
            odometer(s, t.id, v, now - Duration::days(40), 48_000.0).await;
            odometer(s, t.id, v, now - Duration::days(1), 50_000.0).await;

            let every = Interval {
                km: Some(10_000.0),
                hours: None,
                days: Some(365),
            };
            let new = NewSchedule {
                task_id: oil,
                one_off: false,
                interval: every,
                window: every.default_window(),
                last_done: None,
            };
            let sched = s.create_schedule(t.id, v, &new, &ctx()).await.unwrap();
            assert_eq!(sched.state.next_km, Some(60_000.0), "{:?}", db.kind);
            assert_eq!(sched.state.status, DueStatus::Ok);
            // 10,000 km left at 50 km/day (2,000 km in 39 days ≈ 51.3): forecast well before the year is out.
            let forecast = sched.state.forecast.unwrap();
            assert!(
                forecast < now.date() + Duration::days(365)
                    && forecast > now.date() + Duration::days(150),
                "{forecast}"
            );

            odometer(s, t.id, v, now - Duration::hours(2), 59_200.0).await;
            assert_eq!(
                s.schedule(t.id, sched.id).await.unwrap().state.status,
                DueStatus::DueSoon,
                "readings move the due state"
            );
            odometer(s, t.id, v, now - Duration::hours(1), 60_100.0).await;
            assert_eq!(
                s.schedule(t.id, sched.id).await.unwrap().state.status,
                DueStatus::Overdue
            );
            let due = s.due_list(t.id, false, None, 50).await.unwrap();
            assert_eq!(due.items.len(), 1);
            assert_eq!(
                (
                    due.items[0].task_name.as_str(),
                    due.items[0].vehicle_name.as_str()
                ),
                ("Oil and filter change", "Car")
            );

            // A one-off task completes when done.
            let once = NewSchedule {
                task_id: wipers,
                one_off: true,
                interval: Interval {
                    days: Some(30),
                    ..Default::default()
                },
                window: Interval {
                    days: Some(7),
                    ..Default::default()
                },
                last_done: None,
            };
            let wiper_sched = s.create_schedule(t.id, v, &once, &ctx()).await.unwrap();

            // The oil change is logged: the reminder restarts from it.
            let mut oil_change = service(v, now.date(), 60_200.0, vec![oil, wipers]);
            oil_change.performed_at = now;
            let record = s
                .create_service_record(t.id, &oil_change, MAX, &ctx())
                .await
                .unwrap();
            assert_eq!(record.record.total_minor, 8900);
            let after = s.schedule(t.id, sched.id).await.unwrap();
            assert_eq!(
                (after.last_done.km, after.state.next_km, after.state.status),
                (Some(60_200.0), Some(70_200.0), DueStatus::Ok)
            );
            assert_eq!(
                s.schedule(t.id, wiper_sched.id).await.unwrap().state.status,
                DueStatus::Completed
            );
            assert!(
                s.due_list(t.id, false, None, 50)
                    .await
                    .unwrap()
                    .items
                    .is_empty()
            );
            assert_eq!(
                s.vehicle(t.id, v).await.unwrap().meters.odometer_km,
                Some(60_200.0),
                "the service's odometer is a reading"
            );

            // Editing the interval recomputes the next due.
            let shorter = Interval {
                km: Some(5_000.0),
                hours: None,
                days: Some(365),
            };
            let edited = s
                .update_schedule(
                    t.id,
                    sched.id,
                    shorter,
                    shorter.default_window(),
                    after.last_done,
                    &ctx(),
                )
                .await
                .unwrap();
            assert_eq!(edited.state.next_km, Some(65_200.0));

            // The calendar alone makes it overdue a year on.
            s.reevaluate_all_schedules(now.date() + Duration::days(400))
                .await
                .unwrap();
            assert_eq!(
                s.schedule(t.id, sched.id).await.unwrap().state.status,
                DueStatus::Overdue
            );

            // An unknown task refuses the record, and nothing is written.
            let mut unknown = service(v, now.date(), 60_300.0, vec![uuid::Uuid::now_v7()]);
            unknown.performed_at = now;
            let bad = s.create_service_record(t.id, &unknown, MAX, &ctx()).await;
            assert!(matches!(
                bad,
                Err(StoreError::Rule {
                    field: "task_ids",
                    ..
                })
            ));
            assert_eq!(
                s.list_service_records(t.id, v, None, 10)
                    .await
                    .unwrap()
                    .items
                    .len(),
                1
            );
            assert_eq!(
                s.vehicle(t.id, v).await.unwrap().meters.odometer_km,
                Some(60_200.0)
            );
        }
    }

    #[tokio::test]
    async fn templates_apply_to_many_vehicles_and_the_due_list_pages_by_urgency() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "fleet-due").await;
            let rotate = s
                .list_service_tasks(t.id)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.key == "tire_rotation")
                .unwrap()
                .id;
            let today = OffsetDateTime::now_utc().date();
            let mut vehicles = Vec::new();
            for i in 0..12 {
                vehicles.push(
                    s.create_vehicle(
                        t.id,
                        &spec(&format!("Truck {i:02}"), None, None, "X"),
                        &ctx(),
                    )
                    .await
                    .unwrap()
                    .id,
                );
            }
            // Last rotated 0..12 × 20 days ago, every 180 days: the oldest are overdue.
            for (i, v) in vehicles.iter().enumerate() {
                let every = Interval {
                    days: Some(180),
                    ..Default::default()
                };
                let new = NewSchedule {
                    task_id: rotate,
                    one_off: false,
                    interval: every,
                    window: Interval {
                        days: Some(30),
                        ..Default::default()
                    },
                    last_done: Some(Baseline {
                        date: today - Duration::days(20 * i as i64),
                        km: None,
                        hours: None,
                    }),
                };
                s.apply_schedule(t.id, &[*v], &new, &ctx()).await.unwrap();
            }
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = s.due_list(t.id, false, cursor.as_deref(), 2).await.unwrap();
                seen.extend(
                    page.items
                        .iter()
                        .map(|s| (s.state.status, s.state.forecast, s.vehicle_name.clone())),
                );
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            // Due after 180 days: overdue from 9 × 20 = 180 on (i ≥ 9), due soon from 150 (i = 8).
            let statuses: Vec<_> = seen.iter().map(|s| s.0).collect();
            assert_eq!(
                statuses,
                [
                    DueStatus::Overdue,
                    DueStatus::Overdue,
                    DueStatus::Overdue,
                    DueStatus::DueSoon
                ],
                "{:?}",
                db.kind
            );
            assert_eq!(seen[3].2, "Truck 08");
            let overdue = s.due_list(t.id, true, None, 50).await.unwrap();
            assert_eq!(overdue.items.len(), 3);

            // A template naming another tenant's vehicle writes nothing at all.
            let other = tenant(s, "fleet-due-other").await;
            let theirs = s
                .create_vehicle(other.id, &spec("Theirs", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let every = Interval {
                km: Some(15_000.0),
                ..Default::default()
            };
            let new = NewSchedule {
                task_id: rotate,
                one_off: false,
                interval: every,
                window: every.default_window(),
                last_done: None,
            };
            let err = s
                .apply_schedule(t.id, &[vehicles[0], theirs], &new, &ctx())
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Rule {
                        field: "vehicle_ids",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(s.list_schedules(t.id, vehicles[0]).await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn costs_add_up_by_month_and_category() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "costs").await;
            let v = s
                .create_vehicle(t.id, &spec("Car", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let eur = CurrencyCode::parse("EUR").unwrap();
            let d = |m: u8, day: u8| {
                time::Date::from_calendar_date(2026, time::Month::try_from(m).unwrap(), day)
                    .unwrap()
            };
            for (category, on, amount) in [
                (ExpenseCategory::Insurance, d(1, 5), 45_000),
                (ExpenseCategory::Tolls, d(1, 20), 1_250),
                (ExpenseCategory::Tolls, d(2, 2), 800),
            ] {
                let e = NewExpense {
                    vehicle_id: v,
                    category,
                    spent_on: on,
                    amount_minor: amount,
                    currency: eur.clone(),
                    recurrence: None,
                    notes: None,
                };
                s.create_expense(t.id, &e, &ctx()).await.unwrap();
            }
            s.create_service_record(t.id, &service(v, d(2, 10), 1_000.0, vec![]), MAX, &ctx())
                .await
                .unwrap();
            let lines = s.costs(t.id, Some(v), d(1, 1), d(3, 1)).await.unwrap();
            let flat: Vec<(String, String, i64)> = lines
                .into_iter()
                .map(|l| (l.month, l.category, l.amount_minor))
                .collect();
            assert_eq!(
                flat,
                [
                    ("2026-01".into(), "insurance".into(), 45_000),
                    ("2026-01".into(), "tolls".into(), 1_250),
                    ("2026-02".into(), "service".into(), 8_900),
                    ("2026-02".into(), "tolls".into(), 800),
                ],
                "{:?}",
                db.kind
            );
            let tenant_wide = s.costs(t.id, None, d(2, 1), d(3, 1)).await.unwrap();
            assert_eq!(
                tenant_wide.iter().map(|l| l.amount_minor).sum::<i64>(),
                9_700
            );
        }
    }
}

mod imports {
    use super::*;
    use domain::import::{Options, parse};
    use domain::preferences::CurrencyCode;

    const FUELLY: &str = "car_name,model,mpg,odometer,miles,gallons,price,city_percentage,fuelup_date,date_added,tags,notes,missed_fuelup,partial_fuelup,latitude,longitude,brand
Civic,Honda Civic,0,10000,0,12.000,3.459,50,01/02/2024,01/02/2024,,,0,0,,,
Civic,Honda Civic,30.0,10300,300,10.000,3.500,50,01/09/2024,01/09/2024,,,0,0,,,
Civic,Honda Civic,0,10150,150,5.000,3.400,50,01/12/2024,01/12/2024,,odometer went back,0,0,,,
Civic,Honda Civic,0,10600,300,10.000,3.400,50,01/20/2024,01/20/2024,,,0,0,,,
";

    fn settings(vehicle: VehicleId, dry_run: bool, valid_only: bool) -> ImportSettings {
        ImportSettings {
            vehicle,
            source_vehicle: None,
            currency: CurrencyCode::parse("USD").unwrap(),
            dry_run,
            valid_only,
            max_daily_km: domain::meter::DEFAULT_MAX_DAILY_KM,
        }
    }

    #[tokio::test]
    async fn imports_are_all_or_nothing_idempotent_and_dry_runs_write_nothing() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "imports").await;
            let v = s
                .create_vehicle(t.id, &spec("Civic", None, None, "Honda"), &ctx())
                .await
                .unwrap()
                .id;
            let parsed = parse(
                FUELLY,
                &Options {
                    currency_exponent: 2,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut ticks = 0;

            // Row 4's odometer goes back: the whole file is refused, nothing written.
            let r = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, false),
                    &ctx(),
                    &mut |_| ticks += 1,
                )
                .await
                .unwrap();
            assert_eq!((r.fuel, r.committed), (3, false), "{:?}", db.kind);
            assert_eq!(r.errors.len(), 1);
            assert_eq!(
                (r.errors[0].line, r.errors[0].field.as_str()),
                (4, "odometer")
            );
            assert_eq!(ticks, 4, "progress per row");
            assert!(
                s.list_fuel_entries(t.id, v, None, 10)
                    .await
                    .unwrap()
                    .items
                    .is_empty()
            );

            // A dry run with valid_only reports the same and writes nothing.
            let r = s
                .import(t.id, &parsed, &settings(v, true, true), &ctx(), &mut |_| {})
                .await
                .unwrap();
            assert_eq!((r.fuel, r.committed), (3, false));
            assert!(
                s.list_fuel_entries(t.id, v, None, 10)
                    .await
                    .unwrap()
                    .items
                    .is_empty()
            );

            // valid_only imports the three good rows, with their economy.
            let r = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, true),
                    &ctx(),
                    &mut |_| {},
                )
                .await
                .unwrap();
            assert_eq!((r.fuel, r.committed, r.errors.len()), (3, true, 1));
            let entries = s.list_fuel_entries(t.id, v, None, 10).await.unwrap().items;
            assert_eq!(entries.len(), 3);
            let stats = s.fuel_stats(t.id, v, None, None).await.unwrap();
            let m = stats[0].measured.unwrap();
            assert!(
                (m.distance_km / domain::meter::KM_PER_MILE - 600.0).abs() < 1e-6,
                "10,000 → 10,600 mi"
            );
            // Imports refresh the vehicle's current odometer once, at the end.
            let current = s.vehicle(t.id, v).await.unwrap().meters.odometer_km;
            assert!(
                (current.unwrap() / domain::meter::KM_PER_MILE - 10_600.0).abs() < 1e-6,
                "current odometer after the import: {current:?}"
            );

            // The same file again adds nothing.
            let r = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, true),
                    &ctx(),
                    &mut |_| {},
                )
                .await
                .unwrap();
            assert_eq!((r.fuel, r.duplicates), (0, 3), "{:?}", db.kind);
            assert_eq!(
                s.list_fuel_entries(t.id, v, None, 10)
                    .await
                    .unwrap()
                    .items
                    .len(),
                3
            );
        }
    }

    /// Imports write in runs of a few thousand rows: a file longer than a
    /// run, with a repeated row and a bad odometer past the first run, must
    /// give exactly what applying the rows one by one would.
    #[tokio::test]
    async fn a_long_import_is_batched_without_changing_the_outcome() {
        let header = FUELLY.lines().next().unwrap();
        let mut file = format!("{header}\n");
        let start = time::macros::datetime!(2020-01-01 06:00);
        for i in 0..2_600u32 {
            let odometer = 10_000 + i * 100;
            let at = start + time::Duration::hours(8 * i64::from(i));
            let day = format!(
                "{:02}/{:02}/{} {}:00",
                u8::from(at.month()),
                at.day(),
                at.year(),
                at.hour()
            );
            let line =
                format!("Civic,Honda Civic,0,{odometer},100,4.000,3.000,50,{day},{day},,,0,0,,,\n");
            file.push_str(&line);
            if i == 1_999 {
                // The same row twice, on the run boundary: one fill, one duplicate.
                file.push_str(&line);
            }
            if i == 2_300 {
                // An odometer that goes back, well inside the second run.
                let back = format!(
                    "Civic,Honda Civic,0,{},100,4.000,3.000,50,{day},{day},,,0,0,,,\n",
                    odometer - 5_000
                );
                file.push_str(
                    &back.replace(&format!(" {}:00", at.hour()), &format!(" {}:30", at.hour())),
                );
            }
        }
        let parsed = parse(
            &file,
            &Options {
                currency_exponent: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(parsed.rows.len(), 2_602);
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "imports-long").await;
            let v = s
                .create_vehicle(t.id, &spec("Civic", None, None, "Honda"), &ctx())
                .await
                .unwrap()
                .id;
            let r = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, true),
                    &ctx(),
                    &mut |_| {},
                )
                .await
                .unwrap();
            assert_eq!(
                (r.fuel, r.duplicates, r.errors.len(), r.committed),
                (2_600, 1, 1, true),
                "{:?}: {:?}",
                db.kind,
                r.errors
            );
            assert_eq!(
                (r.errors[0].line, r.errors[0].field.as_str()),
                (2_304, "odometer")
            );
            // Every fill after the first closes a 100-mile segment.
            let stats = s.fuel_stats(t.id, v, None, None).await.unwrap();
            let m = stats[0].measured.unwrap();
            assert!(
                (m.distance_km / domain::meter::KM_PER_MILE - 259_900.0).abs() < 1e-3,
                "{:?}: {}",
                db.kind,
                m.distance_km / domain::meter::KM_PER_MILE
            );
            let current = s
                .vehicle(t.id, v)
                .await
                .unwrap()
                .meters
                .odometer_km
                .unwrap();
            assert!((current / domain::meter::KM_PER_MILE - 269_900.0).abs() < 1e-3);
            // Again: all duplicates, nothing added.
            let again = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, true),
                    &ctx(),
                    &mut |_| {},
                )
                .await
                .unwrap();
            assert_eq!(
                (again.fuel, again.duplicates, again.errors.len()),
                (0, 2_601, 1)
            );
        }
    }

    #[tokio::test]
    async fn a_file_with_several_vehicles_needs_a_choice() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "imports-many").await;
            let v = s
                .create_vehicle(t.id, &spec("Civic", None, None, "Honda"), &ctx())
                .await
                .unwrap()
                .id;
            let two = format!(
                "{FUELLY}Fit,Honda Fit,0,500,0,8.000,3.000,50,01/03/2024,01/03/2024,,,0,0,,,\n"
            );
            let parsed = parse(
                &two,
                &Options {
                    currency_exponent: 2,
                    ..Default::default()
                },
            )
            .unwrap();
            let err = s
                .import(
                    t.id,
                    &parsed,
                    &settings(v, false, true),
                    &ctx(),
                    &mut |_| {},
                )
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Rule {
                        field: "source_vehicle",
                        ..
                    }
                ),
                "{err:?}"
            );
            let mut only_fit = settings(v, false, true);
            only_fit.source_vehicle = Some("Fit".into());
            let r = s
                .import(t.id, &parsed, &only_fit, &ctx(), &mut |_| {})
                .await
                .unwrap();
            assert_eq!((r.rows, r.fuel), (1, 1));
        }
    }
}

mod documents {
    use super::*;
    use domain::document::DocumentKind;

    #[tokio::test]
    async fn files_are_content_addressed_and_orphans_found() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let dir = tempfile::tempdir().unwrap();
            let files = FileStore::open(dir.path()).unwrap();
            let a = files.put(b"%PDF-1.4 card").await.unwrap();
            assert_eq!(
                files.put(b"%PDF-1.4 card").await.unwrap(),
                a,
                "same bytes, same file"
            );
            let b = files.put(b"%PDF-1.4 old receipt").await.unwrap();
            assert_eq!(files.get(&a).await.unwrap(), b"%PDF-1.4 card");
            assert!(matches!(
                files.get(&"0".repeat(64)).await,
                Err(StoreError::NotFound)
            ));
            assert!(
                files.get("../../etc/passwd").await.is_err(),
                "only hashes name files"
            );

            let t = tenant(s, "docs").await;
            let v = s
                .create_vehicle(t.id, &spec("Van", None, None, "X"), &ctx())
                .await
                .unwrap()
                .id;
            let new = NewDocument {
                vehicle_id: v,
                record_id: None,
                kind: DocumentKind::Insurance,
                title: "Card".into(),
                issued_on: None,
                expires_on: Some(time::macros::date!(2026 - 12 - 01)),
                notes: None,
                sha256: a.clone(),
                size_bytes: 13,
                content_type: "application/pdf".into(),
                file_name: "card.pdf".into(),
            };
            let doc = s.create_document(t.id, &new, &ctx()).await.unwrap();
            let referenced = s.referenced_files().await.unwrap();
            let orphans: Vec<String> = files
                .list(std::time::Duration::ZERO)
                .unwrap()
                .into_iter()
                .filter(|h| !referenced.contains(h))
                .collect();
            assert_eq!(orphans, vec![b.clone()], "{:?}", db.kind);
            assert!(
                files
                    .list(std::time::Duration::from_secs(3600))
                    .unwrap()
                    .is_empty(),
                "fresh files are left alone"
            );

            let expiring = s
                .expiring_documents(t.id, None, time::macros::date!(2026 - 12 - 31), 10)
                .await
                .unwrap();
            assert_eq!(expiring.len(), 1);
            s.delete_document(t.id, doc.id, &ctx()).await.unwrap();
            assert!(s.referenced_files().await.unwrap().is_empty());
            assert!(
                s.expiring_documents(t.id, None, time::macros::date!(2026 - 12 - 31), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}

#[tokio::test]
async fn deleting_a_record_detaches_its_documents() {
    for db in TestDatabase::all().await {
        let s = &db.store;
        let t = tenant(s, "detach").await;
        let v = s
            .create_vehicle(t.id, &spec("Van", None, None, "X"), &ctx())
            .await
            .unwrap()
            .id;
        let e = NewExpense {
            vehicle_id: v,
            category: domain::service::ExpenseCategory::Fines,
            spent_on: time::macros::date!(2026 - 01 - 01),
            amount_minor: 5000,
            currency: domain::preferences::CurrencyCode::parse("EUR").unwrap(),
            recurrence: None,
            notes: None,
        };
        let expense = s.create_expense(t.id, &e, &ctx()).await.unwrap();
        let doc = s
            .create_document(
                t.id,
                &NewDocument {
                    vehicle_id: v,
                    record_id: Some(expense.id),
                    kind: domain::document::DocumentKind::Receipt,
                    title: "Ticket".into(),
                    issued_on: None,
                    expires_on: None,
                    notes: None,
                    sha256: "a".repeat(64),
                    size_bytes: 1,
                    content_type: "text/plain; charset=utf-8".into(),
                    file_name: "t.txt".into(),
                },
                &ctx(),
            )
            .await
            .unwrap();
        s.delete_expense(t.id, v, expense.id, &ctx()).await.unwrap();
        let after = s.document(t.id, doc.id).await.unwrap();
        assert_eq!(after.doc.record_id, None, "{:?}: kept, detached", db.kind);
    }
}

mod export {
    use super::*;
    use domain::document::DocumentKind;
    use domain::fuel::FuelUnit;
    use domain::maintenance::{Baseline, Interval};
    use domain::meter::{MeterKind, MeterSource, MeterUnit, meter_value};
    use domain::preferences::CurrencyCode;
    use domain::service::{ExpenseCategory, LineKind};
    use time::{Duration, OffsetDateTime};

    /// An export with the ids that necessarily change set aside.
    fn normalised(mut e: Export) -> Export {
        for v in &mut e.vehicles {
            v.id = uuid::Uuid::nil();
            v.fuel.iter_mut().for_each(|f| f.id = uuid::Uuid::nil());
            v.services.iter_mut().for_each(|s| s.id = uuid::Uuid::nil());
            v.expenses.iter_mut().for_each(|x| x.id = uuid::Uuid::nil());
        }
        e
    }

    #[tokio::test]
    async fn a_tenant_export_imports_back_losslessly_and_once() {
        for db in TestDatabase::all().await {
            let s = &db.store;
            let t = tenant(s, "exporter").await;
            let max = domain::meter::DEFAULT_MAX_DAILY_KM;
            let v = s
                .create_vehicle(
                    t.id,
                    &spec(
                        "Truck",
                        Some("1FUJGLDR3HLHG7532"),
                        Some(2017),
                        "Freightliner",
                    ),
                    &ctx(),
                )
                .await
                .unwrap()
                .id;
            let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - Duration::days(100);
            let day = |n: i64| t0 + Duration::days(n);
            let reading = |at, km: f64, void| NewReading {
                vehicle_id: v,
                kind: MeterKind::Odometer,
                read_at: at,
                value: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
                source: MeterSource::Manual,
                note: Some("dash photo".into()),
                void,
            };
            s.record_readings(
                t.id,
                &[reading(day(0), 1000.0, false), reading(day(1), 5.0, true)],
                max,
                &ctx(),
            )
            .await
            .unwrap();
            let usd = CurrencyCode::parse("USD").unwrap();
            for (n, km, litres, full, missed) in [
                (2, 1400.0, 40.0, true, false),
                (5, 1700.0, 12.5, false, false),
                (8, 2100.0, 30.0, true, false),
                (12, 2600.0, 35.0, true, true),
            ] {
                let fill = NewFuelEntry {
                    vehicle_id: v,
                    filled_at: day(n),
                    odometer: meter_value(MeterKind::Odometer, km, MeterUnit::Kilometres).unwrap(),
                    fuel_type: FuelType::Gasoline,
                    grade: Some("95".into()),
                    quantity: litres,
                    quantity_unit: FuelUnit::Litres,
                    quantity_canonical: litres,
                    unit_price_milli: Some(165_900),
                    total_minor: Some((litres * 165.9).round() as i64),
                    currency: usd.clone(),
                    full,
                    missed_previous: missed,
                    station: Some("Main St".into()),
                    soc_before: None,
                    soc_after: None,
                    notes: None,
                };
                s.create_fuel_entry(t.id, &fill, max, &ctx()).await.unwrap();
            }
            let oil = s
                .list_service_tasks(t.id)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.key == "oil_change")
                .unwrap()
                .id;
            let custom = s
                .create_service_task(t.id, "hydraulics", "Hydraulic filter", &ctx())
                .await
                .unwrap()
                .id;
            let service = NewServiceRecord {
                vehicle_id: v,
                performed_on: day(20).date(),
                performed_at: day(20),
                odometer_km: Some(3000.0),
                engine_hours: None,
                vendor: Some("Shop".into()),
                notes: Some("all good".into()),
                currency: usd.clone(),
                tax_minor: 500,
                discount_minor: 100,
                total_minor: 10_400,
                task_ids: vec![oil, custom],
                line_items: vec![LineItem {
                    kind: LineKind::Labor,
                    description: "Labor".into(),
                    part_number: None,
                    quantity: 1.0,
                    unit_cost_minor: 10_000,
                    amount_minor: 10_000,
                }],
            };
            s.create_service_record(t.id, &service, max, &ctx())
                .await
                .unwrap();
            s.add_meter_offset(
                t.id,
                v,
                &NewMeterOffset {
                    kind: MeterKind::Odometer,
                    effective_at: day(30),
                    offset: 3000.0,
                    reason: "cluster".into(),
                },
                &ctx(),
            )
            .await
            .unwrap();
            s.record_readings(t.id, &[reading(day(31), 10.0, false)], max, &ctx())
                .await
                .unwrap();
            let expense = NewExpense {
                vehicle_id: v,
                category: ExpenseCategory::Tolls,
                spent_on: day(3).date(),
                amount_minor: 450,
                currency: usd.clone(),
                recurrence: None,
                notes: None,
            };
            s.create_expense(t.id, &expense, &ctx()).await.unwrap();
            let every = Interval {
                km: Some(10_000.0),
                hours: None,
                days: Some(365),
            };
            s.create_schedule(
                t.id,
                v,
                &NewSchedule {
                    task_id: oil,
                    one_off: false,
                    interval: every,
                    window: every.default_window(),
                    last_done: Some(Baseline {
                        date: day(20).date(),
                        km: Some(3000.0),
                        hours: None,
                    }),
                },
                &ctx(),
            )
            .await
            .unwrap();
            let doc = NewDocument {
                vehicle_id: v,
                record_id: None,
                kind: DocumentKind::Registration,
                title: "Registration".into(),
                issued_on: None,
                expires_on: Some(day(200).date()),
                notes: None,
                sha256: "b".repeat(64),
                size_bytes: 10,
                content_type: "application/pdf".into(),
                file_name: "reg.pdf".into(),
            };
            s.create_document(t.id, &doc, &ctx()).await.unwrap();

            let original = s.export(t.id, None).await.unwrap();
            assert_eq!(original.vehicles.len(), 1);
            let v0 = &original.vehicles[0];
            assert_eq!(
                (
                    v0.readings.len(),
                    v0.fuel.len(),
                    v0.services.len(),
                    v0.expenses.len(),
                    v0.schedules.len(),
                    v0.documents.len(),
                    v0.offsets.len()
                ),
                (3, 4, 1, 1, 1, 1, 1),
                "{:?}",
                db.kind
            );
            // Through JSON text, as a file would go.
            let text = serde_json::to_string(&original).unwrap();
            let parsed: Export = serde_json::from_str(&text).unwrap();

            let other = tenant(s, "importer").await;
            let report = s.import_export(other.id, &parsed, &ctx()).await.unwrap();
            assert_eq!((report.vehicles_created, report.items_existing), (1, 0));
            let copy = s.export(other.id, None).await.unwrap();
            assert_eq!(
                normalised(copy.clone()),
                normalised(original.clone()),
                "{:?}: lossless",
                db.kind
            );
            // Economy came along too.
            let new_v = s
                .list_vehicles(
                    other.id,
                    &VehicleFilter {
                        limit: 10,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .items[0]
                .id;
            assert_eq!(
                s.fuel_stats(other.id, new_v, None, None).await.unwrap(),
                s.fuel_stats(t.id, v, None, None).await.unwrap()
            );

            let again = s.import_export(other.id, &parsed, &ctx()).await.unwrap();
            assert_eq!(
                (
                    again.vehicles_created,
                    again.vehicles_existing,
                    again.items_created
                ),
                (0, 1, 0),
                "{:?}: once",
                db.kind
            );
            assert_eq!(
                s.list_vehicles(
                    other.id,
                    &VehicleFilter {
                        limit: 10,
                        ..Default::default()
                    }
                )
                .await
                .unwrap()
                .items
                .len(),
                1
            );
        }
    }
}
