-- periop audit store, schema version 2 (SQLite).
--
-- Records of other kinds than assessments share the chain (rule-set uploads and activations,
-- docs/rules.md). This index serves listing by kind (rule-set history, back-tests over
-- assessments) without scanning the whole table.
CREATE INDEX IF NOT EXISTS audit_records_kind ON audit_records (kind, seq);
