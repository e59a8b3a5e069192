//! How PostgreSQL and pool failures map to [`AuditError`]: what a retry can fix (the server is
//! down, restarting, out of connections, a lock or statement timed out) is `Unavailable`, so the
//! HTTP layer answers 503 with Retry-After; damaged or foreign schemas are `Corrupt`; the rest is
//! `Backend`. Messages name the database by [`super::Target`], never by its URL (which may hold a
//! password).

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::AuditError;

/// SQLSTATE classes a retry can fix: 08 connection exception, 40 transaction rollback
/// (serialisation failure, deadlock), 53 insufficient resources, 55 object not in prerequisite
/// state (lock not available), 57 operator intervention (admin shutdown, crash shutdown, cannot
/// connect now, query cancelled by statement_timeout), 58 system error (I/O).
const RETRYABLE_CLASSES: [&str; 6] = ["08", "40", "53", "55", "57", "58"];

/// Maps a client error during `what` on `target`.
pub(super) fn classify(what: &str, target: &str, e: tokio_postgres::Error) -> AuditError {
    let message = format!("{what} {target}");
    let Some(db) = e.as_db_error() else {
        // Not an error the server reported: the connection was refused, closed or timed out.
        return AuditError::Unavailable {
            message,
            source: Box::new(e),
        };
    };
    let code = db.code().code();
    if RETRYABLE_CLASSES
        .iter()
        .any(|class| code.starts_with(class))
    {
        return AuditError::Unavailable {
            message,
            source: Box::new(e),
        };
    }
    if *db.code() == SqlState::UNDEFINED_TABLE
        || *db.code() == SqlState::UNDEFINED_COLUMN
        || *db.code() == SqlState::DATA_CORRUPTED
    {
        return AuditError::Corrupt(format!("{message}: {db}"));
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

/// A background task that ended without an answer (it panicked): reported, never a success.
pub(super) fn task_lost(what: &str, target: &str) -> AuditError {
    AuditError::Backend {
        message: format!("{what} {target}"),
        source: "the database task ended without an answer".into(),
    }
}
