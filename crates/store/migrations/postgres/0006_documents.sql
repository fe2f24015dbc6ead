-- Documents: metadata here, bytes in the content-addressed file store
-- (named by their SHA-256, shared when two uploads are identical).
CREATE TABLE documents (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    vehicle_id    uuid NOT NULL,
    record_id     uuid,
    kind          text NOT NULL,
    title         text NOT NULL,
    issued_on     date,
    expires_on    date,
    notes         text,
    sha256        text NOT NULL,
    size_bytes    bigint NOT NULL,
    content_type  text NOT NULL,
    file_name     text NOT NULL,
    created_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vehicle_id) REFERENCES vehicles (tenant_id, id)
);
CREATE INDEX documents_vehicle_idx ON documents (tenant_id, vehicle_id) WHERE deleted_at IS NULL;
CREATE INDEX documents_expiry_idx ON documents (tenant_id, expires_on) WHERE deleted_at IS NULL AND expires_on IS NOT NULL;

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
