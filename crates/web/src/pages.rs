//! Server-rendered pages. For now only the front door, which tells a visitor
//! where things are; the web app proper arrives with its own issue.

use axum::extract::State;
use axum::response::Html;

use crate::AppState;
use crate::error::{HtmlError, escape_html};

/// `/`: what this server is and how to use it.
pub async fn home(State(state): State<AppState>) -> Result<Html<String>, HtmlError> {
    let users = state.store.count_users().await?;
    let first_run = if users == 0 {
        "<p><strong>No user exists yet.</strong> Create the first administrator on the server with \
         <code>motorpool admin create-user --email you@example.com --admin --tenant my-fleet</code>.</p>"
    } else {
        ""
    };
    Ok(Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Motorpool</title></head><body><main>\
         <h1>Motorpool</h1>\
         <p>Vehicle maintenance and fleet health, version {version}, on {db}.</p>{first_run}\
         <ul><li><a href=\"/api/openapi.json\">API reference (OpenAPI 3.1)</a></li>\
         <li><a href=\"/readyz\">Readiness</a></li></ul>\
         <p>Log in through the API: <code>POST /api/v1/auth/login</code>. The web app arrives in a later release.</p>\
         </main></body></html>",
        version = env!("CARGO_PKG_VERSION"),
        db = escape_html(state.store.kind().as_str()),
    )))
}
