//! Group commit: concurrent appends queue up, one caller at a time (the leader) writes everything
//! queued in one durable transaction, and every caller gets its own results. One caller's
//! records (a batch answer) are queued together, so they are always in the same transaction, in
//! order. Backend-neutral: the backend passes the function that writes one batch.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::{AuditError, AuditRecord, StoredRecord};

/// A queued record: its ticket, the record, its `created_at` in µs.
pub(super) type Pending = (u64, AuditRecord, i64);

type Outcome = Result<StoredRecord, AuditError>;

/// The queue of appends waiting for the next group commit.
#[derive(Debug, Default)]
struct Queue {
    pending: Vec<Pending>,
    results: HashMap<u64, Outcome>,
    next_ticket: u64,
    /// `true` while one caller is writing a batch.
    leader: bool,
}

/// Group-commit coordination: the queue and the condition variable waiters sleep on.
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
    done: Condvar,
}

impl GroupCommit {
    // A poisoned lock only means a writer panicked; the `Leader` guard has already answered its
    // waiters, so the queue is consistent.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        self.done
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `items` (record, created_at µs) together and returns their results, in order, once
    /// the transaction holding them has committed. `write` writes one batch in one transaction
    /// and returns one result per record.
    pub(super) fn submit(
        &self,
        items: Vec<(AuditRecord, i64)>,
        write: impl Fn(&[Pending]) -> Vec<Outcome>,
    ) -> Vec<Outcome> {
        let mut results: Vec<Option<Outcome>> = (0..items.len()).map(|_| None).collect();
        let mut queue = self.lock();
        let mut tickets = Vec::with_capacity(items.len());
        for (record, created_us) in items {
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.pending.push((ticket, record, created_us));
            tickets.push(ticket);
        }
        let mut remaining = tickets.len();
        while remaining > 0 {
            for (slot, ticket) in tickets.iter().enumerate() {
                if results[slot].is_none() {
                    if let Some(result) = queue.results.remove(ticket) {
                        results[slot] = Some(result);
                        remaining -= 1;
                    }
                }
            }
            if remaining == 0 {
                break;
            }
            if queue.leader {
                queue = self.wait(queue);
                continue;
            }
            queue.leader = true;
            let batch = std::mem::take(&mut queue.pending);
            drop(queue);
            let mut lead = Leader {
                group: self,
                tickets: batch.iter().map(|b| b.0).collect(),
                results: Vec::new(),
            };
            lead.results = write(&batch);
            drop(lead);
            queue = self.lock();
        }
        results.into_iter().map(answered).collect()
    }
}

/// A slot's result; a slot left empty is a bug, reported as an error, never as success.
pub(super) fn answered(slot: Option<Outcome>) -> Outcome {
    slot.unwrap_or_else(|| Err(AuditError::InvalidRecord("no result for the record".into())))
}

/// The leader's duty, done on drop so that even a panic while writing hands leadership back and
/// answers every waiter (with an error) instead of leaving them blocked.
struct Leader<'a> {
    group: &'a GroupCommit,
    tickets: Vec<u64>,
    results: Vec<Outcome>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut queue = self.group.lock();
        let mut results = std::mem::take(&mut self.results).into_iter();
        for &ticket in &self.tickets {
            let result = results.next().unwrap_or_else(|| {
                Err(AuditError::Unavailable {
                    message: "the audit writer failed".into(),
                    source: "audit writer failed".into(),
                })
            });
            queue.results.insert(ticket, result);
        }
        queue.leader = false;
        drop(queue);
        self.group.done.notify_all();
    }
}

/// The same failure for each of `n` records of a failed transaction, keeping its kind (so a
/// `Corrupt` store is not reported as a retryable `Unavailable`) and its cause chain.
pub(super) fn fail_all(e: AuditError, n: usize) -> Vec<Outcome> {
    let shared = std::sync::Arc::new(e);
    (0..n).map(|_| Err(copy_of(&shared))).collect()
}

fn copy_of(shared: &std::sync::Arc<AuditError>) -> AuditError {
    let cause = || Box::new(SharedCause(shared.clone()));
    match &**shared {
        AuditError::Unavailable { message, .. } => AuditError::Unavailable {
            message: message.clone(),
            source: cause(),
        },
        AuditError::Backend { message, .. } => AuditError::Backend {
            message: message.clone(),
            source: cause(),
        },
        AuditError::Duplicate(id) => AuditError::Duplicate(id.clone()),
        AuditError::InvalidRecord(m) => AuditError::InvalidRecord(m.clone()),
        AuditError::ReadOnly => AuditError::ReadOnly,
        AuditError::Setting(m) => AuditError::Setting(m.clone()),
        AuditError::Corrupt(m) => AuditError::Corrupt(m.clone()),
        AuditError::IndexIncomplete { from_seq } => AuditError::IndexIncomplete {
            from_seq: *from_seq,
        },
    }
}

/// The cause of a shared error: displays as, and chains on to, the original error's source.
#[derive(Debug)]
struct SharedCause(std::sync::Arc<AuditError>);

impl SharedCause {
    fn inner(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl std::fmt::Display for SharedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner() {
            Some(cause) => std::fmt::Display::fmt(cause, f),
            None => f.write_str("cause unknown"),
        }
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().and_then(std::error::Error::source)
    }
}
