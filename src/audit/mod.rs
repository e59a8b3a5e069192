//! Append-only, tamper-evident audit store: one record per acknowledged answer, linked in a
//! SHA-256 hash chain (`design.md`, "Audit is append-only and tamper-evident").
//!
//! The [`AuditStore`] trait is what callers (the HTTP layer, `periop audit verify`) use;
//! [`sqlite::SqliteAuditStore`] is the default backend (one process, one file) and
//! [`postgres::PostgresAuditStore`] the one several replicas share; [`location`] picks one from the
//! `audit_store` setting. The chain encoding ([`chain_hash`]) and the verification logic
//! ([`ChainVerifier`]) live here so every backend produces and checks identical hashes.
//!
//! # Chain encoding (version 1)
//! `hash = lower-hex(SHA-256(M))` where `M` is the concatenation of
//! 1. the 16 bytes `b"periop-audit-v1\0"` (domain separation and encoding version);
//! 2. `prev_hash` as a field (below): the previous record's `hash`, or 64 `'0'` for the first;
//! 3. `seq` as 8 bytes, big-endian two's complement;
//! 4. the ten record fields, in this order: `assessment_id`, `request_id`, `created_at`,
//!    `caller`, `kind`, `model_set`, `input`, `normalised`, `output`, `shap`.
//!
//! Each field is its byte length as an 8-byte big-endian unsigned integer followed by its exact
//! stored UTF-8 bytes. Length prefixes make the encoding unambiguous (no separator can be forged
//! by content), and hashing the stored text rather than a re-serialisation means the hash covers
//! exactly the bytes that are returned by [`AuditStore::get`].
//!
//! Limit: a chain alone cannot reveal truncation of its newest records. A signed checkpoint of the
//! head ([`checkpoint`], `periop audit checkpoint`), kept outside the store, makes it detectable.

pub mod checkpoint;
pub mod copy;
mod group_commit;
pub mod index;
pub mod location;
pub mod postgres;
pub mod sqlite;
mod sqlite_index;
mod verify;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use index::{
    index_terms, IndexTerms, Indexed, IndexedOutcome, IndexedPrediction, QualityIndexQuery,
    QualityIndexRow, QualityIndexRows, QualityPrediction, ReindexReport, SearchHit, SearchQuery,
    KIND_OUTCOME,
};
pub use sqlite::SqliteAuditStore;
pub use verify::{BrokenLink, ChainVerifier, LinkProblem, RawLink, VerifyReport};

/// `prev_hash` of the first record of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain-separation prefix of the version-1 chain encoding.
const CHAIN_DOMAIN_V1: &[u8; 16] = b"periop-audit-v1\0";

/// What the assessment layer hands to the store.
///
/// The JSON fields (`model_set`, `input`, `normalised`, `output`, `shap`) hold JSON *text*, not
/// parsed values: the store keeps those bytes exactly, so `output` must be the very response body
/// that was (or is about to be) sent, and `input` the request snapshot as received. The store
/// checks that each is well-formed JSON but never re-serialises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Unique id of the answer (`GET /v1/assessments/{id}`); at most one record per id.
    pub assessment_id: String,
    /// Request id of the HTTP request (correlates with the logs).
    pub request_id: String,
    /// RFC 3339 timestamp of the answer, as shown to the caller.
    pub created_at: String,
    /// API key id (never the key itself); `"anonymous"` in development mode.
    pub caller: String,
    /// Record kind: `"assessment"` today; later e.g. `"rules_activation"`.
    pub kind: String,
    /// JSON text: model set id, version, per-model versions and hashes.
    pub model_set: String,
    /// JSON text: the input snapshot as received.
    pub input: String,
    /// JSON text: the normalised feature vector(s).
    pub normalised: String,
    /// JSON text: the exact response body.
    pub output: String,
    /// JSON text: full SHAP vectors (`"null"` or `"{}"` when explanations were not requested).
    pub shap: String,
}

/// Names of the ten hashed fields (and their columns in every backend), in chain order.
pub const FIELD_NAMES: [&str; 10] = [
    "assessment_id",
    "request_id",
    "created_at",
    "caller",
    "kind",
    "model_set",
    "input",
    "normalised",
    "output",
    "shap",
];

/// Record kind of an assessment answer.
pub const KIND_ASSESSMENT: &str = "assessment";

