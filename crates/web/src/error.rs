//! The one error type of the HTTP layer, and how it renders: as an RFC 9457
//! `application/problem+json` body for the API, or as an HTML page for the
//! browser pages (through [`HtmlError`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{FieldError, ValidationErrors};
use serde::Serialize;
use store::StoreError;
use utoipa::ToSchema;

/// Everything a handler can fail with. Variants are answers to the client;
/// only [`ApiError::Internal`] is a failure of ours (logged, never detailed).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or query parsed but broke rules; one entry per bad field.
    #[error("the request has invalid fields")]
    Validation(ValidationErrors),
    /// The request could not be read at all (malformed JSON, bad cursor).
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    #[error("authentication required: send a session cookie or `Authorization: Bearer <token>`")]
    Unauthenticated,
    /// A webhook whose signature or timestamp does not check out.
    #[error("webhook refused: {0}")]
    BadSignature(String),
    /// A login with the wrong e-mail or password (the two are not told apart).
    #[error("the e-mail or password is wrong")]
    WrongCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    /// Unknown id, or an id of another tenant: the same answer, so ids do
    /// not reveal what exists elsewhere.
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("the request body is larger than this server accepts")]
    PayloadTooLarge,
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("too many attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: i64 },
    #[error("the server is not ready: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// An RFC 9457 problem document, with Motorpool's per-field extension.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, stable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code, repeated for convenience.
    pub status: u16,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// One entry per input field at fault, when fields are at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One field at fault.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field's path as sent: `vin`, `fuel_types[1]`, `preferences.currency`.
    pub field: String,
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::WrongCredentials | Self::BadSignature(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A single-field validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(ValidationErrors::single(field, message))
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (kind, errors) = match self {
            Self::Validation(errors) => (
                "urn:motorpool:problem:validation",
                errors.0.iter().cloned().map(ProblemField::from).collect(),
            ),
            Self::BadRequest {
                field: Some(field),
                message,
            } => (
                "urn:motorpool:problem:bad-request",
                vec![ProblemField {
                    field: field.clone(),
                    message: message.clone(),
                }],
            ),
            Self::Conflict { field, message } => (
                "urn:motorpool:problem:conflict",
                vec![ProblemField {
                    field: (*field).to_string(),
                    message: message.clone(),
                }],
            ),
            Self::TooManyRequests { .. } => ("urn:motorpool:problem:rate-limited", vec![]),
            _ => ("about:blank", vec![]),
        };
        let detail = match self {
            // Never leak internals to the client; they are in the log.
            Self::Internal(_) => "an internal error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        Problem {
            kind: kind.to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }

    fn log(&self) {
        if let Self::Internal(message) | Self::Unavailable(message) = self {
            tracing::error!(error = %message, "request failed");
        }
    }

    fn extra_headers(&self, response: &mut Response) {
        match self {
            Self::TooManyRequests { retry_after } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Self::Unauthenticated => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"motorpool\""),
                );
            }
            _ => {}
        }
    }

    /// Renders as a small HTML page (for browser pages).
    pub fn into_html_response(self) -> Response {
        self.log();
        let problem = self.problem();
        let mut body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{status} {title} · Motorpool</title></head><body><main>\
             <h1>{title}</h1><p>{detail}</p>",
            status = problem.status,
            title = escape_html(&problem.title),
            detail = escape_html(&problem.detail),
        );
        if !problem.errors.is_empty() {
            body.push_str("<ul>");
            for e in &problem.errors {
                body.push_str(&format!(
                    "<li><strong>{}</strong>: {}</li>",
                    escape_html(&e.field),
                    escape_html(&e.message)
                ));
            }
            body.push_str("</ul>");
        }
        body.push_str("</main></body></html>");
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response();
        self.extra_headers(&mut response);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        self.extra_headers(&mut response);
        response
    }
}

/// An [`ApiError`] rendered as HTML, for handlers that serve pages.
#[derive(Debug)]
pub struct HtmlError(pub ApiError);

impl<E: Into<ApiError>> From<E> for HtmlError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        self.0.into_html_response()
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict { field, message } => Self::Conflict {
                field,
                message: message.to_string(),
            },
            StoreError::Rule { field, message } => Self::field(field, message),
            StoreError::Invalid { field, message } => Self::BadRequest {
                field: Some(field.to_string()),
                message: format!("{field} {message}"),
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<domain::credentials::CredentialError> for ApiError {
    fn from(e: domain::credentials::CredentialError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// Escapes text for an HTML body or attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_list_their_fields() {
        let mut errors = ValidationErrors::new();
        errors.push("vin", "must be 17 characters (got 3)");
        let problem = ApiError::Validation(errors).problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "vin");
        assert_eq!(problem.kind, "urn:motorpool:problem:validation");
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let problem =
            ApiError::Internal("password authentication failed for user x".into()).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("password"));
    }

    #[test]
    fn html_rendering_escapes() {
        let response = ApiError::field("name", "<script>").into_html_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
