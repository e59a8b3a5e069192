-- periop audit store, schema version 1 (PostgreSQL).
--
-- The same records and hash chain as the SQLite store (src/audit/mod.rs, `chain_hash`): one row
-- per record, JSON payloads kept as the exact text received or answered. Several periop replicas
-- may write to one database: every append transaction first locks the single row of
-- audit_chain_head (SELECT ... FOR UPDATE), so appends are serialised in the database and the
-- chain stays linear whatever the number of writers.

CREATE TABLE audit_records (
    -- Position in the chain: 1, 2, 3, ... assigned under the chain-head lock; covered by the hash.
    seq            bigint PRIMARY KEY CHECK (seq >= 1),
    assessment_id  text   NOT NULL UNIQUE,
    request_id     text   NOT NULL,
    created_at     text   NOT NULL,
    -- created_at as Unix microseconds (UTC), only to index time-range queries; not hashed
    -- (it is derived from created_at, which is).
    created_at_us  bigint NOT NULL,
    caller         text   NOT NULL,
    kind           text   NOT NULL,
    model_set      text   NOT NULL,
    input          text   NOT NULL,
    normalised     text   NOT NULL,
    output         text   NOT NULL,
    shap           text   NOT NULL,
    prev_hash      text   NOT NULL CHECK (length(prev_hash) = 64),
    hash           text   NOT NULL UNIQUE CHECK (length(hash) = 64)
);

-- The JSON payloads (often 5-20 kB per record) are TOASTed; lz4 compresses them several times
-- faster than the default pglz, which measurably raised append throughput (docs/deploy.md). A
-- server built without lz4 keeps pglz.
DO $$
BEGIN
    -- Dynamic, so that a server without column compression (before 14) can catch the error too.
    EXECUTE 'ALTER TABLE audit_records
        ALTER COLUMN model_set SET COMPRESSION lz4,
        ALTER COLUMN input SET COMPRESSION lz4,
        ALTER COLUMN normalised SET COMPRESSION lz4,
        ALTER COLUMN output SET COMPRESSION lz4,
        ALTER COLUMN shap SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_object OR syntax_error THEN
    RAISE NOTICE 'lz4 compression unavailable; audit payloads use pglz';
END
$$;

CREATE INDEX audit_records_created_at_us ON audit_records (created_at_us, seq);
CREATE INDEX audit_records_kind ON audit_records (kind, seq);

-- The newest link, one row. Appends lock it, read it, insert after it and move it in the same
-- transaction. It is not the source of truth (verification reads audit_records), but the next
-- append links to it: deleting the newest records therefore also breaks the next link.
CREATE TABLE audit_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint  NOT NULL CHECK (seq >= 0),
    hash       text    NOT NULL CHECK (length(hash) = 64)
);

INSERT INTO audit_chain_head (singleton, seq, hash)
VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: UPDATE, DELETE and TRUNCATE abort. Tampering therefore needs a deliberate schema
-- change (disabling or dropping the triggers), which `periop audit verify` then detects through
-- the hash chain, and truncation of the newest records through a checkpoint.
CREATE FUNCTION periop_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_records is append-only: % is not allowed', TG_OP;
END
$$;

CREATE TRIGGER audit_records_no_update_or_delete
BEFORE UPDATE OR DELETE ON audit_records
FOR EACH ROW EXECUTE FUNCTION periop_audit_refuse_change();

CREATE TRIGGER audit_records_no_truncate
BEFORE TRUNCATE ON audit_records
FOR EACH STATEMENT EXECUTE FUNCTION periop_audit_refuse_change();
