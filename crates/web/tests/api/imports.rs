//! Imports over HTTP.

use domain::tenancy::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

const LUBELOGGER: &str =
    "Date,Odometer,FuelConsumed,Cost,FuelEconomy,IsFillToFull,MissedFuelUp,Notes,Tags
15.01.2024,\"10.000\",\"40,5\",\"60,75 €\",0,True,False,,
25.01.2024,\"10.600\",\"42,0\",\"63,00 €\",0,True,False,,
05.02.2024,\"11.200\",\"0\",\"0\",0,True,False,zero fuel is skipped,
";

#[tokio::test]
async fn a_lubelogger_export_imports_once() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Golf", "fuel_types": ["diesel"], "odometer_unit": "km"})),
            )
            .await;
        let path = format!("/api/v1/vehicles/{}/imports", v["id"].as_str().unwrap());
        let send = |query: &'static str| {
            app.request(&manager, Method::POST, &format!("{path}?{query}"))
                .header("content-type", "text/csv")
                .body(LUBELOGGER)
                .send()
        };

        // LubeLogger does not name its units or separator: the API says which option is missing.
        let r = send("").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["distance_unit"]);

        let full = "distance_unit=km&volume_unit=l&decimal_separator=,&date_order=dmy&currency=EUR";
        let dry: serde_json::Value = send("distance_unit=km&volume_unit=l&decimal_separator=,&date_order=dmy&currency=EUR&dry_run=true").await.unwrap().json().await.unwrap();
        assert_eq!(
            (
                dry["format"].as_str(),
                dry["fuel"].as_u64(),
                dry["committed"].as_bool()
            ),
            (Some("lubelogger_fuel"), Some(2), Some(false)),
            "{dry}"
        );
        let (_, listed) = app
            .call(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{}/fuel", v["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert!(
            listed["items"].as_array().unwrap().is_empty(),
            "{}: a dry run writes nothing",
            app.name()
        );

        let done: serde_json::Value = send(full).await.unwrap().json().await.unwrap();
        assert_eq!(
            (done["fuel"].as_u64(), done["committed"].as_bool()),
            (Some(2), Some(true)),
            "{done}"
        );
        let again: serde_json::Value = send(full).await.unwrap().json().await.unwrap();
        assert_eq!(
            (again["fuel"].as_u64(), again["duplicates"].as_u64()),
            (Some(0), Some(2))
        );

        let (_, listed) = app
            .call(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{}/fuel", v["id"].as_str().unwrap()),
                None,
            )
            .await;
        let newest = &listed["items"][0];
        assert_eq!(
            (newest["total"].as_str(), newest["currency"].as_str()),
            (Some("63.00"), Some("EUR"))
        );
        assert!(
            (newest["economy"]["per_100km"].as_f64().unwrap() - 7.0).abs() < 1e-9,
            "42 L over 600 km"
        );

        let (_, viewer) = app.caller("acme", Role::Viewer).await;
        let forbidden = app
            .request(&viewer, Method::POST, &format!("{path}?{full}"))
            .header("content-type", "text/csv")
            .body(LUBELOGGER)
            .send()
            .await
            .unwrap();
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        let json_body = app
            .request(&manager, Method::POST, &format!("{path}?{full}"))
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(json_body.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[tokio::test]
async fn exported_csv_imports_back_with_the_same_economy() {
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, a) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Original", "odometer_unit": "mi"})),
            )
            .await;
        let (_, b) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Copy", "odometer_unit": "mi"})),
            )
            .await;
        let a_id = a["id"].as_str().unwrap();
        for (at, odo, gal, total, full, missed) in [
            ("2026-03-01T08:00:00Z", 1000, 10.0, "35.00", true, false),
            ("2026-03-05T08:00:00Z", 1150, 4.5, "15.75", false, false),
            ("2026-03-09T08:00:00Z", 1310, 6.25, "21.88", true, false),
            ("2026-03-20T08:00:00Z", 1800, 11.0, "38.50", true, true),
            ("2026-03-28T08:00:00Z", 2100, 9.75, "34.13", true, false),
        ] {
            let (status, body) = app
                .call(&manager, Method::POST, &format!("/api/v1/vehicles/{a_id}/fuel"), Some(json!({"filled_at": at, "odometer": odo, "quantity": gal, "unit": "us_gal", "total": total, "currency": "USD", "full": full, "missed_previous": missed})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        app.call(&manager, Method::POST, &format!("/api/v1/vehicles/{a_id}/expenses"), Some(json!({"category": "tolls", "amount": "4.50", "currency": "USD", "spent_on": "2026-03-02"}))).await;

        let export = app
            .request(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{a_id}/exports/fuel"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), StatusCode::OK);
        assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(
            export.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("Original-fuel-mi-us_gal.csv")
        );
        let csv = export.text().await.unwrap();
        assert!(
            csv.starts_with(
                "Date,Odometer,FuelConsumed,Cost,FuelEconomy,IsFillToFull,MissedFuelUp,Notes,Tags\n"
            ),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 6);

        let import = app
            .request(&manager, Method::POST, &format!("/api/v1/vehicles/{}/imports?distance_unit=mi&volume_unit=us_gal&decimal_separator=.&currency=USD", b["id"].as_str().unwrap()))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let report: serde_json::Value = import.json().await.unwrap();
        assert_eq!(
            (report["fuel"].as_u64(), report["committed"].as_bool()),
            (Some(5), Some(true)),
            "{}: {report}",
            app.name()
        );

        let stats = |id: String| {
            let app = &app;
            let manager = manager.clone();
            async move {
                app.call(
                    &manager,
                    Method::GET,
                    &format!("/api/v1/vehicles/{id}/fuel-stats"),
                    None,
                )
                .await
                .1
            }
        };
        let (sa, sb) = (
            stats(a_id.to_string()).await,
            stats(b["id"].as_str().unwrap().to_string()).await,
        );
        assert_eq!(
            sa[0]["average"], sb[0]["average"],
            "same economy after the round trip"
        );
        assert_eq!(sa[0]["spend"], sb[0]["spend"]);

        for kind in ["service", "odometer", "expenses"] {
            let r = app
                .request(
                    &manager,
                    Method::GET,
                    &format!("/api/v1/vehicles/{a_id}/exports/{kind}"),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{kind}");
            assert!(r.text().await.unwrap().starts_with("Date,"));
        }
        let r = app
            .request(
                &manager,
                Method::GET,
                &format!("/api/v1/vehicles/{a_id}/exports/passwords"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_fuelio_backup_imports_fills_services_and_expenses() {
    let file = "\"## Vehicle\"\nName,DistUnit\nGolf,0\n\"## Log\"\nData,Odo (km),Fuel (litres),Full,Price (optional),Notes (optional),Missed,VolumePrice\n2024-03-01 08:15,45000,40.5,1,60.75,,0,1.5\n2024-03-10 18:00,45600,42.0,1,63.00,,0,1.5\n\"## CostCategories\"\nCostTypeID,Name\n1,Service\n5,Tolls\n\"## Costs\"\nCostTitle,Date,Odo,CostTypeID,Notes,Cost,isIncome\nOil change,2024-03-05,45300,1,,89.90,0\nMotorway,2024-03-06,0,5,,12.40,0\n";
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Golf", "odometer_unit": "km"})),
            )
            .await;
        let id = v["id"].as_str().unwrap();
        let r = app
            .request(
                &manager,
                Method::POST,
                &format!("/api/v1/vehicles/{id}/imports?currency=EUR"),
            )
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(report["format"], "fuelio");
        assert_eq!(
            (
                report["fuel"].as_u64(),
                report["services"].as_u64(),
                report["expenses"].as_u64()
            ),
            (Some(2), Some(1), Some(1)),
            "{}: {report}",
            app.name()
        );
        let (_, costs) = app
            .call(
                &manager,
                Method::GET,
                &format!("/api/v1/costs?vehicle_id={id}&from=2024-03-01&to=2024-04-01"),
                None,
            )
            .await;
        let total: f64 = costs
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["amount"].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!(
            (total - (60.75 + 63.00 + 89.90 + 12.40)).abs() < 1e-9,
            "{costs}"
        );
    }
}

#[tokio::test]
async fn any_csv_imports_with_a_column_mapping() {
    let file = "Fecha,Km,Litros,Importe\n01/03/2024,\"45.000\",\"40,5\",\"60,75\"\n10/03/2024,\"45.600\",\"42,0\",\"63,00\"\n";
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Seat", "odometer_unit": "km"})),
            )
            .await;
        let path = format!("/api/v1/vehicles/{}/imports", v["id"].as_str().unwrap());
        let send = |query: &'static str| {
            app.request(&manager, Method::POST, &format!("{path}?{query}"))
                .header("content-type", "text/csv")
                .body(file)
                .send()
        };
        let r = send("format=generic&kind=fuel").await.unwrap();
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["columns"]);
        let ok: serde_json::Value = send("format=generic&kind=fuel&columns=date:Fecha,odometer:Km,quantity:Litros,total:Importe&distance_unit=km&volume_unit=l&decimal_separator=,&date_order=dmy&currency=EUR")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                ok["format"].as_str(),
                ok["fuel"].as_u64(),
                ok["committed"].as_bool()
            ),
            (Some("generic"), Some(2), Some(true)),
            "{}: {ok}",
            app.name()
        );
    }
}

