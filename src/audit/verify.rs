//! Verification of a stored chain, shared by every backend: what a broken link is, the report,
//! and the streaming verifier that backends feed their rows to in `seq` order.

use std::fmt;

use super::{chain_hash_bytes, ChainHead, FIELD_NAMES, GENESIS_HASH};

/// What is wrong with a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The record's `prev_hash` is not the previous record's `hash` (a record before it was
    /// removed, inserted or reordered).
    PrevHashMismatch {
        /// `prev_hash` stored in this record.
        stored_prev_hash: String,
        /// `hash` of the previous record in `seq` order (or [`GENESIS_HASH`]).
        previous_hash: String,
    },
    /// Recomputing the hash over the stored content gives another value (the content, its
    /// `seq`, or its `prev_hash` was altered).
    HashMismatch {
        /// `hash` stored in this record.
        stored: String,
        /// Hash recomputed from the stored content.
        recomputed: String,
    },
    /// `seq` does not follow the previous one (the links themselves were consistent).
    SeqGap {
        /// Previous seq + 1.
        expected: i64,
        /// Stored seq.
        found: i64,
    },
    /// A column could not be read as text (type altered outside the store).
    Unreadable {
        /// Column name.
        column: String,
    },
}

/// The first broken link found by [`AuditStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// Sequence number of the broken record.
    pub seq: i64,
    /// Its assessment id (lossy UTF-8 if the stored bytes are not valid UTF-8).
    pub assessment_id: String,
    /// What mismatched.
    pub problem: LinkProblem,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seq {} (assessment_id {}): ",
            self.seq, self.assessment_id
        )?;
        match &self.problem {
            LinkProblem::PrevHashMismatch {
                stored_prev_hash,
                previous_hash,
            } => write!(
                f,
                "prev_hash {stored_prev_hash} does not match the previous record's hash \
                 {previous_hash} (a record before it was removed, inserted or reordered)"
            ),
            LinkProblem::HashMismatch { stored, recomputed } => write!(
                f,
                "stored hash {stored} does not match the hash recomputed from its content \
                 {recomputed} (the record was altered)"
            ),
            LinkProblem::SeqGap { expected, found } => {
                write!(
                    f,
                    "seq {found} follows seq {} (expected {expected})",
                    expected - 1
                )
            }
            LinkProblem::Unreadable { column } => {
                write!(f, "column {column} is not text (the record was altered)")
            }
        }
    }
}

/// Result of recomputing the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records examined (all of them: verification continues past a broken link).
    pub records_checked: u64,
    /// Number of broken links. Each link is checked against its stored neighbour, so one
    /// altered or removed record counts once.
    pub broken_links: u64,
    /// The first broken link in `seq` order.
    pub first_broken: Option<BrokenLink>,
    /// The newest record, if any.
    pub head: Option<ChainHead>,
}

impl VerifyReport {
    /// True when every link verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// One stored row as raw bytes, as a backend reads it for verification.
#[derive(Debug, Clone, Copy)]
pub struct RawLink<'a> {
    /// Stored seq.
    pub seq: i64,
    /// Stored `prev_hash`.
    pub prev_hash: &'a [u8],
    /// Stored `hash`.
    pub hash: &'a [u8],
    /// The ten hashed fields in chain order.
    pub fields: [&'a [u8]; 10],
}

/// Streaming chain verification shared by all backends: feed rows in `seq` order to
/// [`ChainVerifier::check`] (or [`ChainVerifier::unreadable`]), then [`ChainVerifier::finish`].
#[derive(Debug)]
pub struct ChainVerifier {
    report: VerifyReport,
    previous_hash: Vec<u8>,
    previous_seq: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting the first record of a chain.
    pub fn new() -> Self {
        Self {
            report: VerifyReport::default(),
            previous_hash: GENESIS_HASH.as_bytes().to_vec(),
            previous_seq: 0,
        }
    }

    /// Checks one row against the previous one and against its own content.
    pub fn check(&mut self, row: &RawLink<'_>) {
        let problem = if row.prev_hash != self.previous_hash.as_slice() {
            Some(LinkProblem::PrevHashMismatch {
                stored_prev_hash: lossy(row.prev_hash),
                previous_hash: lossy(&self.previous_hash),
            })
        } else if row.seq != self.previous_seq + 1 {
            Some(LinkProblem::SeqGap {
                expected: self.previous_seq + 1,
                found: row.seq,
            })
        } else {
            let recomputed = chain_hash_bytes(row.prev_hash, row.seq, row.fields);
            (recomputed.as_bytes() != row.hash).then(|| LinkProblem::HashMismatch {
                stored: lossy(row.hash),
                recomputed,
            })
        };
        self.record(row.seq, row.fields[0], problem);
        // The next link is checked against what is stored here, so one bad record is one break.
        self.previous_hash = row.hash.to_vec();
        self.previous_seq = row.seq;
        self.report.head = Some(ChainHead {
            seq: row.seq,
            hash: lossy(row.hash),
        });
    }

    /// Checks one row as a backend read it: `columns` are `prev_hash`, `hash` and the ten fields
    /// in chain order, `None` for a column that could not be read as text or bytes (reported as
    /// that column's broken link, not as an error).
    pub fn check_columns(&mut self, seq: i64, columns: [Option<&[u8]>; 12]) {
        let unreadable = columns.iter().position(Option::is_none);
        let cols: [&[u8]; 12] = columns.map(|c| c.unwrap_or_default());
        let [prev_hash, hash, fields @ ..] = cols;
        match unreadable {
            Some(i) => {
                let column = match i {
                    0 => "prev_hash",
                    1 => "hash",
                    n => FIELD_NAMES[n - 2],
                };
                self.unreadable(seq, fields[0], column, hash);
            }
            None => self.check(&RawLink {
                seq,
                prev_hash,
                hash,
                fields,
            }),
        }
    }

    /// Records a row whose columns could not be read as text or bytes.
    pub fn unreadable(&mut self, seq: i64, assessment_id: &[u8], column: &str, hash: &[u8]) {
        self.record(
            seq,
            assessment_id,
            Some(LinkProblem::Unreadable {
                column: column.to_owned(),
            }),
        );
        self.previous_hash = hash.to_vec();
        self.previous_seq = seq;
        self.report.head = Some(ChainHead {
            seq,
            hash: lossy(hash),
        });
    }

    fn record(&mut self, seq: i64, assessment_id: &[u8], problem: Option<LinkProblem>) {
        self.report.records_checked += 1;
        if let Some(problem) = problem {
            self.report.broken_links += 1;
            if self.report.first_broken.is_none() {
                self.report.first_broken = Some(BrokenLink {
                    seq,
                    assessment_id: lossy(assessment_id),
                    problem,
                });
            }
        }
    }

    /// The report over all rows fed so far.
    pub fn finish(self) -> VerifyReport {
        self.report
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
