//! Document metadata, linked to a vehicle (and optionally a record).

use std::collections::BTreeSet;
use std::str::FromStr;

use domain::document::DocumentKind;
use domain::ids::{TenantId, VehicleId};
use serde_json::json;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::audit::{Change, record};
use crate::error::ResultExt;
use crate::page::{Page, decode_cursor, page_limit};
use crate::{AuditContext, Mode, Store, StoreError, Tx, execute_tx, on_tx};

/// A document to record; its bytes are already in the file store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub vehicle_id: VehicleId,
    /// A service record, fuel entry or expense the document belongs to.
    pub record_id: Option<Uuid>,
    pub kind: DocumentKind,
    pub title: String,
    pub issued_on: Option<Date>,
    pub expires_on: Option<Date>,
    pub notes: Option<String>,
    pub sha256: String,
    pub size_bytes: i64,
    /// Sniffed from the bytes.
    pub content_type: String,
    /// Already made safe for a header.
    pub file_name: String,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: Uuid,
    pub vehicle_name: String,
    pub doc: NewDocument,
    pub created_at: OffsetDateTime,
}

/// A document as stored: a row, or an object of the vehicle page's JSON
/// column ([`expiring_documents_column`]).
#[derive(sqlx::FromRow, serde::Deserialize)]
struct Row {
    id: Uuid,
    vehicle_id: Uuid,
    vehicle_name: String,
    record_id: Option<Uuid>,
    kind: String,
    title: String,
    issued_on: Option<Date>,
    expires_on: Option<Date>,
    notes: Option<String>,
    sha256: String,
    size_bytes: i64,
    content_type: String,
    file_name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

const COLUMNS: &str = "d.id, d.vehicle_id, v.name AS vehicle_name, d.record_id, d.kind, d.title, d.issued_on, d.expires_on,
    d.notes, d.sha256, d.size_bytes, d.content_type, d.file_name, d.created_at";
const FROM: &str =
    "documents d JOIN vehicles v ON v.tenant_id = d.tenant_id AND v.id = d.vehicle_id";

impl TryFrom<Row> for Document {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Document {
            id: r.id,
            vehicle_name: r.vehicle_name,
            doc: NewDocument {
                vehicle_id: r.vehicle_id.into(),
                record_id: r.record_id,
                kind: DocumentKind::from_str(&r.kind).map_err(StoreError::Corrupt)?,
                title: r.title,
                issued_on: r.issued_on,
                expires_on: r.expires_on,
                notes: r.notes,
                sha256: r.sha256,
                size_bytes: r.size_bytes,
                content_type: r.content_type,
                file_name: r.file_name,
            },
            created_at: r.created_at,
        })
    }
}

/// Records a document inside the caller's transaction (not audited).
pub(crate) async fn insert_document_in(
    tx: &mut crate::Tx,
    tenant: TenantId,
    new: &NewDocument,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    execute_tx!(
        tx,
        sqlx::query(
        "INSERT INTO documents (tenant_id, id, vehicle_id, record_id, kind, title, issued_on, expires_on, notes,
             sha256, size_bytes, content_type, file_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(new.vehicle_id.as_uuid())
        .bind(new.record_id)
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(new.issued_on)
        .bind(new.expires_on)
        .bind(new.notes.as_deref())
        .bind(&new.sha256)
        .bind(new.size_bytes)
        .bind(&new.content_type)
        .bind(&new.file_name)
        .bind(OffsetDateTime::now_utc())
    )
    .ctx("recording a document")?;
    Ok(id)
}

impl Store {
    /// Records a document whose bytes were stored.
    #[tracing::instrument(skip_all)]
    pub async fn create_document(
        &self,
        tenant: TenantId,
        new: &NewDocument,
        ctx: &AuditContext,
    ) -> Result<Document, StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, new.vehicle_id).await?;
        let id = insert_document_in(&mut tx, tenant, new).await?;
        record(&mut tx, tenant, ctx, Change {
            action: "document.create",
            entity_type: "document",
            entity_id: id.to_string(),
            before: None,
            after: Some(json!({
                "vehicle_id": new.vehicle_id, "kind": new.kind.as_str(), "title": new.title, "sha256": new.sha256,
                "expires_on": new.expires_on.map(|d| d.to_string()),
            })),
        })
        .await?;
        let row: Row = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE d.tenant_id = $1 AND d.id = $2"
        )))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_one(c)
        .await)
        .ctx("loading a document")?;
        tx.commit().await?;
        row.try_into()
    }

    /// A live document of the tenant.
    pub async fn document(&self, tenant: TenantId, id: Uuid) -> Result<Document, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        let row: Option<Row> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE d.tenant_id = $1 AND d.id = $2 AND d.deleted_at IS NULL AND v.deleted_at IS NULL"
        )))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(c)
        .await)
        .ctx("loading a document")?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// A vehicle's live documents, newest first.
    pub async fn list_documents(
        &self,
        tenant: TenantId,
        vehicle: VehicleId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Document>, StoreError> {
        let before: Option<Uuid> = cursor.map(decode_cursor).transpose()?;
        let limit = page_limit(limit);
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        self.vehicle_in(&mut tx, tenant, vehicle).await?;
        let rows: Vec<Row> = on_tx!(&mut tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE d.tenant_id = $1 AND d.vehicle_id = $2 AND d.deleted_at IS NULL
             AND ($3 IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4"
        )))
        .bind(tenant.as_uuid())
        .bind(vehicle.as_uuid())
        .bind(before)
        .bind(limit + 1)
        .fetch_all(c)
        .await)
        .ctx("listing documents")?;
        let docs = rows
            .into_iter()
            .map(Document::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(docs, limit, |d| d.id))
    }

    /// Live documents of live vehicles expiring on or before `until`
    /// (already expired ones included), soonest first.
    pub async fn expiring_documents(
        &self,
        tenant: TenantId,
        vehicle: Option<VehicleId>,
        until: Date,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
        expiring_documents_in(&mut tx, tenant, vehicle, until, limit).await
    }

    /// Soft-deletes a document (its file stays until the orphan sweep finds
    /// no live document using it).
    pub async fn delete_document(
        &self,
        tenant: TenantId,
        id: Uuid,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(Mode::Write, Some(tenant)).await?;
        let n = execute_tx!(
            &mut tx,
            sqlx::query("UPDATE documents SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
                .bind(tenant.as_uuid())
                .bind(id)
                .bind(OffsetDateTime::now_utc())
        )
        .ctx("deleting a document")?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        record(
            &mut tx,
            tenant,
            ctx,
            Change {
                action: "document.delete",
                entity_type: "document",
                entity_id: id.to_string(),
                before: None,
                after: None,
            },
        )
        .await?;
        tx.commit().await
    }

    /// The file hashes that live documents of live vehicles use, in every tenant.
    pub async fn referenced_files(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut out = BTreeSet::new();
        // Deleted tenants too: their data is kept until an operator purges it.
        let mut tx = self.begin(Mode::Read, None).await?;
        let tenants: Vec<Uuid> = on_tx!(&mut tx, |c| sqlx::query_scalar("SELECT id FROM tenants")
            .fetch_all(c)
            .await)
        .ctx("listing tenants")?;
        drop(tx);
        for tenant in tenants {
            let tenant = TenantId::from_uuid(tenant);
            let mut tx = self.begin(Mode::Read, Some(tenant)).await?;
            let hashes: Vec<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
                "SELECT DISTINCT d.sha256 FROM documents d JOIN vehicles v ON v.tenant_id = d.tenant_id AND v.id = d.vehicle_id
                 WHERE d.tenant_id = $1 AND d.deleted_at IS NULL AND v.deleted_at IS NULL"
            )
            .bind(tenant.as_uuid())
            .fetch_all(c)
            .await)
            .ctx("listing referenced files")?;
            out.extend(hashes);
        }
        Ok(out)
    }
}

