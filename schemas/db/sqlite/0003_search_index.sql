-- periop audit store, schema version 3 (SQLite): the search index (src/audit/index.rs).
--
-- Derived from the records, never authoritative and not hashed: one row per stored assessment
-- and one per (assessment, prediction), written in the same transaction as the record, and
-- rebuilt by `periop audit reindex`. Not append-only (reindexing replaces it). No foreign keys to
-- audit_records: the index must never stand in the way of reading or examining the records.

CREATE TABLE audit_search_assessments (
    seq                      INTEGER PRIMARY KEY,
    assessment_id            TEXT    NOT NULL UNIQUE,
    created_at               TEXT    NOT NULL,
    -- created_at as Unix microseconds (UTC), for time windows.
    created_at_us            INTEGER NOT NULL,
    site                     TEXT,
    caller                   TEXT    NOT NULL,
    model_set_version        TEXT,
    rule_set_version         TEXT,
    patient_reference_hash   TEXT,
    encounter_reference_hash TEXT,
    surgery_date             TEXT
) STRICT;

CREATE INDEX audit_search_assessments_time ON audit_search_assessments (created_at_us, seq);
CREATE INDEX audit_search_assessments_site ON audit_search_assessments (site, seq);
CREATE INDEX audit_search_assessments_caller ON audit_search_assessments (caller, seq);
CREATE INDEX audit_search_assessments_reference
    ON audit_search_assessments (patient_reference_hash, surgery_date);

CREATE TABLE audit_search_predictions (
    seq            INTEGER NOT NULL,
    -- Position in the answer's `predictions`.
    position       INTEGER NOT NULL,
    outcome        TEXT    NOT NULL,
    model_version  TEXT,
    risk_band      TEXT,
    probability    REAL,
    median_ml      REAL,
    not_applicable INTEGER NOT NULL CHECK (not_applicable IN (0, 1)),
    PRIMARY KEY (seq, position)
) STRICT;

CREATE INDEX audit_search_predictions_outcome
    ON audit_search_predictions (outcome, risk_band, seq);
CREATE INDEX audit_search_predictions_model ON audit_search_predictions (model_version, seq);

-- Records with seq >= complete_from_seq are indexed. A store created with this schema is
-- complete from 1; one migrated from an earlier schema is complete only from its next record
-- until `periop audit reindex` backfills the older ones (searches refuse meanwhile).
CREATE TABLE audit_search_state (
    singleton         INTEGER PRIMARY KEY CHECK (singleton = 1),
    complete_from_seq INTEGER NOT NULL CHECK (complete_from_seq >= 1)
) STRICT;

INSERT INTO audit_search_state (singleton, complete_from_seq)
SELECT 1, coalesce(max(seq), 0) + 1 FROM audit_records;
