//! Logging in, sessions, CSRF, API tokens, throttling, switching tenants.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Caller, PASSWORD, TestApp};

#[tokio::test]
async fn session_login_csrf_and_logout() {
    for app in TestApp::all().await {
        let tenant = app.tenant("acme").await;
        app.member("ann@example.com", &tenant, Role::Manager).await;

        let wrong = app.login("ann@example.com", "not the password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let unknown = app.login("nobody@example.com", PASSWORD).await;
        assert_eq!(
            unknown.status(),
            StatusCode::UNAUTHORIZED,
            "unknown users look like wrong passwords"
        );

        let response = app.login("ANN@example.com", PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}: e-mail is case-insensitive",
            app.name()
        );
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "plain http base URL");

        let session = app.session("ann@example.com").await;
        let (status, me) = app.call(&session, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user"]["email"], "ann@example.com");
        assert_eq!(me["tenant"]["slug"], "acme");
        assert_eq!(me["role"], "manager");
        assert_eq!(me["authenticated_by"], "session");

        // A cookie-authenticated write without the CSRF token is refused and writes nothing.
        let Caller::Session { cookie, .. } = &session else {
            unreachable!()
        };
        let no_csrf = Caller::Session {
            cookie: cookie.clone(),
            csrf: String::new(),
        };
        let (status, problem) = app
            .call(
                &no_csrf,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        assert_eq!(app.vehicle_count(&tenant).await, 0);
        let (status, _) = app
            .call(
                &session,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);

        let (status, _) = app
            .call(&session, Method::POST, "/api/v1/auth/logout", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, problem) = app.call(&session, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(problem["status"], 401);
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    for app in TestApp::all().await {
        let tenant = app.tenant("acme").await;
        app.member("ann@example.com", &tenant, Role::Viewer).await;
        for _ in 0..5 {
            assert_eq!(
                app.login("ann@example.com", "guess guess guess")
                    .await
                    .status(),
                StatusCode::UNAUTHORIZED
            );
        }
        let blocked = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(
            blocked.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{}: even the right password",
            app.name()
        );
        let retry: i64 = blocked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry));
        let problem: serde_json::Value = blocked.json().await.unwrap();
        assert_eq!(problem["type"], "urn:motorpool:problem:rate-limited");
    }
}

#[tokio::test]
async fn api_tokens_are_shown_once_capped_and_revocable() {
    for app in TestApp::all().await {
        let tenant = app.tenant("acme").await;
        app.member("admin@example.com", &tenant, Role::Admin).await;
        let session = app.session("admin@example.com").await;

        let (status, created) = app
            .call(
                &session,
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "reporting", "role_ceiling": "viewer", "expires_in_days": 30})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let secret = created["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("mpt_"));
        let bearer = Caller::Token(secret.clone());

        let (status, me) = app.call(&bearer, Method::GET, "/api/v1/me", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (me["authenticated_by"].as_str(), me["role"].as_str()),
            (Some("token"), Some("viewer"))
        );
        let (status, _) = app
            .call(
                &bearer,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "the ceiling caps an admin's token at viewer"
        );

        let (status, list) = app
            .call(&session, Method::GET, "/api/v1/tokens", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let listed = serde_json::to_string(&list).unwrap();
        assert!(!listed.contains(&secret), "the secret is never listed");
        assert!(list["items"][0]["expires_at"].is_string());

        let (status, problem) = app
            .call(
                &session,
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "too strong", "role_ceiling": "owner"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["role_ceiling"]);

        let id = created["token"]["id"].as_str().unwrap();
        let (status, _) = app
            .call(
                &session,
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.call(&bearer, Method::GET, "/api/v1/me", None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{}: revoked at once",
            app.name()
        );

        let (status, _) = app
            .call(
                &Caller::Token("mpt_made_up".into()),
                Method::GET,
                "/api/v1/me",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_user_in_two_tenants_switches_between_them() {
    for app in TestApp::all().await {
        let home = app.tenant("home").await;
        let work = app.tenant("work").await;
        let elsewhere = app.tenant("elsewhere").await;
        app.member("sam@example.com", &home, Role::Owner).await;
        app.member("sam@example.com", &work, Role::Viewer).await;
        let (_, work_manager) = app.caller("work", Role::Manager).await;
        app.call(
            &work_manager,
            Method::POST,
            "/api/v1/vehicles",
            Some(json!({"name": "Work truck"})),
        )
        .await;

        let session = app.session("sam@example.com").await;
        let (_, me) = app.call(&session, Method::GET, "/api/v1/me", None).await;
        assert_eq!(me["tenant"]["slug"], "home");
        assert_eq!(me["memberships"].as_array().unwrap().len(), 2);
        let (_, list) = app
            .call(&session, Method::GET, "/api/v1/vehicles", None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);

        let (status, me) = app
            .call(
                &session,
                Method::PUT,
                "/api/v1/me/tenant",
                Some(json!({"tenant": "work"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (me["tenant"]["slug"].as_str(), me["role"].as_str()),
            (Some("work"), Some("viewer"))
        );
        let (_, list) = app
            .call(&session, Method::GET, "/api/v1/vehicles", None)
            .await;
        assert_eq!(list["items"][0]["name"], "Work truck", "{}", app.name());

        let (status, problem) = app
            .call(
                &session,
                Method::PUT,
                "/api/v1/me/tenant",
                Some(json!({"tenant": elsewhere.slug})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["tenant"]);
    }
}

#[tokio::test]
async fn profile_preferences_are_validated_field_by_field() {
    for app in TestApp::all().await {
        let tenant = app.tenant("acme").await;
        app.member("ann@example.com", &tenant, Role::Viewer).await;
        let session = app.session("ann@example.com").await;
        let (status, problem) = app
            .call(
                &session,
                Method::PATCH,
                "/api/v1/me",
                Some(json!({"preferences": {"currency": "XYZ", "time_zone": "Mars/Base"}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            TestApp::fields(&problem),
            ["preferences.currency", "preferences.time_zone"]
        );
        let (status, me) = app
            .call(&session, Method::PATCH, "/api/v1/me", Some(json!({"display_name": "Ann", "preferences": {"unit_system": "imperial", "currency": "usd", "time_zone": "America/Chicago"}})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user"]["preferences"]["currency"], "USD");
        assert_eq!(me["user"]["preferences"]["unit_system"], "imperial");
        // A new vehicle's odometer unit follows the user's unit system.
        app.member("ann@example.com", &tenant, Role::Manager).await;
        let (_, v) = app
            .call(
                &session,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Car"})),
            )
            .await;
        assert_eq!(v["odometer_unit"], "mi", "{}", app.name());
    }
}
