//! Request extractors whose rejections are problem documents naming the
//! field at fault, instead of axum's plain-text defaults.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Rejects a wrong content type (415), an oversized body (413),
/// malformed JSON (400), and wrong types or unknown fields (422, naming the field).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|ct| {
                ct == "application/json"
                    || (ct.starts_with("application/") && ct.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest {
                    field: None,
                    message: format!("cannot read the request body: {e}"),
                }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON with the path of the first failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                field: None,
                message: format!("the body is not valid JSON: {inner}"),
            };
        }
        json_field_error(&path, &inner.to_string())
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        field: None,
        message: format!("the body is not valid JSON: {e}"),
    })?;
    Ok(value)
}

/// Turns a serde data error into a field error. serde_path_to_error's path
/// already ends with an unknown field's name; a missing field is reported at
/// its parent, so its name is taken from the message.
fn json_field_error(path: &str, message: &str) -> ApiError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    let path = if path == "." { "" } else { path };
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    let field = if let Some(missing) = named("missing field `") {
        if path.is_empty() {
            missing
        } else {
            format!("{path}.{missing}")
        }
    } else if path.is_empty() {
        named("unknown field `").unwrap_or_else(|| "body".to_string())
    } else {
        path.to_string()
    };
    let message = match message.split_once(", expected one of") {
        Some((head, _)) if message.starts_with("unknown field") => {
            format!("{head} is not a field of this request")
        }
        _ if message.starts_with("missing field") => "is required".to_string(),
        _ => message,
    };
    ApiError::field(field, message)
}

/// A query string, with the same field-naming rejections as [`ApiJson`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = if path == "." {
                    message
                        .strip_prefix("unknown field `")
                        .and_then(|r| r.split('`').next())
                        .unwrap_or("query")
                        .to_string()
                } else {
                    path
                };
                ApiError::BadRequest {
                    field: Some(field),
                    message: format!("invalid query parameter: {message}"),
                }
            })
    }
}

/// `cursor` and `limit` of a plain paginated list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
}

impl PageQuery {
    /// The page size, or a 400 naming `limit`.
    pub fn limit(&self) -> Result<u32, ApiError> {
        check_limit(self.limit)
    }
}

/// Checks a page size: absent means 50; 1–500 allowed.
pub fn check_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(50);
    if (1..=500).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest {
            field: Some("limit".into()),
            message: "limit must be 1 to 500".into(),
        })
    }
}

/// A decimal amount sent as a JSON string (`"45.67"`) or number (`45.67`),
/// kept as text so it converts to minor units exactly.
#[derive(Debug, Clone, utoipa::ToSchema)]
#[schema(value_type = String, example = "45.67")]
pub struct Decimal(pub String);

impl<'de> serde::Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match <serde_json::Value as serde::Deserialize>::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Decimal(s)),
            serde_json::Value::Number(n) => Ok(Decimal(n.to_string())),
            _ => Err(serde::de::Error::custom(
                "expected a decimal number or a string such as \"45.67\"",
            )),
        }
    }
}

/// A vehicle id from the path; one that does not parse is simply not found
/// (the same answer as another tenant's id).
pub fn parse_vehicle(id: &str) -> Result<domain::ids::VehicleId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Deserialises a present field (even `null`) as `Some(...)`, so a patch can
/// tell "absent: keep" from "null: clear".
pub fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