impl AuditRecord {
    /// The ten hashed fields in chain order (see the module docs).
    fn fields(&self) -> [&[u8]; 10] {
        [
            self.assessment_id.as_bytes(),
            self.request_id.as_bytes(),
            self.created_at.as_bytes(),
            self.caller.as_bytes(),
            self.kind.as_bytes(),
            self.model_set.as_bytes(),
            self.input.as_bytes(),
            self.normalised.as_bytes(),
            self.output.as_bytes(),
            self.shap.as_bytes(),
        ]
    }

    fn named_fields(&self) -> [(&'static str, &[u8]); 10] {
        let fields = self.fields();
        std::array::from_fn(|i| (FIELD_NAMES[i], fields[i]))
    }

    /// Checks what the store relies on: non-empty ids, an RFC 3339 `created_at`, and well-formed
    /// JSON text in the JSON fields. Returns `created_at` in UTC for time-range indexing.
    ///
    /// # Errors
    /// [`AuditError::InvalidRecord`] naming the first bad field.
    pub fn validate(&self) -> Result<DateTime<Utc>, AuditError> {
        for (name, value) in [
            ("assessment_id", &self.assessment_id),
            ("request_id", &self.request_id),
            ("caller", &self.caller),
            ("kind", &self.kind),
        ] {
            if value.is_empty() {
                return Err(AuditError::InvalidRecord(format!("{name} is empty")));
            }
        }
        for (name, bytes) in self.named_fields() {
            // PostgreSQL text cannot hold NUL; no valid id or JSON text contains a raw one.
            if bytes.contains(&0) {
                return Err(AuditError::InvalidRecord(format!(
                    "{name} contains a NUL byte"
                )));
            }
        }
        let created = DateTime::parse_from_rfc3339(&self.created_at).map_err(|e| {
            AuditError::InvalidRecord(format!(
                "created_at {:?} is not RFC 3339: {e}",
                self.created_at
            ))
        })?;
        for (name, text) in [
            ("model_set", &self.model_set),
            ("input", &self.input),
            ("normalised", &self.normalised),
            ("output", &self.output),
            ("shap", &self.shap),
        ] {
            // IgnoredAny checks syntax without building a Value: cheap even for large SHAP data.
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
                AuditError::InvalidRecord(format!("{name} is not well-formed JSON: {e}"))
            })?;
        }
        // The index rows are written with the record: a record the index cannot read is
        // refused here, before any transaction (`index`).
        index::index_terms(self)?;
        Ok(created.with_timezone(&Utc))
    }
}

/// A record as stored: its chain position and links plus the record itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the chain, starting at 1 with no gaps.
    pub seq: i64,
    /// `hash` of the record at `seq - 1`, or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// [`chain_hash`] of this record.
    pub hash: String,
    /// The record exactly as appended.
    pub record: AuditRecord,
}

/// The newest link of a chain; anchoring it elsewhere makes truncation detectable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the newest record.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// Selection for [`AuditStore::list`] (e.g. back-testing over a period), in `seq` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only records with `created_at >= since`.
    pub since: Option<DateTime<Utc>>,
    /// Only records with `created_at < until`.
    pub until: Option<DateTime<Utc>>,
    /// Only records with `seq > after_seq` (keyset pagination: pass the last seq seen).
    pub after_seq: i64,
    /// At most this many records.
    pub limit: u32,
    /// Only records of this kind (e.g. `"assessment"`).
    pub kind: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            after_seq: 0,
            limit: 1000,
            kind: None,
        }
    }
}

