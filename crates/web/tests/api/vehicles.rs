//! Vehicles through the API: create, read, patch, delete, list.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn create_read_patch_delete() {
    for app in TestApp::all().await {
        let (tenant, manager) = app.caller("acme", Role::Manager).await;
        let body = json!({
            "name": "  Truck 12 ", "vin": "1fujgldr4hlhg7532", "plate": "ABC-123", "year": 2017,
            "make": "Freightliner", "vehicle_type": "heavy_truck", "fuel_types": ["diesel", "def"],
            "odometer_unit": "mi", "in_service_date": "2017-05-01", "tags": ["east"],
            "custom_fields": {"fuel_card": "4411"}
        });
        let response = app
            .request(&manager, Method::POST, "/api/v1/vehicles")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let v: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            location,
            format!("/api/v1/vehicles/{}", v["id"].as_str().unwrap())
        );
        assert_eq!(v["name"], "Truck 12");
        assert_eq!(v["vin"], "1FUJGLDR4HLHG7532");
        assert!(
            v["vin_warning"].as_str().unwrap().contains("check digit"),
            "kept with a warning"
        );
        assert_eq!(v["in_service_date"], "2017-05-01");
        assert_eq!(v["tenant_id"], tenant.id.to_string());

        let (status, got) = app.call(&manager, Method::GET, &location, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, v);

        // Absent fields stay; null clears; the VIN fix clears the warning.
        let (status, patched) = app
            .call(
                &manager,
                Method::PATCH,
                &location,
                Some(
                    json!({"plate": null, "status": "out_of_service", "vin": "1FUJGLDR3HLHG7532"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["plate"], serde_json::Value::Null);
        assert_eq!(patched["make"], "Freightliner");
        assert_eq!(patched["status"], "out_of_service");
        assert_eq!(patched["vin_warning"], serde_json::Value::Null);

        // A second vehicle with the same VIN: 409 naming the field.
        let (status, problem) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Copy", "vin": "1FUJGLDR3HLHG7532"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{}", app.name());
        assert_eq!(TestApp::fields(&problem), ["vin"]);
        assert_eq!(app.vehicle_count(&tenant).await, 1);

        let (status, _) = app.call(&manager, Method::DELETE, &location, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.call(&manager, Method::GET, &location, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.call(&manager, Method::DELETE, &location, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        for (name, make, year, status) in [
            ("Alpha", "Ford", 2015, "active"),
            ("Bravo", "ford", 2018, "sold"),
            ("Charlie", "Kia", 2020, "active"),
            ("Delta", "Volvo", 2022, "active"),
            ("Echo", "Volvo", 2010, "archived"),
        ] {
            let (s, _) = app
                .call(
                    &manager,
                    Method::POST,
                    "/api/v1/vehicles",
                    Some(json!({"name": name, "make": make, "year": year, "status": status})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let names = |v: &serde_json::Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_string())
                .collect()
        };
        let (_, list) = app
            .call(&manager, Method::GET, "/api/v1/vehicles?make=FORD", None)
            .await;
        assert_eq!(names(&list), ["Alpha", "Bravo"]);
        let (_, list) = app
            .call(
                &manager,
                Method::GET,
                "/api/v1/vehicles?status=active&sort=-year",
                None,
            )
            .await;
        assert_eq!(names(&list), ["Delta", "Charlie", "Alpha"]);
        let (_, list) = app
            .call(
                &manager,
                Method::GET,
                "/api/v1/vehicles?year_min=2015&year_max=2020&sort=year",
                None,
            )
            .await;
        assert_eq!(names(&list), ["Alpha", "Bravo", "Charlie"]);
        let (_, list) = app
            .call(&manager, Method::GET, "/api/v1/vehicles?q=ARL", None)
            .await;
        assert_eq!(names(&list), ["Charlie"]);

        let mut seen = Vec::new();
        let mut path = "/api/v1/vehicles?limit=2".to_string();
        loop {
            let (status, page) = app.call(&manager, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK);
            seen.extend(names(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/vehicles?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(
            seen,
            ["Alpha", "Bravo", "Charlie", "Delta", "Echo"],
            "{}",
            app.name()
        );

        for (query, field) in [
            ("sort=colour", "sort"),
            ("limit=0", "limit"),
            ("cursor=garbage", "cursor"),
            ("year_min=old", "year_min"),
            ("status=broken", "status"),
            ("colour=red", "colour"),
        ] {
            let (status, problem) = app
                .call(
                    &manager,
                    Method::GET,
                    &format!("/api/v1/vehicles?{query}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
            assert_eq!(TestApp::fields(&problem), [field], "{query}");
        }
    }
}

#[tokio::test]
async fn vins_decode_offline_and_prefill_new_vehicles() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (status, decoded) = app
            .call(&manager, Method::GET, "/api/v1/vin/1fujgldr3hlhg7532", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(decoded["make"], "Freightliner");
        assert_eq!(decoded["vehicle_class"], "heavy");
        assert_eq!(decoded["model_year"]["candidates"], json!([1987, 2017]));
        assert!(decoded["model_year"]["year"].is_null());
        let (status, problem) = app
            .call(&manager, Method::GET, "/api/v1/vin/NOTAVIN", None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["vin"]);

        // A light vehicle's VIN settles make and year; a heavy truck's only the make.
        let (_, civic) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Civic", "vin": "2HGFC2F58JH512345"})),
            )
            .await;
        assert_eq!(
            (civic["make"].as_str(), civic["year"].as_i64()),
            (Some("Honda"), Some(2018)),
            "{}",
            app.name()
        );
        let (_, truck) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Truck", "vin": "1FUJGLDR3HLHG7532"})),
            )
            .await;
        assert_eq!(truck["make"], "Freightliner");
        assert!(truck["year"].is_null());
        // What the caller says wins over the VIN.
        let (_, own) = app
            .call(&manager, Method::POST, "/api/v1/vehicles", Some(json!({"name": "Own", "vin": "5YJ3E1EA7PF123456", "make": "Tesla Inc", "year": 2023})))
            .await;
        assert_eq!(
            (own["make"].as_str(), own["year"].as_i64()),
            (Some("Tesla Inc"), Some(2023))
        );
    }
}

#[tokio::test]
async fn meter_readings_through_the_api() {
    for app in TestApp::all().await {
        let (tenant, manager) = app.caller("acme", Role::Manager).await;
        let (_, driver) = app.caller("acme", Role::Driver).await;
        let (_, viewer) = app.caller("acme", Role::Viewer).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van", "odometer_unit": "mi"})),
            )
            .await;
        let id = v["id"].as_str().unwrap().to_string();
        let meters = format!("/api/v1/vehicles/{id}/meters");

        let (status, r) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(
                    json!({"kind": "odometer", "value": 12000, "read_at": "2026-01-01T08:00:00Z"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {r}", app.name());
        assert_eq!(r["unit"], "mi", "defaults to the vehicle's unit");
        let (status, again) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(
                    json!({"kind": "odometer", "value": 12000, "read_at": "2026-01-01T08:00:00Z"}),
                ),
            )
            .await;
        assert_eq!(
            (status, &again["id"]),
            (StatusCode::OK, &r["id"]),
            "a repeat is not a second reading"
        );

        let (status, problem) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(
                    json!({"kind": "odometer", "value": 11000, "read_at": "2026-01-02T08:00:00Z"}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["value"]);
        let (status, problem) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(json!({"kind": "hours", "value": 10, "unit": "km"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(TestApp::fields(&problem), ["value"]);
        let (status, problem) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(json!({"kind": "odometer", "value": -5})),
            )
            .await;
        assert_eq!(
            (status, TestApp::fields(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, vec!["value".to_string()])
        );
        let (status, _) = app
            .call(
                &viewer,
                Method::POST,
                &meters,
                Some(json!({"kind": "odometer", "value": 13000})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (_, vehicle) = app
            .call(
                &viewer,
                Method::GET,
                &format!("/api/v1/vehicles/{id}"),
                None,
            )
            .await;
        assert_eq!(
            vehicle["meters"]["odometer"], 12000.0,
            "shown in the vehicle's unit"
        );

        // Bulk: two vehicles, unsorted, one bad item, one item of another tenant's vehicle.
        let (_, w) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Bus"})),
            )
            .await;
        let (_, stranger) = app.caller("elsewhere", Role::Owner).await;
        let (_, theirs) = app
            .call(
                &stranger,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Theirs"})),
            )
            .await;
        let body = json!({"readings": [
            {"vehicle_id": id, "kind": "odometer", "value": 12500, "read_at": "2026-01-05T08:00:00Z", "source": "telematics"},
            {"vehicle_id": id, "kind": "odometer", "value": 12100, "read_at": "2026-01-03T08:00:00Z", "source": "telematics"},
            {"vehicle_id": w["id"], "kind": "hours", "value": 100.5, "read_at": "2026-01-03T08:00:00Z"},
            {"vehicle_id": w["id"], "kind": "odometer", "value": "lots"},
            {"vehicle_id": theirs["id"], "kind": "odometer", "value": 1, "read_at": "2026-01-03T08:00:00Z"},
        ]});
        let (status, problem) = app
            .call(
                &driver,
                Method::POST,
                "/api/v1/meters/bulk",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a wrongly typed item fails the whole body: {problem}"
        );
        assert_eq!(TestApp::fields(&problem), ["readings[3].value"]);
        let mut body = body;
        body["readings"][3]["value"] = json!(-1);
        let (status, result) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/meters/bulk",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!(
            (result["created"].as_u64(), result["rejected"].as_u64()),
            (Some(3), Some(2)),
            "{}: {result}",
            app.name()
        );
        assert_eq!(
            result["results"][3]["errors"][0]["field"],
            "readings[3].value"
        );
        assert_eq!(
            result["results"][4]["errors"][0]["field"],
            "readings[4].vehicle_id"
        );
        let (_, result) = app
            .call(&manager, Method::POST, "/api/v1/meters/bulk", Some(body))
            .await;
        assert_eq!(
            (result["created"].as_u64(), result["duplicates"].as_u64()),
            (Some(0), Some(3)),
            "idempotent"
        );

        let (_, page) = app
            .call(&viewer, Method::GET, &format!("{meters}?limit=2"), None)
            .await;
        let values: Vec<f64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["value"].as_f64().unwrap())
            .collect();
        assert_eq!(values, [12500.0, 12100.0]);
        assert!(page["next_cursor"].is_string());

        // Void the newest reading (managers), then record a meter replacement.
        let newest = page["items"][0]["id"].as_str().unwrap();
        let (status, _) = app
            .call(
                &driver,
                Method::PATCH,
                &format!("{meters}/{newest}"),
                Some(json!({"void": true})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, voided) = app
            .call(
                &manager,
                Method::PATCH,
                &format!("{meters}/{newest}"),
                Some(json!({"void": true})),
            )
            .await;
        assert_eq!(
            (status, voided["void"].as_bool()),
            (StatusCode::OK, Some(true))
        );
        let (status, _) = app
            .call(&manager, Method::POST, &format!("/api/v1/vehicles/{id}/meter-offsets"), Some(json!({"kind": "odometer", "effective_at": "2026-01-10T00:00:00Z", "offset": 12100, "reason": "cluster replaced"})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, r) = app
            .call(
                &driver,
                Method::POST,
                &meters,
                Some(json!({"kind": "odometer", "value": 20, "read_at": "2026-01-11T08:00:00Z"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(r["effective_value"], 12120.0);
        let _ = tenant;
    }
}

#[tokio::test]
async fn fuel_entries_and_economy_through_the_api() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, driver) = app.caller("acme", Role::Driver).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Pickup", "odometer_unit": "mi", "fuel_types": ["gasoline"]})),
            )
            .await;
        let fuel = format!("/api/v1/vehicles/{}/fuel", v["id"].as_str().unwrap());

        let (status, first) = app
            .call(&driver, Method::POST, &fuel, Some(json!({"filled_at": "2026-03-01T10:00:00Z", "odometer": 20000, "quantity": 15, "unit": "us_gal", "unit_price": "3.459", "currency": "USD"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {first}", app.name());
        assert_eq!(
            first["total"], "51.89",
            "15 × 3.459 = 51.885, rounded half away from zero"
        );
        assert!(first["economy"].is_null());
        let (status, second) = app
            .call(&driver, Method::POST, &fuel, Some(json!({"filled_at": "2026-03-08T10:00:00Z", "odometer": 20300, "quantity": 10, "unit": "us_gal", "total": 35.00, "currency": "USD"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(second["unit_price"], "3.50000");
        let economy = &second["economy"];
        assert!(
            (economy["mpg_us"].as_f64().unwrap() - 30.0).abs() < 1e-9,
            "{economy}"
        );
        assert!((economy["per_100km"].as_f64().unwrap() - 7.840486).abs() < 1e-5);
        assert!((economy["cost_per_mile_minor"].as_f64().unwrap() - 3500.0 / 300.0).abs() < 1e-9);

        // Bad inputs name their fields and write nothing.
        let bad = [
            (
                json!({"odometer": 20400, "quantity": 5, "unit": "kwh"}),
                "quantity",
            ),
            (
                json!({"odometer": 20400, "quantity": 5, "fuel_type": "diesel"}),
                "fuel_type",
            ),
            (
                json!({"odometer": 20400, "quantity": 5, "total": "12.345", "currency": "USD"}),
                "total",
            ),
            (
                json!({"odometer": 20400, "quantity": 5, "currency": "XYZ"}),
                "currency",
            ),
            (
                json!({"odometer": 20400, "quantity": 5, "soc_after": 120}),
                "soc_after",
            ),
            (json!({"odometer": 19000, "quantity": 5}), "odometer"),
        ];
        for (body, field) in bad {
            let (status, problem) = app
                .call(&driver, Method::POST, &fuel, Some(body.clone()))
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{body}: {problem}"
            );
            assert_eq!(TestApp::fields(&problem), [field], "{body}");
        }
        let (_, page) = app.call(&driver, Method::GET, &fuel, None).await;
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            2,
            "{}: nothing written",
            app.name()
        );
        assert_eq!(page["items"][0]["odometer"], 20300.0, "newest first");

        let stats_path = format!("/api/v1/vehicles/{}/fuel-stats", v["id"].as_str().unwrap());
        let (status, stats) = app.call(&driver, Method::GET, &stats_path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(stats[0]["fuel_type"], "gasoline");
        assert_eq!(
            stats[0]["spend"][0],
            json!({"currency": "USD", "amount": "86.89"})
        );
        assert!((stats[0]["average"]["mpg_us"].as_f64().unwrap() - 30.0).abs() < 1e-9);
        let (_, none) = app
            .call(
                &driver,
                Method::GET,
                &format!("{stats_path}?from=2027-01-01T00:00:00Z"),
                None,
            )
            .await;
        assert_eq!(none[0]["entries"], 0);

        let entry = format!("{fuel}/{}", second["id"].as_str().unwrap());
        let (status, _) = app.call(&driver, Method::DELETE, &entry, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(&manager, Method::DELETE, &entry, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.call(&manager, Method::GET, &entry, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, vehicle) = app
            .call(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{}", v["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(
            vehicle["meters"]["odometer"], 20000.0,
            "the deleted fill's odometer reading is void"
        );
    }
}

#[tokio::test]
async fn restoring_a_reading_that_breaks_the_order_is_refused() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        let meters = format!("/api/v1/vehicles/{}/meters", v["id"].as_str().unwrap());
        app.call(
            &manager,
            Method::POST,
            &meters,
            Some(json!({"kind": "odometer", "value": 100, "read_at": "2026-01-01T00:00:00Z"})),
        )
        .await;
        let (_, low) = app
            .call(&manager, Method::POST, &meters, Some(json!({"kind": "odometer", "value": 50, "read_at": "2026-01-02T00:00:00Z", "void": true})))
            .await;
        let (status, problem) = app
            .call(
                &manager,
                Method::PATCH,
                &format!("{meters}/{}", low["id"].as_str().unwrap()),
                Some(json!({"void": false})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {problem}",
            app.name()
        );
        assert_eq!(TestApp::fields(&problem), ["void"]);
    }
}
