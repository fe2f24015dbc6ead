//! Documents: insurance cards, registrations, manuals, receipts, photos.

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use domain::ValidationErrors;
use domain::document::{DocumentKind, safe_file_name, sniff};
use domain::ids::VehicleId;
use domain::tenancy::{Role, parse_display_text};
use serde::{Deserialize, Serialize};
use store::{Document, NewDocument};
use time::{Date, Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::parse_vehicle;
use crate::extract::{ApiQuery, PageQuery};
use crate::openapi::{ReadErrors, WriteErrors};

/// A document's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub vehicle_id: VehicleId,
    pub vehicle_name: String,
    pub record_id: Option<Uuid>,
    pub kind: DocumentKind,
    pub title: String,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub notes: Option<String>,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    pub size_bytes: i64,
    /// Sniffed from the bytes, not taken from the upload.
    pub content_type: String,
    pub file_name: String,
    /// Where to download the file.
    pub download: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        let n = d.doc;
        Self {
            download: format!("/api/v1/documents/{}/file", d.id),
            id: d.id,
            vehicle_id: n.vehicle_id,
            vehicle_name: d.vehicle_name,
            record_id: n.record_id,
            kind: n.kind,
            title: n.title,
            issued_on: n.issued_on,
            expires_on: n.expires_on,
            notes: n.notes,
            sha256: n.sha256,
            size_bytes: n.size_bytes,
            content_type: n.content_type,
            file_name: n.file_name,
            created_at: d.created_at,
        }
    }
}

/// The multipart form of an upload (documented shape; read field by field).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// The file (PDF, PNG, JPEG, GIF, WebP, HEIC, TIFF or UTF-8 text).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// Default `other`.
    pub kind: Option<DocumentKind>,
    /// Default: the file name.
    pub title: Option<String>,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub notes: Option<String>,
    /// A service record, fuel entry or expense the document belongs to.
    pub record_id: Option<Uuid>,
}

/// One page of documents, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpiringQuery {
    /// Expiring within this many days (default 30, up to 3650); expired ones included.
    pub days: Option<i64>,
}

fn parse_uuid(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest {
            field: None,
            message: format!("the multipart body is malformed: {e}"),
        }
    }
}

/// Uploads a document for a vehicle (drivers and up), as `multipart/form-data`.
/// The file's type is read from its bytes; other than PDF, images and plain
/// text is refused. Files are stored once per content (SHA-256).
#[utoipa::path(
    post, path = "/api/v1/vehicles/{id}/documents", tag = "documents",
    params(("id" = VehicleId, Path)),
    request_body(content = DocumentUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = DocumentView), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    principal.require(Role::Driver)?;
    let vehicle = state
        .store
        .vehicle(principal.tenant_id, parse_vehicle(&id)?)
        .await?;
    let mut errors = ValidationErrors::new();
    let (mut file, mut file_name) = (None, String::new());
    let (mut kind, mut title, mut issued_on, mut expires_on, mut notes, mut record_id) =
        (DocumentKind::Other, None, None, None, None, None);
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            file_name = safe_file_name(field.file_name().unwrap_or_default());
            file = Some(field.bytes().await.map_err(multipart_error)?);
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        let date = |errors: &mut ValidationErrors, t: &str| {
            errors.check(
                &name,
                Date::parse(
                    t.trim(),
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .map_err(|_| format!("`{t}` is not a date YYYY-MM-DD")),
            )
        };
        match name.as_str() {
            "kind" => {
                kind = errors
                    .check("kind", text.trim().parse::<DocumentKind>())
                    .unwrap_or(kind)
            }
            "title" => title = errors.check("title", parse_display_text(&text, 200)),
            "issued_on" => issued_on = date(&mut errors, &text),
            "expires_on" => expires_on = date(&mut errors, &text),
            "notes" => notes = Some(text).filter(|n| !n.trim().is_empty()),
            "record_id" => {
                record_id = errors.check(
                    "record_id",
                    text.trim()
                        .parse::<Uuid>()
                        .map_err(|_| "is not an id".to_string()),
                )
            }
            other => errors.push(other, "is not a field of a document upload"),
        }
    }
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        errors.push("file", "is required");
        return Err(errors.into());
    };
    if bytes.len() > state.settings.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type = sniff(&bytes);
    if content_type.is_none() {
        errors.push("file", "is not a PDF, an image or plain text");
    }
    if let (Some(i), Some(e)) = (issued_on, expires_on)
        && e < i
    {
        errors.push("expires_on", "is before issued_on");
    }
    errors.into_result()?;
    let hash = state.files.put(&bytes).await?;
    let new = NewDocument {
        vehicle_id: vehicle.id,
        record_id,
        kind,
        title: title.unwrap_or_else(|| file_name.clone()),
        issued_on,
        expires_on,
        notes,
        sha256: hash,
        size_bytes: bytes.len() as i64,
        content_type: content_type
            .unwrap_or("application/octet-stream")
            .to_string(),
        file_name,
    };
    let doc = state
        .store
        .create_document(principal.tenant_id, &new, &principal.audit())
        .await?;
    Ok((StatusCode::CREATED, Json(doc.into())))
}

