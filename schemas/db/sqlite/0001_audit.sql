-- periop audit store, schema version 1 (SQLite).
--
-- One row per acknowledged answer, linked in a SHA-256 hash chain (see src/audit/mod.rs,
-- `chain_hash`, for the exact encoding). JSON payloads are stored as the exact text that was
-- received or answered, never re-serialised, so `GET /v1/assessments/{id}` can return it
-- byte-for-byte and the hash covers exactly those bytes.

CREATE TABLE IF NOT EXISTS audit_records (
    -- Position in the chain: 1, 2, 3, ... assigned inside a BEGIN IMMEDIATE transaction
    -- (never AUTOINCREMENT gaps), and covered by the hash.
    seq            INTEGER PRIMARY KEY CHECK (seq >= 1),
    assessment_id  TEXT    NOT NULL UNIQUE,
    request_id     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    -- created_at as Unix microseconds (UTC), only to index time-range queries; not hashed
    -- (it is derived from created_at, which is).
    created_at_us  INTEGER NOT NULL,
    caller         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    model_set      TEXT    NOT NULL,
    input          TEXT    NOT NULL,
    normalised     TEXT    NOT NULL,
    output         TEXT    NOT NULL,
    shap           TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash           TEXT    NOT NULL UNIQUE CHECK (length(hash) = 64)
) STRICT;

CREATE INDEX IF NOT EXISTS audit_records_created_at_us ON audit_records (created_at_us, seq);

-- Append-only: any UPDATE or DELETE aborts. Tampering therefore needs a deliberate schema change
-- (DROP TRIGGER), which `periop audit verify` then detects through the hash chain.
CREATE TRIGGER IF NOT EXISTS audit_records_no_update
BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit_records is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS audit_records_no_delete
BEFORE DELETE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'audit_records is append-only: DELETE is not allowed');
END;
