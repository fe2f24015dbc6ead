//! Telemetry ingestion, fault cycles, health and the fault library over HTTP.

use domain::j1939::{DiagnosticMessage, Dtc, Lamp, Lamps, encode_dm};
use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::TestApp;

const VIN: &str = "1M8GDM9AXKP042788";

fn red_stop_payload() -> String {
    let msg = DiagnosticMessage {
        lamps: Lamps {
            mil: Lamp::Off,
            red_stop: Lamp::On,
            amber_warning: Lamp::Off,
            protect: Lamp::Off,
        },
        dtcs: [(100, 1, 3), (110, 0, 1), (3251, 2, 127)]
            .map(|(spn, fmi, occurrences)| Dtc {
                spn,
                fmi,
                occurrences,
                legacy_conversion: false,
            })
            .to_vec(),
    };
    encode_dm(&msg).iter().map(|b| format!("{b:02X}")).collect()
}

fn ago(minutes: i64) -> String {
    (OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn statuses(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

fn error_fields(result: &Value, index: usize) -> Vec<String> {
    result["results"][index]["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_red_stop_truck_reported_through_the_api_is_critical_and_explained() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("haulers", Role::Manager).await;
        let (_, tech) = app.caller("haulers", Role::Technician).await;
        let (_, driver) = app.caller("haulers", Role::Driver).await;
        let (_, outsider) = app.caller("others", Role::Owner).await;
        let (status, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Truck 100", "unit_number": "T-100", "vin": VIN,
                            "vehicle_type": "heavy_truck", "fuel_types": ["diesel"], "odometer_unit": "km"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {v}", app.name());
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(v["health"], json!({"score": 100, "risk": "low"}));

        let batch = json!({"items": [
            {"type": "reading", "vehicle_id": id, "kind": "odometer", "value": 412000, "unit": "km", "read_at": ago(30)},
            {"type": "dm1", "unit_number": "T-100", "source_address": 0, "observed_at": ago(10), "payload": red_stop_payload()},
            {"type": "dm1", "vin": VIN, "source_address": 0, "observed_at": ago(9), "payload": red_stop_payload()},
            {"type": "fault", "vin": VIN, "obd_code": "p0420", "observed_at": ago(8), "lamps": {"mil": "on"}},
            {"type": "dm1", "vehicle_id": id, "source_address": 0, "observed_at": ago(7), "payload": "zz"},
            {"type": "fault", "vehicle_id": id, "spn": 600000, "fmi": 1, "observed_at": ago(7)},
            {"type": "fault", "vehicle_id": id, "spn": 100, "fmi": 1, "observed_at": "2099-01-01T00:00:00Z"},
            {"type": "fault", "vehicle_id": id, "spn": 100, "fmi": 1, "observed_at": ago(7), "colour": "red"},
            {"type": "fault", "unit_number": "NOPE", "spn": 100, "fmi": 1, "observed_at": ago(7)},
            {"type": "teleport", "vehicle_id": id},
        ]});
        let (status, result) = app
            .call(
                &tech,
                Method::POST,
                "/api/v1/telemetry",
                Some(batch.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {result}", app.name());
        assert_eq!(
            statuses(&result),
            [
                "created", "created", "created", "created", "rejected", "rejected", "rejected",
                "rejected", "rejected", "rejected"
            ],
            "{}: {result}",
            app.name()
        );
        assert_eq!(error_fields(&result, 4), ["items[4].payload"]);
        assert_eq!(error_fields(&result, 5), ["items[5].spn"]);
        assert_eq!(error_fields(&result, 6), ["items[6].observed_at"]);
        assert_eq!(error_fields(&result, 7), ["items[7]"]);
        assert!(
            result["results"][7]["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("colour")
        );
        assert_eq!(error_fields(&result, 8), ["items[8].unit_number"]);
        assert_eq!(
            (result["created"].clone(), result["rejected"].clone()),
            (json!(4), json!(6))
        );

        let faults = format!("/api/v1/vehicles/{id}/faults");
        let (_, page) = app.call(&driver, Method::GET, &faults, None).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{}: {page}", app.name());
        let oil = items
            .iter()
            .find(|c| c["code"]["spn"] == 100)
            .unwrap_or_else(|| panic!("{page}"));
        assert_eq!(oil["status"], "active");
        assert_eq!(oil["severity"], "critical");
        assert_eq!(oil["reports"], 2);
        assert_eq!(oil["occurrences"], 3);
        assert_eq!(oil["lamps"]["red_stop"], "on");
        assert_eq!(oil["odometer_first_km"], 412000.0);
        assert_eq!(oil["code"]["source_name"], "Engine #1");
        assert_eq!(oil["code"]["spn_info"]["name"], "Engine Oil Pressure 1");
        assert!(
            oil["code"]["fmi_description"]
                .as_str()
                .unwrap()
                .contains("Below Normal")
        );
        assert!(
            oil["assessment"]["action"]
                .as_str()
                .unwrap()
                .contains("oil")
        );
        let obd = items
            .iter()
            .find(|c| c["code"]["obd_code"] == "P0420")
            .unwrap();
        assert_eq!(obd["severity"], "major", "MIL lit");
        assert_eq!(
            obd["code"]["obd_title"],
            "Catalyst System Efficiency Below Threshold (Bank 1)"
        );
        assert_eq!(obd["code"]["obd_subsystem"], "auxiliary emission controls");

        let (_, health) = app
            .call(
                &driver,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/health"),
                None,
            )
            .await;
        assert_eq!(health["risk"], "critical", "{}: {health}", app.name());
        assert!(health["score"].as_u64().unwrap() < 40);
        let factors = health["factors"].as_array().unwrap();
        assert!(factors.iter().any(|f| f["kind"] == "lamp"));
        assert_eq!(factors.iter().filter(|f| f["kind"] == "fault").count(), 4);

        let (status, overview) = app
            .call(&driver, Method::GET, "/api/v1/fleet/overview", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(overview["risk"]["critical"], 1, "{overview}");
        assert_eq!(overview["vehicles_with_critical_faults"], 1);
        assert_eq!(overview["active_faults"], 4);

        let (_, list) = app
            .call(
                &driver,
                Method::GET,
                "/api/v1/vehicles?risk=critical&sort=-risk",
                None,
            )
            .await;
        assert_eq!(list["items"][0]["id"], id.as_str(), "{list}");
        assert_eq!(list["items"][0]["health"]["risk"], "critical");

        // The same batch again changes nothing.
        let (_, events_before) = app
            .call(
                &driver,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/fault-events?limit=500"),
                None,
            )
            .await;
        assert_eq!(events_before["items"].as_array().unwrap().len(), 7);
        let (_, again) = app
            .call(&tech, Method::POST, "/api/v1/telemetry", Some(batch))
            .await;
        assert_eq!(again["duplicates"], 4, "{}: {again}", app.name());
        assert_eq!(again["created"], 0);
        let (_, page_again) = app.call(&driver, Method::GET, &faults, None).await;
        assert_eq!(page_again, page, "{}", app.name());

        // Resolving: technicians may, drivers may not; twice is a conflict.
        let resolve = format!(
            "/api/v1/vehicles/{id}/faults/{}/resolve",
            obd["id"].as_str().unwrap()
        );
        let (status, _) = app
            .call(&driver, Method::POST, &resolve, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, resolved) = app
            .call(
                &tech,
                Method::POST,
                &resolve,
                Some(json!({"note": "new catalytic converter"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{resolved}");
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["resolution"], "manual");
        let (status, problem) = app
            .call(&tech, Method::POST, &resolve, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let (_, active) = app
            .call(
                &driver,
                Method::GET,
                &format!("{faults}?status=active"),
                None,
            )
            .await;
        assert_eq!(active["items"].as_array().unwrap().len(), 3);

        // Drivers cannot ingest; other tenants see nothing.
        let (status, _) = app
            .call(&driver, Method::POST, "/api/v1/telemetry",
                  Some(json!({"items": [{"type": "fault", "vehicle_id": id, "spn": 1, "fmi": 1, "observed_at": ago(1)}]})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(&outsider, Method::GET, &faults, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .call(
                &outsider,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/health"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, theirs) = app
            .call(&outsider, Method::POST, "/api/v1/telemetry",
                  Some(json!({"items": [{"type": "fault", "vehicle_id": id, "spn": 1, "fmi": 1, "observed_at": ago(1)}]})))
            .await;
        assert_eq!(
            error_fields(&theirs, 0),
            ["items[0].vehicle_id"],
            "{theirs}"
        );

        let (status, problem) = app
            .call(
                &tech,
                Method::POST,
                "/api/v1/telemetry",
                Some(json!({"items": []})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["items"]);
    }
}

#[tokio::test]
async fn the_fault_library_is_browsable() {
    for app in TestApp::all().await {
        let (_, viewer) = app.caller("library", Role::Viewer).await;
        let (status, lib) = app
            .call(&viewer, Method::GET, "/api/v1/fault-library", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(lib["fmis"].as_array().unwrap().len(), 32);
        assert_eq!(lib["spns"].as_array().unwrap().len(), 128);
        assert_eq!(lib["first_manufacturer_spn"], 516096);
        let (_, found) = app
            .call(
                &viewer,
                Method::GET,
                "/api/v1/fault-library/lookup?spn=100&fmi=1",
                None,
            )
            .await;
        assert_eq!(found["assessment"]["severity"], "critical", "{found}");
        assert_eq!(found["code"]["key"], "j1939:100:1:0");
        let (_, obd) = app
            .call(
                &viewer,
                Method::GET,
                "/api/v1/fault-library/lookup?obd_code=u0100",
                None,
            )
            .await;
        assert_eq!(obd["code"]["obd_code"], "U0100");
        let (status, problem) = app
            .call(
                &viewer,
                Method::GET,
                "/api/v1/fault-library/lookup?spn=100&fmi=40",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["fmi"]);
    }
}

#[tokio::test]
async fn fault_rules_rename_escalate_and_ignore_codes() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("rules", Role::Manager).await;
        let (_, tech) = app.caller("rules", Role::Technician).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        app.call(&tech, Method::POST, "/api/v1/telemetry",
                 Some(json!({"items": [{"type": "fault", "vehicle_id": id, "obd_code": "P0171", "observed_at": ago(5)}]})))
            .await;
        let (status, _) = app
            .call(
                &tech,
                Method::POST,
                "/api/v1/fault-rules",
                Some(json!({"obd_code": "P0171", "action": "critical"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "managers and up");
        let (status, rule) = app
            .call(&manager, Method::POST, "/api/v1/fault-rules",
                  Some(json!({"obd_code": "p0171", "action": "critical", "label": "Lean mixture (bank 1)", "note": "Check for vacuum leaks"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {rule}", app.name());
        assert_eq!(rule["obd_code"], "P0171");
        let (_, faults) = app
            .call(
                &tech,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/faults"),
                None,
            )
            .await;
        let fault = &faults["items"][0];
        assert_eq!(fault["code"]["label"], "Lean mixture (bank 1)", "{faults}");
        assert_eq!(fault["severity"], "critical");
        assert_eq!(fault["rule"]["note"], "Check for vacuum leaks");
        let (_, health) = app
            .call(
                &tech,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/health"),
                None,
            )
            .await;
        assert_eq!(health["risk"], "high", "{health}");

        let (status, problem) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/fault-rules",
                Some(json!({"obd_code": "P0171", "action": "ignore"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let (status, problem) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/fault-rules",
                Some(json!({"spn": 100, "fmi": 40, "action": "ignore"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["fmi"]);

        let rule_url = format!("/api/v1/fault-rules/{}", rule["id"].as_str().unwrap());
        let (status, patched) = app
            .call(
                &manager,
                Method::PATCH,
                &rule_url,
                Some(json!({"action": "ignore"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(patched["label"], "Lean mixture (bank 1)", "kept");
        let (_, health) = app
            .call(
                &tech,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/health"),
                None,
            )
            .await;
        assert_eq!(
            (health["score"].clone(), health["risk"].clone()),
            (json!(100), json!("low"))
        );
        let (_, rules) = app
            .call(&tech, Method::GET, "/api/v1/fault-rules", None)
            .await;
        assert_eq!(rules.as_array().unwrap().len(), 1);
        let (status, _) = app.call(&manager, Method::DELETE, &rule_url, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.call(&manager, Method::DELETE, &rule_url, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
