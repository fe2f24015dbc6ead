//! `Idempotency-Key` on POST.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn a_retried_post_replays_the_first_response() {
    for app in TestApp::all().await {
        let (tenant, manager) = app.caller("acme", Role::Manager).await;
        let send = |key: &'static str, name: &'static str| {
            app.request(&manager, Method::POST, "/api/v1/vehicles")
                .header("idempotency-key", key)
                .json(&json!({"name": name}))
                .send()
        };
        let first = send("key-1", "Van").await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        assert_eq!(first.headers()["idempotent-replayed"], "false");
        let location = first.headers()["location"].clone();
        let first: serde_json::Value = first.json().await.unwrap();

        let again = send("key-1", "Van").await.unwrap();
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"], location);
        assert_eq!(again.headers()["content-type"], "application/json");
        let again: serde_json::Value = again.json().await.unwrap();
        assert_eq!(again, first);
        assert_eq!(
            app.vehicle_count(&tenant).await,
            1,
            "{}: created once",
            app.name()
        );

        let other = send("key-1", "Bus").await.unwrap();
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: serde_json::Value = other.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["Idempotency-Key"]);

        let fresh = send("key-2", "Bus").await.unwrap();
        assert_eq!(fresh.status(), StatusCode::CREATED);
        assert_eq!(app.vehicle_count(&tenant).await, 2);

        // Keys are per caller: another member's same key is a new request.
        let (_, colleague) = app.caller("acme", Role::Admin).await;
        let theirs = app
            .request(&colleague, Method::POST, "/api/v1/vehicles")
            .header("idempotency-key", "key-1")
            .json(&json!({"name": "Van"}))
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.headers()["idempotent-replayed"], "false");

        let bad = app
            .request(&manager, Method::POST, "/api/v1/vehicles")
            .header("idempotency-key", "x".repeat(300))
            .json(&json!({"name": "Van"}))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.vehicle_count(&tenant).await, 3);
    }
}

#[tokio::test]
async fn refused_requests_are_replayed_as_refused() {
    for app in TestApp::all().await {
        let (tenant, manager) = app.caller("acme", Role::Manager).await;
        for _ in 0..2 {
            let r = app
                .request(&manager, Method::POST, "/api/v1/vehicles")
                .header("idempotency-key", "bad")
                .json(&json!({"name": "Van", "vin": "BAD"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
        assert_eq!(app.vehicle_count(&tenant).await, 0);
    }
}
