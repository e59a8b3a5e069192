-- periop audit store, schema version 2 (PostgreSQL): the search index (src/audit/index.rs).
--
-- Derived from the records, never authoritative and not hashed: one row per stored assessment
-- and one per (assessment, prediction), written in the same transaction as the record (under
-- the chain-head lock), and rebuilt by `periop audit reindex`. Not append-only (reindexing
-- replaces it). No foreign keys to
-- audit_records: the index must never stand in the way of reading or examining the records.

CREATE TABLE audit_search_assessments (
    seq                      bigint PRIMARY KEY,
    assessment_id            text   NOT NULL UNIQUE,
    created_at               text   NOT NULL,
    -- created_at as Unix microseconds (UTC), for time windows.
    created_at_us            bigint NOT NULL,
    site                     text,
    caller                   text   NOT NULL,
    model_set_version        text,
    rule_set_version         text,
    patient_reference_hash   text,
    encounter_reference_hash text,
    surgery_date             text
);

CREATE INDEX audit_search_assessments_time ON audit_search_assessments (created_at_us, seq);
CREATE INDEX audit_search_assessments_site ON audit_search_assessments (site, seq);
CREATE INDEX audit_search_assessments_caller ON audit_search_assessments (caller, seq);
CREATE INDEX audit_search_assessments_reference
    ON audit_search_assessments (patient_reference_hash, surgery_date);

CREATE TABLE audit_search_predictions (
    seq            bigint  NOT NULL,
    -- Position in the answer's `predictions`.
    position       integer NOT NULL,
    outcome        text    NOT NULL,
    model_version  text,
    risk_band      text,
    probability    double precision,
    median_ml      double precision,
    not_applicable boolean NOT NULL,
    PRIMARY KEY (seq, position)
);

CREATE INDEX audit_search_predictions_outcome
    ON audit_search_predictions (outcome, risk_band, seq);
CREATE INDEX audit_search_predictions_model ON audit_search_predictions (model_version, seq);

-- Records with seq >= complete_from_seq are indexed. A database created with this schema is
-- complete from 1; one migrated from version 1 is complete only from its next record until
-- `periop audit reindex` backfills the older ones (searches refuse meanwhile).
CREATE TABLE audit_search_state (
    singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    complete_from_seq bigint  NOT NULL CHECK (complete_from_seq >= 1)
);

INSERT INTO audit_search_state (singleton, complete_from_seq)
SELECT true, coalesce(max(seq), 0) + 1 FROM audit_records;