/// One vehicle's documents expiring by the day bound as `until` (`"$6"`,
/// say), soonest first, at most `limit`, as one JSON array: a column of
/// another statement whose `$1` is the tenant and `$2` the vehicle (the
/// vehicle page's first statement: a round trip fewer). Read it with
/// [`documents_from_column`].
pub(crate) fn expiring_documents_column(
    kind: crate::BackendKind,
    until: &str,
    limit: u32,
) -> String {
    let select = expiring_select(
        "AND d.vehicle_id = $2",
        until,
        &page_limit(limit).to_string(),
    );
    let sqlite_row = crate::json_rows::object(
        COLUMNS,
        &[
            ("id", crate::json_rows::Kind::Blob),
            ("vehicle_id", crate::json_rows::Kind::Blob),
            ("record_id", crate::json_rows::Kind::Blob),
        ],
    );
    crate::json_rows::array_column(kind, &sqlite_row, "expires_on, id", &select)
}

/// Live documents of live vehicles of tenant `$1` expiring by `until`,
/// soonest first, at most `limit` (placeholders or literals), narrowed by
/// `scope` (`AND …`).
fn expiring_select(scope: &str, until: &str, limit: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE d.tenant_id = $1 {scope}
            AND d.deleted_at IS NULL AND v.deleted_at IS NULL
            AND d.expires_on IS NOT NULL AND d.expires_on <= {until}
          ORDER BY d.expires_on, d.id LIMIT {limit}"
    )
}

/// The documents of an [`expiring_documents_column`], soonest first.
pub(crate) fn documents_from_column(text: &str) -> Result<Vec<Document>, StoreError> {
    let rows: Vec<Row> =
        crate::json_rows::decode(text).ctx("reading a vehicle's expiring documents")?;
    rows.into_iter().map(Document::try_from).collect()
}

/// [`Store::expiring_documents`] inside the caller's transaction.
pub(crate) async fn expiring_documents_in(
    tx: &mut Tx,
    tenant: TenantId,
    vehicle: Option<VehicleId>,
    until: Date,
    limit: u32,
) -> Result<Vec<Document>, StoreError> {
    // One vehicle's documents through the vehicle's own rows: an
    // `$4 IS NULL OR vehicle_id = $4` filter cannot use an index on the
    // vehicle (the same trap as in `costs_in`).
    let scope = if vehicle.is_some() {
        "AND d.vehicle_id = $4"
    } else {
        "AND $4 IS NULL"
    };
    let rows: Vec<Row> = on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        expiring_select(scope, "$2", "$3")
    ))
    .bind(tenant.as_uuid())
    .bind(until)
    .bind(page_limit(limit))
    .bind(vehicle.map(|v| v.as_uuid()))
    .fetch_all(c)
    .await)
    .ctx("listing expiring documents")?;
    rows.into_iter().map(Document::try_from).collect()
}
