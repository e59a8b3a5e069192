//! Moving a store to another backend (`periop audit copy --from sqlite:… --to postgres://…`)
//! without breaking the chain. The hash of a record depends only on its content, its seq and the
//! previous hash, so appending the source's records in order to an empty target reproduces every
//! seq and hash exactly; each one is compared with the source as it lands. The source must verify
//! first (copying a broken chain would re-hash, and so hide, the tampering), the target must be
//! empty, and the copy stops at the head the source had when it was verified (stop the writers
//! first: later records are not copied).

use super::{AuditError, AuditStore, BrokenLink, ListQuery};

/// Records per page read from the source and per transaction written to the target.
const PAGE: u32 = 1000;

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Records copied.
    pub records: u64,
    /// The head both stores now end at (`None` for an empty source).
    pub head: Option<super::ChainHead>,
}

/// Why a copy was refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source chain does not verify.
    #[error("the source chain is broken ({0}); nothing was copied")]
    SourceBroken(Box<BrokenLink>),
    /// The target holds records already.
    #[error("the target store is not empty ({0} records); copy only into a new store")]
    TargetNotEmpty(u64),
    /// A record landed with another seq or hash than in the source (the target chain differs).
    #[error("record {assessment_id} landed at seq {target_seq} with hash {target_hash}, the source has seq {source_seq} hash {source_hash}")]
    Diverged {
        assessment_id: String,
        source_seq: i64,
        source_hash: String,
        target_seq: i64,
        target_hash: String,
    },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] AuditError),
}

/// Copies every record of `from` into the empty `to`; `progress` gets the running count.
///
/// # Errors
/// See [`CopyError`]. A failure part-way leaves the records copied so far in the target (each
/// page is one transaction); rerun into a new, empty target.
pub fn copy(
    from: &dyn AuditStore,
    to: &dyn AuditStore,
    mut progress: impl FnMut(u64),
) -> Result<CopyReport, CopyError> {
    let verified = from.verify()?;
    if let Some(link) = verified.first_broken {
        return Err(CopyError::SourceBroken(Box::new(link)));
    }
    let existing = to.count()?;
    if existing > 0 {
        return Err(CopyError::TargetNotEmpty(existing));
    }
    let last_seq = verified.head.as_ref().map_or(0, |h| h.seq);
    let mut query = ListQuery {
        limit: PAGE,
        ..ListQuery::default()
    };
    let mut copied = 0;
    while query.after_seq < last_seq {
        let page: Vec<_> = from
            .list(&query)?
            .into_iter()
            .filter(|r| r.seq <= last_seq)
            .collect();
        let Some(last) = page.last() else { break };
        query.after_seq = last.seq;
        let records: Vec<_> = page.iter().map(|s| s.record.clone()).collect();
        for (source, landed) in page.iter().zip(to.append_all(&records)) {
            let landed = landed?;
            if landed.seq != source.seq || landed.hash != source.hash {
                return Err(CopyError::Diverged {
                    assessment_id: source.record.assessment_id.clone(),
                    source_seq: source.seq,
                    source_hash: source.hash.clone(),
                    target_seq: landed.seq,
                    target_hash: landed.hash,
                });
            }
        }
        copied += page.len() as u64;
        progress(copied);
    }
    Ok(CopyReport {
        records: copied,
        head: to.head()?,
    })
}
