//! Versioned schema migrations of the PostgreSQL audit store (`schemas/db/postgres/NNNN_*.sql`),
//! applied in order inside one transaction under a transaction-scoped advisory lock, so replicas
//! starting together never run them twice. Each applied migration is recorded with its SHA-256 in
//! `periop_schema_migrations`; a recorded migration whose text differs from this build's is
//! refused (someone edited a released migration).

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::errors::classify;
use super::AuditError;

/// Embedded migrations; the index + 1 is the version.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../schemas/db/postgres/0001_audit.sql"),
    include_str!("../../../schemas/db/postgres/0002_search_index.sql"),
    include_str!("../../../schemas/db/postgres/0003_quality_index.sql"),
];

/// Advisory-lock key of migrations (`"periopmg"` as a big-endian i64).
const MIGRATION_LOCK: i64 = 0x7065_7269_6f70_6d67;

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS periop_schema_migrations (\
     version integer PRIMARY KEY, \
     sha256 text NOT NULL, \
     applied_at timestamptz NOT NULL DEFAULT now())";

/// The schema version this build writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// Version before.
    pub from: usize,
    /// Version after (this build's latest).
    pub to: usize,
}

fn sha256(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

fn corrupt(target: &str, problem: impl std::fmt::Display) -> AuditError {
    AuditError::Corrupt(format!("{target}: {problem}"))
}

/// Applies pending migrations.
///
/// # Errors
/// `Unavailable` when the database does not answer; `Corrupt` for a database whose schema is
/// newer, edited, or not a periop audit store.
pub(super) async fn migrate(
    client: &mut Client,
    target: &str,
    lock_timeout: std::time::Duration,
) -> Result<Migrated, AuditError> {
    // Up to date: no DDL and no lock, so a role without CREATE rights can start replicas.
    if has_table(client, "periop_schema_migrations", target).await?
        && check_applied(client, target).await? == MIGRATIONS.len()
    {
        return Ok(Migrated {
            from: MIGRATIONS.len(),
            to: MIGRATIONS.len(),
        });
    }
    let ctx = |e| classify("migrating", target, e);
    let tx = client.transaction().await.map_err(ctx)?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        lock_timeout.as_millis()
    ))
    .await
    .map_err(ctx)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(ctx)?;
    let fresh = !has_table(&tx, "periop_schema_migrations", target).await?;
    if fresh && has_table(&tx, "audit_records", target).await? {
        return Err(corrupt(
            target,
            "has an audit_records table but no periop schema version (not a periop audit store)",
        ));
    }
    tx.batch_execute(CREATE_MIGRATIONS_TABLE)
        .await
        .map_err(ctx)?;
    let from = check_applied(&tx, target).await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.batch_execute(sql).await.map_err(ctx)?;
        let version = i32::try_from(i + 1).map_err(|_| corrupt(target, "migration number"))?;
        tx.execute(
            "INSERT INTO periop_schema_migrations (version, sha256) VALUES ($1, $2)",
            &[&version, &sha256(sql)],
        )
        .await
        .map_err(ctx)?;
    }
    tx.commit().await.map_err(ctx)?;
    Ok(Migrated {
        from,
        to: MIGRATIONS.len(),
    })
}

/// The applied schema version, checked without changing anything (0: no periop schema yet).
///
/// # Errors
/// `Corrupt` when the database has a newer schema or an edited migration.
pub(super) async fn current(client: &Client, target: &str) -> Result<usize, AuditError> {
    if !has_table(client, "periop_schema_migrations", target).await? {
        return Ok(0);
    }
    check_applied(client, target).await
}

/// Reads the applied migrations, checks each against this build's text, returns the version.
async fn check_applied(
    client: &impl tokio_postgres::GenericClient,
    target: &str,
) -> Result<usize, AuditError> {
    let rows = client
        .query(
            "SELECT version, sha256 FROM periop_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(|e| classify("reading the schema version of", target, e))?;
    let unreadable = |e| {
        corrupt(
            target,
            format!("periop_schema_migrations is unreadable: {e}"),
        )
    };
    for (i, row) in rows.iter().enumerate() {
        let version: i32 = row.try_get(0).map_err(unreadable)?;
        let recorded: String = row.try_get(1).map_err(unreadable)?;
        let expected_version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if version != expected_version {
            return Err(corrupt(
                target,
                format!("schema migrations are not contiguous: {version} where {expected_version} was expected"),
            ));
        }
        let Some(sql) = MIGRATIONS.get(i) else {
            return Err(corrupt(
                target,
                format!(
                    "schema version {} is newer than this periop supports ({})",
                    rows.len(),
                    MIGRATIONS.len()
                ),
            ));
        };
        if recorded != sha256(sql) {
            return Err(corrupt(
                target,
                format!("schema migration {version} differs from the one this periop ships (sha256 {recorded})"),
            ));
        }
    }
    Ok(rows.len())
}

async fn has_table(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
    target: &str,
) -> Result<bool, AuditError> {
    let row = client
        // A catalog query under the statement's snapshot, not `to_regclass`: its name cache can
        // keep a "no such table" from before another replica's migration committed.
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() AND tablename = $1)",
            &[&table],
        )
        .await
        .map_err(|e| classify("inspecting", target, e))?;
    row.try_get(0)
        .map_err(|e| classify("inspecting", target, e))
}
