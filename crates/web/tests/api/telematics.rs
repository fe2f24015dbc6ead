//! Telematics connections and their signed webhooks over HTTP.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::harness::TestApp;

const VIN: &str = "1M8GDM9AXKP042788";

async fn post_signed(
    app: &TestApp,
    url: &str,
    secret: &str,
    timestamp: i64,
    body: &Value,
) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = domain::webhook::sign(secret.as_bytes(), timestamp, &bytes).unwrap();
    let response = app
        .http
        .post(format!("{}{url}", app.base))
        .header("content-type", "application/json")
        .header("x-motorpool-timestamp", timestamp.to_string())
        .header("x-motorpool-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn connections_keep_their_secrets_and_webhooks_check_signatures() {
    for app in TestApp::all().await {
        let (_, admin) = app.caller("fleetco", Role::Admin).await;
        let (_, manager) = app.caller("fleetco", Role::Manager).await;
        let (_, outsider) = app.caller("otherco", Role::Owner).await;
        let (status, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Truck 100", "unit_number": "T-100", "vin": VIN})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let vehicle = v["id"].as_str().unwrap().to_string();

        let body = json!({
            "name": "Yard Traccar", "provider": "traccar", "base_url": "https://traccar.example/",
            "credentials": {"token": "very-secret-provider-token"}, "settings": {"initial_days": 3}
        });
        let (status, _) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/telematics/connections",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
        let (status, created) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/telematics/connections",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {created}", app.name());
        assert_eq!(created["has_credentials"], true);
        assert_eq!(created["base_url"], "https://traccar.example");
        let secret = created["webhook_secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        let id = created["id"].as_str().unwrap().to_string();
        let webhook = created["webhook_url"].as_str().unwrap().to_string();
        let webhook_path = webhook[webhook.find("/api/").unwrap()..].to_string();

        let (status, problem) = app
            .call(
                &admin,
                Method::POST,
                "/api/v1/telematics/connections",
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(TestApp::fields(&problem), ["name"]);
        let (status, problem) = app
            .call(&admin, Method::POST, "/api/v1/telematics/connections",
                  Some(json!({"name": "x", "provider": "traccar", "base_url": "ftp://x", "sync_interval_minutes": 0})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["base_url"]);

        // Neither the credentials nor the webhook secret ever come back.
        let one = format!("/api/v1/telematics/connections/{id}");
        let raw = app
            .request(&admin, Method::GET, &one)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !raw.contains("very-secret-provider-token") && !raw.contains(&secret),
            "{raw}"
        );
        let (_, list) = app
            .call(&admin, Method::GET, "/api/v1/telematics/connections", None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains("very-secret"));
        let (status, patched) = app
            .call(
                &admin,
                Method::PATCH,
                &one,
                Some(json!({"credentials": null, "sync_interval_minutes": 60})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(
            (
                patched["has_credentials"].clone(),
                patched["sync_interval_minutes"].clone()
            ),
            (json!(false), json!(60))
        );
        let (status, _) = app.call(&outsider, Method::GET, &one, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The webhook: signed, fresh, and only for this connection's tenant.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let at = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let batch = json!({"items": [
            {"type": "fault", "unit_number": "T-100", "obd_code": "P0301", "observed_at": at, "lamps": {"mil": "on"}},
            {"type": "reading", "vin": VIN, "kind": "odometer", "value": 1000, "unit": "km", "read_at": at},
            {"type": "fault", "external_id": "device-9", "obd_code": "P0420", "observed_at": at}
        ]});
        let (status, result) = post_signed(&app, &webhook_path, &secret, now, &batch).await;
        assert_eq!(status, StatusCode::OK, "{}: {result}", app.name());
        assert_eq!(result["created"], 2, "{result}");
        assert_eq!(
            result["results"][2]["errors"][0]["field"], "items[2].external_id",
            "{result}"
        );
        let (_, again) = post_signed(&app, &webhook_path, &secret, now + 1, &batch).await;
        assert_eq!(again["duplicates"], 2, "{again}");
        let (_, faults) = app
            .call(
                &admin,
                Method::GET,
                &format!("/api/v1/vehicles/{vehicle}/fault-events"),
                None,
            )
            .await;
        assert_eq!(faults["items"][0]["origin"], "webhook");

        let (status, problem) = post_signed(&app, &webhook_path, &secret, now - 400, &batch).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "stale: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("replays"));
        let (status, _) = post_signed(&app, &webhook_path, "whsec_wrong", now, &batch).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let unsigned = app
            .http
            .post(format!("{}{webhook_path}", app.base))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
        let (outsider_tenant, _) = app.caller("otherco", Role::Owner).await;
        let elsewhere = webhook_path.replace(
            webhook_path.split('/').nth(5).unwrap(),
            &outsider_tenant.id.to_string(),
        );
        let (status, _) = post_signed(&app, &elsewhere, &secret, now, &batch).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another tenant has no such connection"
        );

        // Manual sync is queued; sync logs list; deleting stops the webhook.
        let (status, queued) = app
            .call(&admin, Method::POST, &format!("{one}/sync"), None)
            .await;
        assert_eq!(
            (status, queued["queued"].clone()),
            (StatusCode::ACCEPTED, json!(true))
        );
        let (status, logs) = app
            .call(&admin, Method::GET, &format!("{one}/sync-logs"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(logs["items"].as_array().is_some());
        let (status, _) = app.call(&admin, Method::DELETE, &one, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = post_signed(&app, &webhook_path, &secret, now, &batch).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
