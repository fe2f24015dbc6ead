-- Per-tenant fault rules: rename/annotate a code, ignore it, or mark it critical.
CREATE TABLE fault_rules (
    tenant_id       BLOB NOT NULL,
    id              BLOB NOT NULL,
    protocol        TEXT NOT NULL CHECK (protocol IN ('j1939', 'obd')),
    spn             INTEGER,
    fmi             INTEGER,
    source_address  INTEGER,
    obd_code        TEXT,
    action          TEXT NOT NULL CHECK (action IN ('ignore', 'critical', 'annotate')),
    label           TEXT,
    note            TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- One rule per pattern (NULL parts spelled -1 so they compare equal).
CREATE UNIQUE INDEX fault_rules_pattern_key ON fault_rules
    (tenant_id, protocol, COALESCE(spn, -1), COALESCE(fmi, -1), COALESCE(source_address, -1), COALESCE(obd_code, ''));
