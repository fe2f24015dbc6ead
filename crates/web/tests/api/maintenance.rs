//! Service records, expenses, costs, schedules and the due list over HTTP.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn an_oil_change_reminder_advances_when_the_oil_change_is_logged() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, tech) = app.caller("acme", Role::Technician).await;
        let (_, driver) = app.caller("acme", Role::Driver).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Civic", "odometer_unit": "mi"})),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        app.call(
            &driver,
            Method::POST,
            &format!("/api/v1/vehicles/{id}/meters"),
            Some(json!({"kind": "odometer", "value": 30000, "read_at": "2026-01-01T08:00:00Z"})),
        )
        .await;

        let (_, tasks) = app
            .call(&driver, Method::GET, "/api/v1/service-tasks", None)
            .await;
        assert!(
            tasks
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "oil_change"),
            "{}: default catalog",
            app.name()
        );

        let schedules = format!("/api/v1/vehicles/{id}/schedules");
        let (status, problem) = app
            .call(
                &manager,
                Method::POST,
                &schedules,
                Some(json!({"task": "unobtainium_flush", "interval_distance": 5000})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["task"]);
        let (status, problem) = app
            .call(
                &manager,
                Method::POST,
                &schedules,
                Some(json!({"task": "oil_change"})),
            )
            .await;
        assert_eq!(
            (status, TestApp::fields(&problem)),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                vec!["interval_distance".to_string()]
            )
        );
        let (status, _) = app
            .call(
                &driver,
                Method::POST,
                &schedules,
                Some(json!({"task": "oil_change", "interval_distance": 5000})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Every 5,000 miles or 180 days, last done at 29,000 mi on 2025-12-01.
        let (status, s) = app
            .call(
                &manager,
                Method::POST,
                &schedules,
                Some(json!({
                    "task": "oil_change", "interval_distance": 5000, "interval_days": 180,
                    "last_done_on": "2025-12-01", "last_done_odometer": 29000
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{s}");
        let next_mi = s["next_due_km"].as_f64().unwrap() / 1.609344;
        assert!((next_mi - 34000.0).abs() < 1e-6, "{next_mi}");
        // 180 days after 2025-12-01 is 2026-05-30, long past today (2026-11): overdue by the calendar.
        assert_eq!(s["next_due_on"], "2026-05-30");
        assert_eq!(s["status"], "overdue");

        let (_, due) = app
            .call(&driver, Method::GET, "/api/v1/maintenance/due", None)
            .await;
        assert_eq!(due["items"][0]["task_name"], "Oil and filter change");
        assert_eq!(due["items"][0]["vehicle_name"], "Civic");

        // The oil change is logged with a labor line and a part.
        let services = format!("/api/v1/vehicles/{id}/services");
        let (status, record) = app
            .call(&tech, Method::POST, &services, Some(json!({
                "performed_on": "2026-01-10", "odometer": 30250, "vendor": "Quick Lube", "tasks": ["oil_change"],
                "line_items": [
                    {"kind": "labor", "description": "Oil change", "quantity": 0.5, "unit_cost": "90.00"},
                    {"kind": "part", "description": "Oil filter", "part_number": "PH7317", "quantity": 1, "unit_cost": "8.49"},
                    {"kind": "part", "description": "5W-30 (qt)", "quantity": 5, "unit_cost": "6.25"}
                ],
                "tax": "6.20", "discount": "5.00", "currency": "USD"
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {record}", app.name());
        // 45.00 + 8.49 + 31.25 − 5.00 + 6.20 = 85.94
        assert_eq!(record["total"], "85.94");
        let (_, list) = app.call(&driver, Method::GET, &schedules, None).await;
        let oil = &list[0];
        assert_eq!(oil["last_done_on"], "2026-01-10");
        assert!(
            (oil["next_due_km"].as_f64().unwrap() / 1.609344 - 35250.0).abs() < 1e-6,
            "{oil}"
        );
        assert_eq!(oil["next_due_on"], "2026-07-09");

        // Bad service records name their fields and write nothing.
        for (body, field) in [
            (
                json!({"performed_on": "2026-01-11", "odometer": 100}),
                "odometer",
            ),
            (
                json!({"performed_on": "2026-01-11", "tasks": ["nope"]}),
                "tasks[0]",
            ),
            (
                json!({"performed_on": "2026-01-11", "line_items": [{"kind": "part", "description": "x", "unit_cost": "1.234"}], "currency": "USD"}),
                "line_items[0].unit_cost",
            ),
            (json!({"performed_on": "2099-01-01"}), "performed_on"),
        ] {
            let (status, problem) = app
                .call(&tech, Method::POST, &services, Some(body.clone()))
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {problem}"
            );
            assert_eq!(TestApp::fields(&problem), [field], "{body}");
        }
        let (_, records) = app.call(&driver, Method::GET, &services, None).await;
        assert_eq!(records["items"].as_array().unwrap().len(), 1);

        // Expenses and the cost report.
        let (status, _) = app
            .call(&driver, Method::POST, &format!("/api/v1/vehicles/{id}/expenses"), Some(json!({"category": "tolls", "amount": "12.50", "currency": "USD", "spent_on": "2026-01-15"})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, costs) = app
            .call(
                &driver,
                Method::GET,
                &format!("/api/v1/costs?vehicle_id={id}&from=2026-01-01&to=2026-02-01"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            costs,
            json!([
                {"month": "2026-01", "category": "service", "currency": "USD", "amount": "85.94"},
                {"month": "2026-01", "category": "tolls", "currency": "USD", "amount": "12.50"}
            ]),
            "{}",
            app.name()
        );

        // A template applied to the fleet.
        let (_, w) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        let (status, ids) = app
            .call(&manager, Method::POST, "/api/v1/schedules/apply", Some(json!({"task": "tire_rotation", "interval_distance": 10000, "vehicle_ids": [id, w["id"]]})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ids}");
        assert_eq!(ids.as_array().unwrap().len(), 2);
        let (status, problem) = app
            .call(
                &manager,
                Method::PUT,
                &format!("/api/v1/schedules/{}", ids[0].as_str().unwrap()),
                Some(json!({"task": "oil_change", "interval_distance": 1})),
            )
            .await;
        assert_eq!(
            (status, TestApp::fields(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec!["task".to_string()])
        );
        let (status, updated) = app
            .call(
                &manager,
                Method::PUT,
                &format!("/api/v1/schedules/{}", ids[0].as_str().unwrap()),
                Some(json!({"interval_days": 90})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["interval"]["days"], 90);
        let (status, _) = app
            .call(
                &manager,
                Method::DELETE,
                &format!("/api/v1/schedules/{}", ids[0].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn the_vehicle_summary_matches_a_hand_calculation() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Pickup", "odometer_unit": "mi"})),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        let fuel = format!("/api/v1/vehicles/{id}/fuel");
        for (at, odo, gal, total) in [
            ("2026-02-01T10:00:00Z", 10000, 12, "40.00"),
            ("2026-02-10T10:00:00Z", 10300, 10, "35.00"),
        ] {
            let (status, body) = app
                .call(&manager, Method::POST, &fuel, Some(json!({"filled_at": at, "odometer": odo, "quantity": gal, "unit": "us_gal", "total": total, "currency": "USD"})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        app.call(&manager, Method::POST, &format!("/api/v1/vehicles/{id}/services"), Some(json!({
            "performed_on": "2026-02-15", "odometer": 10400, "tasks": ["oil_change"], "currency": "USD",
            "line_items": [{"kind": "fee", "description": "Oil change", "unit_cost": "60.00"}]
        }))).await;
        app.call(&manager, Method::POST, &format!("/api/v1/vehicles/{id}/expenses"), Some(json!({"category": "parking", "amount": "5.00", "currency": "USD", "spent_on": "2026-02-20"}))).await;
        app.call(
            &manager,
            Method::POST,
            &format!("/api/v1/vehicles/{id}/schedules"),
            Some(json!({"task": "tire_rotation", "interval_distance": 6000})),
        )
        .await;

        let (status, s) = app
            .call(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{id}/summary?from=2026-02-01&to=2026-03-01"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{s}");
        assert_eq!(s["vehicle"]["meters"]["odometer"], 10400.0);
        // 10,000 → 10,400 mi in February.
        let miles = s["distance_km"].as_f64().unwrap() / 1.609344;
        assert!((miles - 400.0).abs() < 1e-6, "{}: {miles}", app.name());
        assert!((s["fuel"][0]["average"]["mpg_us"].as_f64().unwrap() - 30.0).abs() < 1e-9);
        let usd = &s["costs"][0];
        assert_eq!(
            (
                usd["fuel"].as_str(),
                usd["service"].as_str(),
                usd["other"].as_str(),
                usd["total"].as_str()
            ),
            (Some("75.00"), Some("60.00"), Some("5.00"), Some("140.00"))
        );
        // 140.00 over 400 miles = 35 cents a mile.
        assert_eq!(usd["total_per_mile"], "0.350000");
        assert_eq!(s["spend_by_month"].as_array().unwrap().len(), 3);
        assert_eq!(s["next_due"][0]["task_name"], "Tire rotation");
    }
}

#[tokio::test]
async fn service_records_and_expenses_are_deleted_by_managers_only() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, tech) = app.caller("acme", Role::Technician).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        let id = v["id"].as_str().unwrap();
        let (_, record) = app
            .call(
                &tech,
                Method::POST,
                &format!("/api/v1/vehicles/{id}/services"),
                Some(json!({"performed_on": "2026-01-10", "vendor": "Shop"})),
            )
            .await;
        let (_, expense) = app
            .call(
                &tech,
                Method::POST,
                &format!("/api/v1/vehicles/{id}/expenses"),
                Some(json!({"category": "fines", "amount": "80", "spent_on": "2026-01-11"})),
            )
            .await;
        for path in [
            format!(
                "/api/v1/vehicles/{id}/services/{}",
                record["id"].as_str().unwrap()
            ),
            format!(
                "/api/v1/vehicles/{id}/expenses/{}",
                expense["id"].as_str().unwrap()
            ),
        ] {
            assert_eq!(
                app.call(&tech, Method::DELETE, &path, None).await.0,
                StatusCode::FORBIDDEN
            );
            assert_eq!(
                app.call(&manager, Method::DELETE, &path, None).await.0,
                StatusCode::NO_CONTENT,
                "{}",
                app.name()
            );
            assert_eq!(
                app.call(&manager, Method::DELETE, &path, None).await.0,
                StatusCode::NOT_FOUND
            );
        }
        let (_, admin) = app.caller("acme", Role::Admin).await;
        let (_, audit) = app
            .call(&admin, Method::GET, "/api/v1/audit?limit=500", None)
            .await;
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"service.delete") && actions.contains(&"expense.delete"));
    }
}

#[tokio::test]
async fn the_cost_report_gives_cost_per_kilometre_per_vehicle_and_month() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, stranger) = app.caller("other", Role::Owner).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van 7", "odometer_unit": "km"})),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        for (at, value) in [
            ("2025-01-31T18:00:00Z", 10_000),
            ("2025-02-10T08:00:00Z", 10_400),
            ("2025-02-27T08:00:00Z", 11_000),
        ] {
            let (status, _) = app
                .call(
                    &manager,
                    Method::POST,
                    &format!("/api/v1/vehicles/{id}/meters"),
                    Some(json!({"kind": "odometer", "value": value, "read_at": at})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        app.call(&manager, Method::POST, &format!("/api/v1/vehicles/{id}/expenses"), Some(json!({"category": "tolls", "amount": "250.00", "currency": "USD", "spent_on": "2025-02-15"}))).await;

        let (status, report) = app
            .call(
                &manager,
                Method::GET,
                "/api/v1/reports/cost-per-distance?from=2025-02&to=2025-03",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {report}", app.name());
        assert_eq!(
            (report["from"].as_str(), report["to"].as_str()),
            (Some("2025-02"), Some("2025-03"))
        );
        let vehicles = report["vehicles"].as_array().unwrap();
        assert_eq!(vehicles.len(), 1, "{report}");
        let feb = &vehicles[0]["months"][0];
        assert_eq!(feb["month"], "2025-02");
        assert_eq!(
            feb["distance_km"], 1000.0,
            "from January's last reading: {report}"
        );
        assert_eq!(feb["spend"]["USD"], 25_000);
        assert_eq!(feb["cost_per_km"]["USD"], 25.0, "minor units per km");
        assert!(report["next_cursor"].is_null());

        // Another tenant sees none of it.
        let (_, theirs) = app
            .call(
                &stranger,
                Method::GET,
                "/api/v1/reports/cost-per-distance?from=2025-02&to=2025-03",
                None,
            )
            .await;
        assert_eq!(
            theirs["vehicles"].as_array().map(Vec::len),
            Some(0),
            "{theirs}"
        );

        // Bad ranges are refused, naming the field.
        for (query, field) in [
            ("from=2025-13", "from"),
            ("to=March", "to"),
            ("from=2025-04&to=2025-03", "from"),
            ("from=2020-01&to=2025-03", "from"),
            ("limit=0", "limit"),
        ] {
            let (status, problem) = app
                .call(
                    &manager,
                    Method::GET,
                    &format!("/api/v1/reports/cost-per-distance?{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(TestApp::fields(&problem), [field], "{query}: {problem}");
        }
    }
}
