//! Who may do what: the role matrix, tenant isolation, members and audit.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Caller, TestApp};

#[tokio::test]
async fn the_role_matrix() {
    for app in TestApp::all().await {
        let (_, owner) = app.caller("acme", Role::Owner).await;
        let (_, vehicle) = app
            .call(
                &owner,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Seed"})),
            )
            .await;
        let one = format!("/api/v1/vehicles/{}", vehicle["id"].as_str().unwrap());

        // (method, path, body, lowest role allowed)
        let matrix: Vec<(Method, String, Option<serde_json::Value>, Role)> = vec![
            (Method::GET, "/api/v1/vehicles".into(), None, Role::Viewer),
            (Method::GET, one.clone(), None, Role::Viewer),
            (
                Method::POST,
                "/api/v1/vehicles".into(),
                Some(json!({"name": "New"})),
                Role::Manager,
            ),
            (
                Method::PATCH,
                one.clone(),
                Some(json!({"plate": "X1"})),
                Role::Manager,
            ),
            (Method::GET, "/api/v1/tenant".into(), None, Role::Viewer),
            (
                Method::PATCH,
                "/api/v1/tenant".into(),
                Some(json!({"name": "Acme"})),
                Role::Admin,
            ),
            (Method::GET, "/api/v1/members".into(), None, Role::Viewer),
            (Method::GET, "/api/v1/tokens".into(), None, Role::Admin),
            (Method::GET, "/api/v1/audit".into(), None, Role::Admin),
        ];
        for role in Role::ALL {
            let (_, caller) = app.caller("acme", role).await;
            for (method, path, body, min) in &matrix {
                let (status, problem) = app.call(&caller, method.clone(), path, body.clone()).await;
                if role >= *min {
                    assert!(
                        status.is_success(),
                        "{}: {role} {method} {path} → {status} {problem}",
                        app.name()
                    );
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{}: {role} {method} {path}",
                        app.name()
                    );
                    assert_eq!(problem["status"], 403);
                }
            }
        }
        let (_, viewer) = app.caller("acme", Role::Viewer).await;
        let (status, _) = app.call(&viewer, Method::DELETE, &one, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(&owner, Method::DELETE, &one, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn another_tenant_cannot_read_list_change_or_delete_by_any_route() {
    for app in TestApp::all().await {
        let (a, a_owner) = app.caller("tenant-a", Role::Owner).await;
        let (_, b_owner) = app.caller("tenant-b", Role::Owner).await;
        let (status, vehicle) = app
            .call(
                &a_owner,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "A's truck", "vin": "1FUJGLDR3HLHG7532"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let id = vehicle["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/vehicles/{id}");

        // Every route answers as if the vehicle did not exist: 404, never 403.
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"name": "stolen"}))),
            (Method::DELETE, None),
        ] {
            let (status, problem) = app.call(&b_owner, method.clone(), &path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{}: {method}", app.name());
            assert_eq!(problem["detail"], "not found");
        }
        // A made-up id answers the same.
        let (status, _) = app
            .call(
                &b_owner,
                Method::GET,
                "/api/v1/vehicles/01890000-0000-7000-8000-000000000000",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (_, list) = app
            .call(&b_owner, Method::GET, "/api/v1/vehicles?q=truck", None)
            .await;
        assert!(list["items"].as_array().unwrap().is_empty());
        let (_, audit) = app
            .call(&b_owner, Method::GET, "/api/v1/audit?limit=500", None)
            .await;
        assert!(
            !serde_json::to_string(&audit).unwrap().contains(&id),
            "B's audit log mentions nothing of A"
        );
        // The same VIN is free in tenant B: uniqueness does not leak across tenants.
        let (status, _) = app
            .call(
                &b_owner,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "B's truck", "vin": "1FUJGLDR3HLHG7532"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);

        // A's vehicle is untouched.
        let (status, again) = app.call(&a_owner, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["name"], "A's truck");
        assert_eq!(app.vehicle_count(&a).await, 1);
    }
}

#[tokio::test]
async fn admins_manage_members_but_only_owners_make_owners() {
    for app in TestApp::all().await {
        let (tenant, owner) = app.caller("acme", Role::Owner).await;
        let (_, admin) = app.caller("acme", Role::Admin).await;
        let other = app.tenant("other").await;
        let newbie = app.member("newbie@example.com", &other, Role::Viewer).await;

        let (status, problem) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/members",
                Some(json!({"email": "nobody@example.com", "role": "viewer"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["email"]);

        let (status, _) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/members",
                Some(json!({"email": "newbie@example.com", "role": "owner"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, member) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/members",
                Some(json!({"email": "newbie@example.com", "role": "technician"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{member}");
        let (status, _) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/members",
                Some(json!({"email": "newbie@example.com", "role": "viewer"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        let path = format!("/api/v1/members/{}", newbie.id);
        let (status, member) = app
            .call(
                &admin,
                Method::PATCH,
                &path,
                Some(json!({"role": "manager"})),
            )
            .await;
        assert_eq!(
            (status, member["role"].as_str()),
            (StatusCode::OK, Some("manager"))
        );
        let (status, _) = app.call(&admin, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.db.store.role_in(tenant.id, newbie.id).await.unwrap(),
            None
        );

        // Members come a page at a time, by e-mail.
        let (_, page) = app
            .call(&admin, Method::GET, "/api/v1/members?limit=1", None)
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["items"][0]["user"]["email"], "admin@acme.example");
        let cursor = page["next_cursor"].as_str().unwrap();
        let (_, page) = app
            .call(
                &admin,
                Method::GET,
                &format!("/api/v1/members?limit=1&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(page["items"][0]["user"]["email"], "owner@acme.example");
        assert!(page["next_cursor"].is_null());

        // The last owner cannot leave.
        let owner_id = app
            .db
            .store
            .list_members(tenant.id, None, 500)
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|(_, r)| *r == Role::Owner)
            .unwrap()
            .0
            .id;
        let (status, problem) = app
            .call(
                &owner,
                Method::DELETE,
                &format!("/api/v1/members/{owner_id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {problem}", app.name());
        assert_eq!(TestApp::fields(&problem), ["role"]);
    }
}

#[tokio::test]
async fn every_write_lands_in_the_audit_log() {
    for app in TestApp::all().await {
        let (_, owner) = app.caller("acme", Role::Owner).await;
        let (_, v) = app
            .call(
                &owner,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Bus 1"})),
            )
            .await;
        let id = v["id"].as_str().unwrap();
        let path = format!("/api/v1/vehicles/{id}");
        app.call(
            &owner,
            Method::PATCH,
            &path,
            Some(json!({"name": "Bus One"})),
        )
        .await;
        app.call(&owner, Method::DELETE, &path, None).await;
        let response = app
            .request(
                &owner,
                Method::GET,
                &format!("/api/v1/audit?entity_type=vehicle&entity_id={id}"),
            )
            .header("user-agent", "audit-test/1.0")
            .send()
            .await
            .unwrap();
        let audit: serde_json::Value = response.json().await.unwrap();
        let items = audit["items"].as_array().unwrap();
        let actions: Vec<_> = items
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["vehicle.delete", "vehicle.update", "vehicle.create"],
            "{}",
            app.name()
        );
        let update = &items[1];
        assert_eq!(update["before"]["name"], "Bus 1");
        assert_eq!(update["after"]["name"], "Bus One");
        assert_eq!(update["actor_type"], "token");
        assert_eq!(update["ip"], "127.0.0.1");
        assert!(update["request_id"].as_str().is_some_and(|r| !r.is_empty()));

        // Membership and token changes are audited too.
        let (_, admin_session) = app.caller("acme", Role::Admin).await;
        app.call(
            &admin_session,
            Method::PATCH,
            "/api/v1/tenant",
            Some(json!({"settings": {"fiscal_year_start": "04-01"}})),
        )
        .await;
        let (_, audit) = app
            .call(
                &owner,
                Method::GET,
                "/api/v1/audit?action=tenant.update",
                None,
            )
            .await;
        assert_eq!(audit["items"].as_array().unwrap().len(), 1);
        let (status, _) = app
            .call(&Caller::Anonymous, Method::GET, "/api/v1/audit", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn instance_administrators_create_tenants_and_users() {
    for app in TestApp::all().await {
        let (home, root) = app.caller("home", Role::Owner).await;
        let (status, _) = app
            .call(&root, Method::GET, "/api/v1/instance/tenants", None)
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a tenant owner is not an instance administrator"
        );

        let caller = {
            let hash = domain::credentials::hash_password(
                &domain::credentials::Password::new(crate::harness::PASSWORD.into()).unwrap(),
            )
            .unwrap();
            let new = store::NewUser {
                email: domain::tenancy::Email::parse("ops@example.com").unwrap(),
                display_name: "Ops".into(),
                password_hash: Some(hash),
                is_instance_admin: true,
            };
            let ops = app
                .db
                .store
                .create_user(&new, &store::AuditContext::system("test"))
                .await
                .unwrap();
            app.db
                .store
                .set_membership(
                    home.id,
                    ops.id,
                    Role::Viewer,
                    &store::AuditContext::system("test"),
                )
                .await
                .unwrap();
            app.token(&home, &ops, Role::Viewer).await
        };

        let (status, created) = app
            .call(
                &caller,
                Method::POST,
                "/api/v1/instance/users",
                Some(json!({"email": "new@example.com", "display_name": "New"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let password = created["generated_password"].as_str().unwrap().to_string();
        let (status, problem) = app
            .call(&caller, Method::POST, "/api/v1/instance/tenants", Some(json!({"slug": "new-fleet", "name": "New", "kind": "fleet", "owner_email": "ghost@example.com"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["owner_email"]);
        assert!(
            app.db.store.tenant_by_slug("new-fleet").await.is_err(),
            "nothing written"
        );
        let (status, tenant) = app
            .call(&caller, Method::POST, "/api/v1/instance/tenants", Some(json!({"slug": "new-fleet", "name": "New", "kind": "dealer", "owner_email": "new@example.com"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {tenant}", app.name());
        assert_eq!(tenant["kind"], "dealer");

        let login = app.login("new@example.com", &password).await;
        assert_eq!(login.status(), StatusCode::OK);
        let body: serde_json::Value = login.json().await.unwrap();
        assert_eq!(
            (body["tenant"]["slug"].as_str(), body["role"].as_str()),
            (Some("new-fleet"), Some("owner"))
        );

        let (_, first) = app
            .call(
                &caller,
                Method::GET,
                "/api/v1/instance/tenants?limit=1",
                None,
            )
            .await;
        assert_eq!(first["items"][0]["slug"], "home");
        let cursor = first["next_cursor"].as_str().unwrap();
        let (_, second) = app
            .call(
                &caller,
                Method::GET,
                &format!("/api/v1/instance/tenants?limit=1&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(second["items"][0]["slug"], "new-fleet");
        assert!(second["next_cursor"].is_null());
    }
}
