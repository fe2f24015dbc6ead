-- Documents: metadata here, bytes in the content-addressed file store
-- (named by their SHA-256, shared when two uploads are identical).
CREATE TABLE documents (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    vehicle_id    BLOB NOT NULL,
    record_id     BLOB,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    issued_on     TEXT,
    expires_on    TEXT,
    notes         TEXT,
    sha256        TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    deleted_at    TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX documents_vehicle_idx ON documents (tenant_id, vehicle_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_expiry_idx ON documents (tenant_id, expires_on) WHERE deleted_at IS NULL AND expires_on IS NOT NULL;
