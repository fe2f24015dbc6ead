-- Per-tenant fault rules: rename/annotate a code, ignore it, or mark it critical.
CREATE TABLE fault_rules (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    protocol        text NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn             integer,
    fmi             smallint,
    source_address  smallint,
    obd_code        text,
    action          text NOT NULL CHECK (action IN ('ignore', 'critical', 'annotate')),
    label           text,
    note            text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- One rule per pattern (NULL parts spelled -1 so they compare equal).
CREATE UNIQUE INDEX fault_rules_pattern_key ON fault_rules
    (tenant_id, protocol, COALESCE(spn, -1), COALESCE(fmi, -1), COALESCE(source_address, -1), COALESCE(obd_code, ''));

ALTER TABLE fault_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE fault_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fault_rules
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
