//! How PostgreSQL and pool failures map to [`AuditError`]: what a retry can fix (the server is
//! down, restarting, unreachable, out of connections, read-only after a failover, a lock or
//! statement timed out) is `Unavailable`, so the HTTP layer answers 503 with Retry-After; a schema
//! that is not what this build expects is `Corrupt`; the rest is `Backend`. Messages name the
//! database as `user@host:port/db`, never by its URL (which may hold a password); tokio-postgres's
//! own messages name neither.

use std::error::Error as _;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::AuditError;

/// SQLSTATE classes a retry can fix: 08 connection exception, 40 transaction rollback
/// (serialisation failure, deadlock), 53 insufficient resources, 55 object not in prerequisite
/// state (lock not available), 57 operator intervention (admin shutdown, crash shutdown, cannot
/// connect now, statement_timeout), 58 system error (I/O).
const RETRYABLE_CLASSES: [&str; 6] = ["08", "40", "53", "55", "57", "58"];

/// Maps a client error during `what` on `target`.
pub(super) fn classify(what: &str, target: &str, e: tokio_postgres::Error) -> AuditError {
    let message = format!("{what} {target}");
    let Some(db) = e.as_db_error() else {
        return client_side(message, e);
    };
    let code = db.code();
    if RETRYABLE_CLASSES.iter().any(|class| code.code().starts_with(class))
        // A primary that became a standby (failover in progress).
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        return AuditError::Unavailable {
            message,
            source: Box::new(e),
        };
    }
    if [
        SqlState::UNDEFINED_TABLE,
        SqlState::UNDEFINED_COLUMN,
        SqlState::UNDEFINED_FUNCTION,
        SqlState::DATATYPE_MISMATCH,
        SqlState::DATA_CORRUPTED,
    ]
    .contains(code)
    {
        return AuditError::Corrupt(format!("{message}: {db}"));
    }
    AuditError::Backend {
        message,
        source: Box::new(e),
    }
}

/// Errors the client raised itself. tokio-postgres keeps their kind private; its `Display` and
/// source tell them apart: lost, refused or timed-out connections are `Unavailable`, rows or
/// columns not of the expected shape (the schema was altered) are `Corrupt`.
fn client_side(message: String, e: tokio_postgres::Error) -> AuditError {
    let text = e.to_string();
    let io = e
        .source()
        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
    if e.is_closed()
        || io
        || text.starts_with("error connecting")
        || text.starts_with("timeout")
        || text.starts_with("error communicating")
    {
        return AuditError::Unavailable {
            message,
            source: Box::new(e),
        };
    }
    if text.starts_with("error deserializing")
        || text.starts_with("invalid column")
        || text.starts_with("query returned an unexpected number")
    {
        return AuditError::Corrupt(format!("{message}: {text} (the schema was altered?)"));
    }
    AuditError::Backend {
        message,
        source: Box::new(e),
    }
}

/// Maps a failure to get a pooled connection (server down, pool exhausted past the timeout).
pub(super) fn pool(what: &str, target: &str, e: PoolError) -> AuditError {
    match e {
        PoolError::Backend(e) => classify(what, target, e),
        other => AuditError::Unavailable {
            message: format!("{what} {target}: no database connection"),
            source: Box::new(other),
        },
    }
}

/// An operation that got no answer within its time limit (the server or the network stopped
/// answering without closing the connection). Its outcome is unknown to us: an append may or may
/// not have committed, and was not acknowledged.
pub(super) fn timed_out(what: &str, target: &str, limit: std::time::Duration) -> AuditError {
    AuditError::Unavailable {
        message: format!("{what} {target}"),
        source: format!("no answer within {} ms", limit.as_millis()).into(),
    }
}

/// A background task that ended without an answer (it panicked): reported, never a success.
pub(super) fn task_lost(what: &str, target: &str) -> AuditError {
    AuditError::Backend {
        message: format!("{what} {target}"),
        source: "the database task ended without an answer".into(),
    }
}