#[tokio::test]
async fn the_json_export_imports_into_another_tenant() {
    for app in TestApp::all().await {
        let (_, owner) = app.caller("source", Role::Owner).await;
        let (_, v) = app
            .call(
                &owner,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Bus", "odometer_unit": "km", "tags": ["school"]})),
            )
            .await;
        let id = v["id"].as_str().unwrap();
        app.call(&owner, Method::POST, &format!("/api/v1/vehicles/{id}/fuel"), Some(json!({"filled_at": "2026-03-01T08:00:00Z", "odometer": 1000, "quantity": 50, "unit": "l", "total": "80.00", "currency": "EUR"}))).await;
        let export = app
            .request(&owner, Method::GET, "/api/v1/export")
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), StatusCode::OK);
        let body = export.text().await.unwrap();

        let (_, target) = app.caller("target", Role::Owner).await;
        let r = app
            .request(&target, Method::POST, "/api/v1/imports/json")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", app.name());
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (
                report["vehicles_created"].as_u64(),
                report["items_created"].as_u64()
            ),
            (Some(1), Some(1)),
            "{report}"
        );
        let (_, list) = app
            .call(&target, Method::GET, "/api/v1/vehicles", None)
            .await;
        assert_eq!(list["items"][0]["tags"], json!(["school"]));

        let (_, viewer) = app.caller("target", Role::Viewer).await;
        let r = app
            .request(&viewer, Method::POST, "/api/v1/imports/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app
            .request(&target, Method::POST, "/api/v1/imports/json")
            .body("{\"format\":\"other\",\"version\":1,\"vehicles\":[]}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_drivvo_export_imports_with_its_decimal_separator() {
    let file = "##Vehicle\nName\nGol\n##Refuelling\nOdometer (km),Date,Fuel,Price/liter,Total cost,Quantity (liters),Full tank,a,b,c,d,e,f,g,h,i,j,k,Notes\n\"12.000\",2024-03-01 10:00,Gasoline,\"1,89\",\"75,60\",\"40,0\",Yes,,,,,,,,,,,,\n\"12.500\",2024-03-09 10:00,Gasoline,\"1,90\",\"57,00\",\"30,0\",Yes,,,,,,,,,,,,\n";
    for app in TestApp::all().await {
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Gol", "odometer_unit": "km"})),
            )
            .await;
        let r = app
            .request(
                &manager,
                Method::POST,
                &format!(
                    "/api/v1/vehicles/{}/imports?decimal_separator=,&currency=EUR",
                    v["id"].as_str().unwrap()
                ),
            )
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        let report: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (report["format"].as_str(), report["fuel"].as_u64()),
            (Some("drivvo"), Some(2)),
            "{}: {report}",
            app.name()
        );
    }
}
