//! Bad input gets a 4xx problem naming the field, and writes nothing.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn bad_vehicle_bodies_are_refused_and_write_nothing() {
    for app in TestApp::all().await {
        let (tenant, manager) = app.caller("acme", Role::Manager).await;
        let cases: Vec<(serde_json::Value, StatusCode, Vec<&str>)> = vec![
            (
                json!({"name": "Van", "year": "nineteen"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["year"],
            ),
            (
                json!({"name": "Van", "colour": "red"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["colour"],
            ),
            (
                json!({"name": "Van", "vin": "1FUJGLDR3HLHG753O"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["vin"],
            ),
            (
                json!({"name": "Van", "vin": "SHORT"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["vin"],
            ),
            (
                json!({"name": "Van", "fuel_types": ["steam"]}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["fuel_types[0]"],
            ),
            (
                json!({"name": "Van", "fuel_types": []}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["fuel_types"],
            ),
            (
                json!({"name": "Van", "in_service_date": "yesterday"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["in_service_date"],
            ),
            (
                json!({"name": "  ", "year": 1700}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["name", "year"],
            ),
            (
                json!({"year": 2020}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["name"],
            ),
            (
                json!(["not", "an", "object"]),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["body"],
            ),
            (
                json!({"name": "Van", "custom_fields": {"blob": "x".repeat(9000)}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["custom_fields"],
            ),
        ];
        for (body, status, fields) in cases {
            let (got, problem) = app
                .call(
                    &manager,
                    Method::POST,
                    "/api/v1/vehicles",
                    Some(body.clone()),
                )
                .await;
            assert_eq!(got, status, "{}: {body} → {problem}", app.name());
            assert_eq!(TestApp::fields(&problem), fields, "{body}");
            assert!(problem["detail"].is_string() && problem["title"].is_string());
        }

        let raw = |body: &'static str, content_type: &'static str| {
            app.request(&manager, Method::POST, "/api/v1/vehicles")
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let malformed = raw("{\"name\": ", "application/json").await.unwrap();
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            malformed.headers()["content-type"],
            "application/problem+json"
        );
        let trailing = raw("{\"name\": \"Van\"} extra", "application/json")
            .await
            .unwrap();
        assert_eq!(trailing.status(), StatusCode::BAD_REQUEST);
        let form = raw("name=Van", "application/x-www-form-urlencoded")
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let huge = json!({"name": "Van", "custom_fields": {"blob": "x".repeat(100 * 1024)}});
        let (status, problem) = app
            .call(&manager, Method::POST, "/api/v1/vehicles", Some(huge))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");

        assert_eq!(
            app.vehicle_count(&tenant).await,
            0,
            "{}: nothing written",
            app.name()
        );
        let audit = app
            .db
            .store
            .list_audit(
                tenant.id,
                &store::AuditFilter {
                    entity_type: Some("vehicle".into()),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(audit.items.is_empty(), "no audit entry for refused writes");
    }
}

#[tokio::test]
async fn bad_patches_change_nothing() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van", "year": 2019})),
            )
            .await;
        let path = format!("/api/v1/vehicles/{}", v["id"].as_str().unwrap());
        let (status, problem) = app
            .call(
                &manager,
                Method::PATCH,
                &path,
                Some(json!({"name": "Renamed", "year": 3000})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["year"]);
        let (_, after) = app.call(&manager, Method::GET, &path, None).await;
        assert_eq!(after, v, "{}: a refused patch changes nothing", app.name());
        let (status, _) = app
            .call(
                &manager,
                Method::PATCH,
                &path,
                Some(json!({"id": "01890000-0000-7000-8000-000000000000"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ids are not writable"
        );
    }
}

#[tokio::test]
async fn login_bodies_are_checked() {
    for app in TestApp::all().await {
        let response = app
            .http
            .post(format!("{}/api/v1/auth/login", app.base))
            .json(&json!({"email": "not-an-email", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["email"]);
    }
}