/// Failures of an audit store. The HTTP layer maps `Unavailable` to 503, `Duplicate` to 409 and
/// the rest to 500; none of them is the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store cannot be opened, locked or written right now (missing file, permissions, busy
    /// beyond the timeout, disk full, I/O error).
    #[error("audit store unavailable: {message}")]
    Unavailable {
        /// What was attempted, with the path.
        message: String,
        /// Underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record with this assessment id already exists.
    #[error("audit record for assessment {0} already exists")]
    Duplicate(String),
    /// The record handed to `append` is malformed (a bug in the caller, not user input).
    #[error("invalid audit record: {0}")]
    InvalidRecord(String),
    /// The store's location (the `audit_store` setting, `--store`) is unusable as written.
    #[error("{0}")]
    Setting(String),
    /// The store was opened read-only.
    #[error("audit store is read-only")]
    ReadOnly,
    /// The search index does not cover the records before `from_seq` (a store created before
    /// the index existed): `periop audit reindex` backfills it.
    #[error("the audit search index covers only records from seq {from_seq}: run `periop audit reindex` to index the older ones")]
    IndexIncomplete {
        /// The first seq the index covers.
        from_seq: i64,
    },
    /// The store's content or schema is not what this version of periop expects.
    #[error("audit store corrupt or incompatible: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("audit store error: {message}")]
    Backend {
        /// What was attempted.
        message: String,
        /// Underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// An append-only, hash-chained store of audit records. Synchronous: async callers run it on a
/// blocking thread pool.
pub trait AuditStore: Send + Sync {
    /// Appends a record at the end of the chain and returns it as stored. Returns only after the
    /// record is durable (committed), so an answer may be sent once this succeeds.
    ///
    /// # Errors
    /// [`AuditError::Duplicate`] if the assessment id exists; [`AuditError::InvalidRecord`] for a
    /// malformed record; [`AuditError::Unavailable`] when the store cannot be written.
    fn append(&self, record: &AuditRecord) -> Result<StoredRecord, AuditError>;

    /// Appends several records (one batch answer) in one durable transaction, in order, and
    /// returns only after it commits: one result per record (a duplicate id fails only its own
    /// record; a failed transaction fails every record, and none is stored).
    fn append_all(&self, records: &[AuditRecord]) -> Vec<Result<StoredRecord, AuditError>>;

    /// The record of one assessment, exactly as stored.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn get(&self, assessment_id: &str) -> Result<Option<StoredRecord>, AuditError>;

    /// Recomputes every link in `seq` order.
    ///
    /// # Errors
    /// When the store cannot be read (a broken chain is a successful report, not an error).
    fn verify(&self) -> Result<VerifyReport, AuditError>;

    /// Number of records.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn count(&self) -> Result<u64, AuditError>;

    /// The newest link, `None` for an empty store.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn head(&self) -> Result<Option<ChainHead>, AuditError>;

    /// Records matching `query`, in `seq` order.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, AuditError>;

    /// Indexed assessments matching `query`, newest first (`seq` descending), each with its
    /// predictions in the answer's order ([`index`]).
    ///
    /// # Errors
    /// [`AuditError::IndexIncomplete`] when the index does not cover every record yet; when the
    /// store cannot be read.
    fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, AuditError>;

    /// Indexed assessments with this patient reference hash and surgery date, in `seq` order
    /// (linking recorded outcomes by reference).
    ///
    /// # Errors
    /// As [`Self::search`].
    fn by_reference(
        &self,
        patient_reference_hash: &str,
        surgery_date: &str,
    ) -> Result<Vec<SearchHit>, AuditError>;

    /// The quality join over the index: every indexed assessment of `query`'s window (and
    /// site) that predicted its outcome with status `ok`, with the current recorded value of
    /// that outcome (the highest version of the outcome records naming the assessment), in
    /// `seq` order; assessments without a recorded value are counted, not returned. Read from
    /// one snapshot.
    ///
    /// # Errors
    /// [`AuditError::IndexIncomplete`] when the index does not cover every record yet; when the
    /// store cannot be read.
    fn quality_index_rows(&self, query: &QualityIndexQuery)
        -> Result<QualityIndexRows, AuditError>;

    /// Rebuilds the search index from the records, in one transaction that holds the append
    /// lock (appends wait meanwhile), and marks it complete.
    ///
    /// # Errors
    /// `ReadOnly` for a read-only store; `InvalidRecord` naming a stored assessment the index
    /// cannot read; when the store cannot be written.
    fn reindex(&self) -> Result<ReindexReport, AuditError>;
}

/// Hash of `record` at position `seq` after `prev_hash` (the encoding in the module docs).
pub fn chain_hash(prev_hash: &str, seq: i64, record: &AuditRecord) -> String {
    chain_hash_bytes(prev_hash.as_bytes(), seq, record.fields())
}

/// [`chain_hash`] over raw stored bytes, so verification never depends on the bytes being valid
/// UTF-8 (a tamperer could write anything).
pub fn chain_hash_bytes(prev_hash: &[u8], seq: i64, fields: [&[u8]; 10]) -> String {
    let mut h = Sha256::new();
    h.update(CHAIN_DOMAIN_V1);
    update_field(&mut h, prev_hash);
    h.update(seq.to_be_bytes());
    for field in fields {
        update_field(&mut h, field);
    }
    hex::encode(h.finalize())
}

fn update_field(h: &mut Sha256, bytes: &[u8]) {
    // usize -> u64 never truncates on supported (32/64-bit) targets.
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}
