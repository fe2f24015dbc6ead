//! Health, readiness, metrics, security headers, request ids, and the
//! OpenAPI document.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{Caller, TestApp};

#[tokio::test]
async fn health_readiness_and_metrics() {
    for app in TestApp::all().await {
        let (status, health) = app
            .call(&Caller::Anonymous, Method::GET, "/healthz", None)
            .await;
        assert_eq!(
            (status, health["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        let (status, ready) = app
            .call(&Caller::Anonymous, Method::GET, "/readyz", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ready["database"], app.name());
        assert_eq!(
            ready["schema_version"],
            store::SQLITE_SCHEMA_VERSION,
            "same count on both backends"
        );

        let (_, manager) = app.caller("acme", Role::Manager).await;
        app.call(&manager, Method::GET, "/api/v1/vehicles", None)
            .await;
        let text = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("motorpool_http_requests_total{method=\"GET\",route=\"/api/v1/vehicles\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("motorpool_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/vehicles\",le=\"+Inf\"} 1"));
        assert!(text.contains("motorpool_db_pool_max_connections"));
    }
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = TestApp::spawn(store::testing::TestDatabase::sqlite().await).await;
    for path in ["/", "/healthz", "/api/v1/vehicles", "/api/v1/nowhere"] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = response.headers();
        assert!(
            h.get("x-request-id").is_some_and(|v| !v.is_empty()),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
    let given = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        given.headers()["x-request-id"],
        "trace-me-42",
        "a caller's request id is kept"
    );
    let missing = app
        .http
        .get(format!("{}/api/v1/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let home = app
        .http
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("No user exists yet"),
        "first run explains how to create the first administrator"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn(store::testing::TestDatabase::sqlite().await).await;
    let doc: Value = app
        .http
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("patch", "/api/v1/me"),
        ("put", "/api/v1/me/tenant"),
        ("get", "/api/v1/vehicles"),
        ("post", "/api/v1/vehicles"),
        ("get", "/api/v1/vehicles/{id}"),
        ("patch", "/api/v1/vehicles/{id}"),
        ("delete", "/api/v1/vehicles/{id}"),
        ("get", "/api/v1/tenant"),
        ("patch", "/api/v1/tenant"),
        ("get", "/api/v1/members"),
        ("post", "/api/v1/members"),
        ("patch", "/api/v1/members/{user_id}"),
        ("delete", "/api/v1/members/{user_id}"),
        ("get", "/api/v1/tokens"),
        ("post", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/{id}"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/vin/{vin}"),
        ("get", "/api/v1/vehicles/{id}/meters"),
        ("post", "/api/v1/vehicles/{id}/meters"),
        ("patch", "/api/v1/vehicles/{id}/meters/{reading_id}"),
        ("post", "/api/v1/vehicles/{id}/meter-offsets"),
        ("post", "/api/v1/meters/bulk"),
        ("post", "/api/v1/telemetry"),
        ("get", "/api/v1/vehicles/{id}/faults"),
        ("get", "/api/v1/vehicles/{id}/fault-events"),
        ("post", "/api/v1/vehicles/{id}/faults/{fault_id}/resolve"),
        ("get", "/api/v1/vehicles/{id}/health"),
        ("get", "/api/v1/fault-library"),
        ("get", "/api/v1/fault-library/lookup"),
        ("get", "/api/v1/fleet/overview"),
        ("get", "/api/v1/reports/cost-per-distance"),
        ("get", "/api/v1/fault-rules"),
        ("post", "/api/v1/fault-rules"),
        ("patch", "/api/v1/fault-rules/{rule_id}"),
        ("delete", "/api/v1/fault-rules/{rule_id}"),
        ("get", "/api/v1/telematics/connections"),
        ("post", "/api/v1/telematics/connections"),
        ("get", "/api/v1/telematics/connections/{id}"),
        ("patch", "/api/v1/telematics/connections/{id}"),
        ("delete", "/api/v1/telematics/connections/{id}"),
        ("post", "/api/v1/telematics/connections/{id}/sync"),
        ("get", "/api/v1/telematics/connections/{id}/sync-logs"),
        (
            "post",
            "/api/v1/telematics/webhooks/{tenant_id}/{connection_id}",
        ),
        ("get", "/api/v1/vehicles/{id}/fuel"),
        ("post", "/api/v1/vehicles/{id}/fuel"),
        ("get", "/api/v1/vehicles/{id}/fuel/{entry_id}"),
        ("delete", "/api/v1/vehicles/{id}/fuel/{entry_id}"),
        ("get", "/api/v1/vehicles/{id}/fuel-stats"),
        ("get", "/api/v1/service-tasks"),
        ("post", "/api/v1/service-tasks"),
        ("get", "/api/v1/vehicles/{id}/services"),
        ("post", "/api/v1/vehicles/{id}/services"),
        ("delete", "/api/v1/vehicles/{id}/services/{record_id}"),
        ("get", "/api/v1/vehicles/{id}/expenses"),
        ("post", "/api/v1/vehicles/{id}/expenses"),
        ("delete", "/api/v1/vehicles/{id}/expenses/{expense_id}"),
        ("get", "/api/v1/costs"),
        ("get", "/api/v1/vehicles/{id}/schedules"),
        ("post", "/api/v1/vehicles/{id}/schedules"),
        ("post", "/api/v1/schedules/apply"),
        ("put", "/api/v1/schedules/{schedule_id}"),
        ("delete", "/api/v1/schedules/{schedule_id}"),
        ("get", "/api/v1/maintenance/due"),
        ("get", "/api/v1/vehicles/{id}/summary"),
        ("post", "/api/v1/vehicles/{id}/imports"),
        ("get", "/api/v1/vehicles/{id}/exports/{kind}"),
        ("get", "/api/v1/export"),
        ("post", "/api/v1/imports/json"),
        ("get", "/api/v1/vehicles/{id}/documents"),
        ("post", "/api/v1/vehicles/{id}/documents"),
        ("get", "/api/v1/documents/expiring"),
        ("get", "/api/v1/documents/{document_id}"),
        ("delete", "/api/v1/documents/{document_id}"),
        ("get", "/api/v1/documents/{document_id}/file"),
        ("get", "/api/v1/instance/tenants"),
        ("post", "/api/v1/instance/tenants"),
        ("post", "/api/v1/instance/users"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{method} {path}: no success response"
        );
        // Webhooks authenticate by their HMAC signature, not a session or token.
        let signed = path.starts_with("/api/v1/telematics/webhooks/");
        if path.starts_with("/api/v1/") && path != "/api/v1/auth/login" {
            assert!(
                responses.contains_key("401"),
                "{method} {path}: 401 undocumented"
            );
            assert!(
                op["security"].is_array() || signed,
                "{method} {path}: security undocumented"
            );
        }
        let bodyless = [
            "/api/v1/auth/logout",
            "/api/v1/telematics/connections/{id}/sync",
        ];
        if ["post", "patch", "put"].contains(&method) {
            assert!(
                op["requestBody"].is_object() || bodyless.contains(&path),
                "{method} {path}: body undocumented"
            );
            assert!(
                responses.contains_key("422"),
                "{method} {path}: 422 undocumented"
            );
        }
    }
    // Every documented route is served: an unauthenticated call gets a problem, never the 404 fallback.
    for (method, path) in expected {
        let concrete = path
            .replace("{id}", "01890000-0000-7000-8000-000000000000")
            .replace("{user_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{vin}", "1FUJGLDR3HLHG7532")
            .replace("{reading_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{entry_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{record_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{expense_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{schedule_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{document_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{rule_id}", "01890000-0000-7000-8000-000000000000")
            .replace("{kind}", "fuel");
        let response = app
            .http
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{concrete}", app.base),
            )
            .send()
            .await
            .unwrap();
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if !path.starts_with("/api/v1/auth/login") && path.starts_with("/api/v1/") {
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}