/// A vehicle's documents, newest first.
#[utoipa::path(
    get, path = "/api/v1/vehicles/{id}/documents", tag = "documents",
    params(("id" = VehicleId, Path), PageQuery),
    responses((status = 200, body = DocumentPage), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<DocumentPage>, ApiError> {
    principal.require(Role::Viewer)?;
    let p = state
        .store
        .list_documents(
            principal.tenant_id,
            parse_vehicle(&id)?,
            page.cursor.as_deref(),
            page.limit()?,
        )
        .await?;
    Ok(Json(DocumentPage {
        items: p.items.into_iter().map(Into::into).collect(),
        next_cursor: p.next_cursor,
    }))
}

/// Documents expiring within `days` (or expired), soonest first, across the tenant.
#[utoipa::path(
    get, path = "/api/v1/documents/expiring", tag = "documents",
    params(ExpiringQuery),
    responses((status = 200, body = Vec<DocumentView>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn expiring(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ExpiringQuery>,
) -> Result<Json<Vec<DocumentView>>, ApiError> {
    principal.require(Role::Viewer)?;
    let days = q.days.unwrap_or(30);
    if !(0..=3650).contains(&days) {
        return Err(ApiError::BadRequest {
            field: Some("days".into()),
            message: "days must be 0 to 3650".into(),
        });
    }
    let until = OffsetDateTime::now_utc().date() + Duration::days(days);
    let docs = state
        .store
        .expiring_documents(principal.tenant_id, None, until, 500)
        .await?;
    Ok(Json(docs.into_iter().map(Into::into).collect()))
}

/// A document's metadata.
#[utoipa::path(
    get, path = "/api/v1/documents/{document_id}", tag = "documents",
    params(("document_id" = Uuid, Path)),
    responses((status = 200, body = DocumentView), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DocumentView>, ApiError> {
    principal.require(Role::Viewer)?;
    Ok(Json(
        state
            .store
            .document(principal.tenant_id, parse_uuid(&id)?)
            .await?
            .into(),
    ))
}

/// Downloads a document's file, as an attachment with its sniffed type.
#[utoipa::path(
    get, path = "/api/v1/documents/{document_id}/file", tag = "documents",
    params(("document_id" = Uuid, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>), ReadErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Role::Viewer)?;
    let doc = state
        .store
        .document(principal.tenant_id, parse_uuid(&id)?)
        .await?;
    let bytes = state
        .files
        .get(&doc.doc.sha256)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => ApiError::Internal(format!(
                "file {} of document {} is missing",
                doc.doc.sha256, doc.id
            )),
            other => other.into(),
        })?;
    let ascii: String = doc
        .doc
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = doc
        .doc
        .file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&doc.doc.content_type)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// Deletes a document (managers); its file is removed by the orphan sweep
/// (`motorpool admin purge-files`) once no document uses it.
#[utoipa::path(
    delete, path = "/api/v1/documents/{document_id}", tag = "documents",
    params(("document_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []), ("session" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Manager)?;
    state
        .store
        .delete_document(principal.tenant_id, parse_uuid(&id)?, &principal.audit())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
