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
