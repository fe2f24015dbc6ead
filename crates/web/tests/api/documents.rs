//! Documents over HTTP: upload, sniffing, download, expiry, isolation.

use domain::tenancy::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestApp;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

#[tokio::test]
async fn an_insurance_card_is_uploaded_listed_as_expiring_and_downloaded() {
    for app in TestApp::all().await {
        let (_, driver) = app.caller("acme", Role::Driver).await;
        let (_, manager) = app.caller("acme", Role::Manager).await;
        let (_, v) = app
            .call(
                &manager,
                Method::POST,
                "/api/v1/vehicles",
                Some(json!({"name": "Van"})),
            )
            .await;
        let docs = format!("/api/v1/vehicles/{}/documents", v["id"].as_str().unwrap());
        let soon = (time::OffsetDateTime::now_utc().date() + time::Duration::days(20)).to_string();
        let form = Form::new()
            .part(
                "file",
                Part::bytes(PDF.to_vec())
                    .file_name("../insurance \"card\".pdf")
                    .mime_str("image/png")
                    .unwrap(),
            )
            .text("kind", "insurance")
            .text("title", "Insurance card 2026")
            .text("expires_on", soon.clone());
        let r = app
            .request(&driver, Method::POST, &docs)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", app.name());
        let doc: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            doc["content_type"], "application/pdf",
            "sniffed, not the client's image/png"
        );
        assert_eq!(doc["file_name"], "insurance _card_.pdf");
        assert_eq!(doc["sha256"].as_str().unwrap().len(), 64);

        let (_, expiring) = app
            .call(
                &driver,
                Method::GET,
                "/api/v1/documents/expiring?days=30",
                None,
            )
            .await;
        assert_eq!(expiring[0]["title"], "Insurance card 2026");
        let (_, later) = app
            .call(
                &driver,
                Method::GET,
                "/api/v1/documents/expiring?days=10",
                None,
            )
            .await;
        assert!(later.as_array().unwrap().is_empty());

        let file = app
            .request(&driver, Method::GET, doc["download"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(file.headers()["content-type"], "application/pdf");
        let disposition = file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            disposition.starts_with("attachment; filename=\"insurance _card_.pdf\""),
            "{disposition}"
        );
        assert_eq!(file.bytes().await.unwrap().as_ref(), PDF);

        // Executables are refused, and so is a missing file.
        let exe = Form::new().part(
            "file",
            Part::bytes(b"MZ\x90\0\x03\0\0\0".to_vec()).file_name("x.exe"),
        );
        let r = app
            .request(&driver, Method::POST, &docs)
            .multipart(exe)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["file"]);
        let bad_date = Form::new()
            .part("file", Part::bytes(PDF.to_vec()).file_name("a.pdf"))
            .text("expires_on", "soon");
        let r = app
            .request(&driver, Method::POST, &docs)
            .multipart(bad_date)
            .send()
            .await
            .unwrap();
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(TestApp::fields(&problem), ["expires_on"]);
        let (_, page) = app.call(&driver, Method::GET, &docs, None).await;
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            1,
            "refused uploads record nothing"
        );

        // Another tenant cannot see it or download it.
        let (_, stranger) = app.caller("elsewhere", Role::Owner).await;
        let r = app
            .request(&stranger, Method::GET, doc["download"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let (_, theirs) = app
            .call(
                &stranger,
                Method::GET,
                "/api/v1/documents/expiring?days=30",
                None,
            )
            .await;
        assert!(theirs.as_array().unwrap().is_empty());

        let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
        let (status, _) = app.call(&driver, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(&manager, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let r = app
            .request(&manager, Method::GET, doc["download"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(
            app.db.store.referenced_files().await.unwrap().is_empty(),
            "the file is now unreferenced"
        );
    }
}
