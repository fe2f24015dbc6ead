//! Motorpool's own feed: any system can serve it for Motorpool to pull.
//!
//! `GET <base_url>?limit=1000[&cursor=<next_cursor>]`, with the connection's
//! credentials (bearer `token`, or basic `user`/`password`), answers
//!
//! ```json
//! {"items": [ … ], "next_cursor": "opaque", "has_more": false,
//!  "devices": [{"external_id": "42", "vin": "1M8…", "name": "T-100"}]}
//! ```
//!
//! `items` are the items of `POST /api/v1/telemetry`; they name their vehicle
//! by `vehicle_id`, `vin`, `unit_number` or `external_id` (a device of this
//! feed, linked through `devices` by VIN, unit number or name). Pages are
//! followed while `has_more`; the last `next_cursor` is stored.

use domain::telemetry::{Door, parse_item};
use domain::vin::Vin;
use serde_json::Value;
use store::{Connection, ExternalDevice};

use super::{Pull, PullError, SyncContext, authorize, json_response};

const MAX_PAGES: usize = 50;
const PAGE_SIZE: &str = "1000";

pub(crate) async fn pull(
    ctx: &SyncContext,
    conn: &Connection,
    creds: &Value,
) -> Result<Pull, PullError> {
    let mut pull = Pull {
        next_cursor: conn.cursor.clone(),
        ..Pull::default()
    };
    let door = Door {
        connection: Some(conn.id),
    };
    for _ in 0..MAX_PAGES {
        let mut req = authorize(ctx.http.get(&conn.base_url), creds)
            .header("accept", "application/json")
            .query(&[("limit", PAGE_SIZE)]);
        if let Some(c) = &pull.next_cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page = json_response(req.send().await?).await?;
        let items = page
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| PullError("the feed page has no `items` list".into()))?;
        for (index, raw) in items.iter().enumerate() {
            match parse_item(index, raw.clone(), door) {
                Ok(item) => pull.items.push(item),
                Err(errors) => {
                    pull.malformed += 1;
                    if let Some(e) = errors.first() {
                        tracing::warn!(field = %e.field, message = %e.message, "feed item refused");
                    }
                }
            }
        }
        for d in page
            .get("devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = d.get("external_id").and_then(Value::as_str) {
                pull.devices.push(ExternalDevice {
                    external_id: id.to_string(),
                    vin: d
                        .get("vin")
                        .and_then(Value::as_str)
                        .and_then(|v| Vin::parse(v).ok()),
                    name: d.get("name").and_then(Value::as_str).map(str::to_string),
                });
            }
        }
        if let Some(next) = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            pull.next_cursor = Some(next.to_string());
        }
        if !page
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            break;
        }
    }
    Ok(pull)
}
