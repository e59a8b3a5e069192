-- periop audit store, schema version 4 (SQLite): what the quality join needs in the search index
-- (src/audit/index.rs, `service::quality_rows`).
--
-- Per assessment the grouping fields (sex, age band, procedure, from the normalised input) and
-- the model set's id; per prediction its status and the 80 % interval of blood loss; and one row
-- per recorded outcome (records of kind `outcome`), so the current value of an (assessment,
-- outcome) is the row with the highest version. Derived like the rest of the index (not hashed,
-- rebuilt by `periop audit reindex`, no foreign keys).
--
-- The rows already indexed lack the new columns and the recorded outcomes were never indexed, so
-- a store migrated from version 3 is complete only from its next record until
-- `periop audit reindex` rebuilds it (searches and the quality join refuse meanwhile). A store
-- created with this schema is complete from 1.

ALTER TABLE audit_search_assessments ADD COLUMN model_set_id TEXT;
ALTER TABLE audit_search_assessments ADD COLUMN sex TEXT;
-- `metrics::age_band` of the normalised age (`unknown` when missing); NULL only in rows written
-- before this version.
ALTER TABLE audit_search_assessments ADD COLUMN age_band TEXT;
ALTER TABLE audit_search_assessments ADD COLUMN procedure TEXT;

-- As answered: `ok`, `not_applicable`.
ALTER TABLE audit_search_predictions ADD COLUMN status TEXT;
ALTER TABLE audit_search_predictions ADD COLUMN p10_ml REAL;
ALTER TABLE audit_search_predictions ADD COLUMN p90_ml REAL;

CREATE TABLE audit_search_outcomes (
    -- The outcome record's position in the chain.
    seq           INTEGER PRIMARY KEY,
    -- The assessment the outcome answers (not the outcome record's own id).
    assessment_id TEXT    NOT NULL,
    outcome       TEXT    NOT NULL,
    -- 0 or 1, or mL.
    value         REAL    NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 0)
) STRICT;

CREATE INDEX audit_search_outcomes_current
    ON audit_search_outcomes (assessment_id, outcome, version);

UPDATE audit_search_state SET complete_from_seq = (SELECT coalesce(max(seq), 0) + 1 FROM audit_records)
WHERE singleton = 1;
