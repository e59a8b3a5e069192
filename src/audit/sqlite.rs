//! SQLite backend of [`AuditStore`]: one database file (default `./periop-audit.db`).
//!
//! Durability and ordering: WAL journal with `synchronous=FULL`, so a committed append survives
//! power loss; appends are group-committed: concurrent callers queue their records, one of them
//! writes the whole queue in one `BEGIN IMMEDIATE` transaction (read the chain head, insert each
//! record linked to the previous one, commit once), and each caller returns only after the commit
//! that holds its record. Neither threads (also serialised by a mutex) nor other processes sharing
//! the file can fork the chain; one fsync serves many answers. Append-only is enforced in the database by triggers that abort
//! UPDATE and DELETE (`schemas/db/sqlite/0001_audit.sql`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::group_commit::{answered, fail_all, GroupCommit};
use super::sqlite_index::{self, IndexWriteError, SearchError};
use super::{
    chain_hash, AuditError, AuditRecord, AuditStore, ChainHead, ChainVerifier, ListQuery,
    QualityIndexQuery, QualityIndexRows, ReindexReport, SearchHit, SearchQuery, StoredRecord,
    VerifyReport, GENESIS_HASH,
};

/// Embedded migrations, applied in order; the index + 1 is the schema version recorded in
/// `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schemas/db/sqlite/0001_audit.sql"),
    include_str!("../../schemas/db/sqlite/0002_kind_index.sql"),
    include_str!("../../schemas/db/sqlite/0003_search_index.sql"),
    include_str!("../../schemas/db/sqlite/0004_quality_index.sql"),
];

/// The schema version this build writes (a read-only store may be older: its index is then
/// reported incomplete, `sqlite_index`).
pub(super) const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// How long a writer waits for another process's lock before reporting `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Columns in the order [`row_to_stored`] and [`verify_row`] read them.
const COLUMNS: &str = "seq, prev_hash, hash, assessment_id, request_id, created_at, caller, kind, \
                       model_set, input, normalised, output, shap";

/// Audit store in one SQLite file. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct SqliteAuditStore {
    path: PathBuf,
    /// `None` when opened read-only.
    writer: Option<Mutex<Connection>>,
    /// Separate read connection: in WAL mode reads see the last commit without waiting for a
    /// writer, so `GET` does not queue behind appends.
    reader: Mutex<Connection>,
    /// Group-commit queue of concurrent appends.
    group: GroupCommit,
}

impl SqliteAuditStore {
    /// Opens (creating if needed) the store at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`AuditError::Unavailable`] if the file cannot be opened or locked;
    /// [`AuditError::Corrupt`] if it is not a compatible audit store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path).map_err(|e| unavailable("opening", &path, e))?;
        configure(&writer, &path)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| classify("enabling WAL on", &path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuditError::Corrupt(format!(
                "{}: journal_mode is {mode}, WAL could not be enabled",
                path.display()
            )));
        }
        // FULL: the WAL is fsynced at every commit, so an acknowledged assessment is durable.
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| classify("configuring", &path, e))?;
        migrate(&mut writer, &path)?;
        let reader = open_reader(&path)?;
        Ok(Self {
            path,
            writer: Some(Mutex::new(writer)),
            reader: Mutex::new(reader),
            group: GroupCommit::default(),
        })
    }

    /// Opens an existing store for reading only (`periop audit verify`): never creates the file
    /// or changes its schema.
    ///
    /// # Errors
    /// [`AuditError::Unavailable`] if the file is missing or unreadable;
    /// [`AuditError::Corrupt`] if it is not an audit store of a known schema version.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(AuditError::Unavailable {
                message: format!("no audit store at {}", path.display()),
                source: Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
            });
        }
        let reader = open_reader(&path)?;
        let version = user_version(&reader, &path)?;
        if version == 0 {
            return Err(AuditError::Corrupt(format!(
                "{} is not a periop audit store (no schema)",
                path.display()
            )));
        }
        check_known_version(version, &path)?;
        Ok(Self {
            path,
            writer: None,
            reader: Mutex::new(reader),
            group: GroupCommit::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back on
        // drop), so the connection is still consistent and poisoning can be ignored.
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ctx(&self, what: &str, e: rusqlite::Error) -> AuditError {
        classify(what, &self.path, e)
    }

    fn index_error(&self, what: &str, e: IndexWriteError) -> AuditError {
        match e {
            IndexWriteError::Record(e) => e,
            IndexWriteError::Sql(e) => self.ctx(what, e),
        }
    }

    fn search_error(&self, what: &str, e: SearchError) -> AuditError {
        match e {
            SearchError::Audit(e) => e,
            SearchError::Sql(e) => self.ctx(what, e),
        }
    }

    /// Appends `batch` (ticket, record, created_at in µs) in one `BEGIN IMMEDIATE` transaction:
    /// IMMEDIATE takes the write lock before reading the head, so no other process can append
    /// between our read of the last hash and our inserts. A duplicate id fails only its own
    /// record; a failure of the transaction fails every record of the batch (none is stored).
    fn write_batch(
        &self,
        batch: &[(u64, AuditRecord, i64)],
    ) -> Vec<Result<StoredRecord, AuditError>> {
        let Some(writer) = self.writer.as_ref() else {
            return batch.iter().map(|_| Err(AuditError::ReadOnly)).collect();
        };
        // See `reader()` for why poisoning is harmless here.
        let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        match self.write_batch_tx(&mut conn, batch) {
            Ok(results) => results,
            // The transaction failed as a whole: none of the batch is stored.
            Err(e) => fail_all(e, batch.len()),
        }
    }

    fn write_batch_tx(
        &self,
        conn: &mut Connection,
        batch: &[(u64, AuditRecord, i64)],
    ) -> Result<Vec<Result<StoredRecord, AuditError>>, AuditError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.ctx("locking for append", e))?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.ctx("reading the chain head of", e))?;
        let (mut seq, mut prev_hash) = match last {
            Some((s, h)) => (s, h),
            None => (0, GENESIS_HASH.to_owned()),
        };
        let mut in_batch = std::collections::HashSet::new();
        let mut results = Vec::with_capacity(batch.len());
        for (_, record, created_us) in batch {
            let exists: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM audit_records WHERE assessment_id = ?1)",
                    [&record.assessment_id],
                    |r| r.get(0),
                )
                .map_err(|e| self.ctx("checking for a duplicate in", e))?;
            if exists || !in_batch.insert(record.assessment_id.clone()) {
                results.push(Err(AuditError::Duplicate(record.assessment_id.clone())));
                continue;
            }
            let next = seq + 1;
            let hash = chain_hash(&prev_hash, next, record);
            tx.execute(
                "INSERT INTO audit_records (seq, assessment_id, request_id, created_at, created_at_us, \
                 caller, kind, model_set, input, normalised, output, shap, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    next,
                    record.assessment_id,
                    record.request_id,
                    record.created_at,
                    created_us,
                    record.caller,
                    record.kind,
                    record.model_set,
                    record.input,
                    record.normalised,
                    record.output,
                    record.shap,
                    prev_hash,
                    hash,
                ],
            )
            .map_err(|e| self.ctx("inserting into", e))?;
            // The search index, in the same transaction (`index`); `validate` already checked
            // that the record is indexable, so a failure here fails the whole batch.
            sqlite_index::insert(&tx, next, *created_us, record)
                .map_err(|e| self.index_error("indexing in", e))?;
            results.push(Ok(StoredRecord {
                seq: next,
                prev_hash: prev_hash.clone(),
                hash: hash.clone(),
                record: record.clone(),
            }));
            seq = next;
            prev_hash = hash;
        }
        tx.commit().map_err(|e| self.ctx("committing to", e))?;
        Ok(results)
    }
}

impl AuditStore for SqliteAuditStore {
    fn append(&self, record: &AuditRecord) -> Result<StoredRecord, AuditError> {
        self.append_all(std::slice::from_ref(record))
            .pop()
            .unwrap_or(Err(AuditError::InvalidRecord(
                "no result for the record".into(),
            )))
    }

    fn append_all(&self, records: &[AuditRecord]) -> Vec<Result<StoredRecord, AuditError>> {
        let mut results: Vec<Option<Result<StoredRecord, AuditError>>> = Vec::new();
        let mut queued = Vec::new();
        for record in records {
            match record.validate() {
                Ok(created) => {
                    queued.push((results.len(), record, created.timestamp_micros()));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        if self.writer.is_none() {
            return records.iter().map(|_| Err(AuditError::ReadOnly)).collect();
        }
        // Group commit (`group_commit`): this caller's records are queued together, so they
        // share one transaction; each is acknowledged only after the commit that holds it.
        let items = queued
            .iter()
            .map(|(_, r, us)| ((*r).clone(), *us))
            .collect();
        let mut done = self
            .group
            .submit(items, |batch| self.write_batch(batch))
            .into_iter();
        for (slot, _, _) in &queued {
            results[*slot] = done.next();
        }
        results.into_iter().map(answered).collect()
    }

    fn get(&self, assessment_id: &str) -> Result<Option<StoredRecord>, AuditError> {
        let conn = self.reader();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM audit_records WHERE assessment_id = ?1"),
            [assessment_id],
            row_to_stored,
        )
        .optional()
        .map_err(|e| self.ctx("reading", e))
    }

    fn verify(&self) -> Result<VerifyReport, AuditError> {
        // A dedicated connection: a long verification must not block `get` on the shared reader.
        let mut conn = open_reader(&self.path)?;
        // One read transaction: a consistent snapshot even while others append.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| self.ctx("starting verification of", e))?;
        let mut verifier = ChainVerifier::new();
        {
            let mut stmt = tx
                .prepare(&format!("SELECT {COLUMNS} FROM audit_records ORDER BY seq"))
                .map_err(|e| self.ctx("verifying", e))?;
            let mut rows = stmt.query([]).map_err(|e| self.ctx("verifying", e))?;
            while let Some(row) = rows.next().map_err(|e| self.ctx("verifying", e))? {
                verify_row(row, &mut verifier).map_err(|e| self.ctx("verifying", e))?;
            }
        }
        // Read-only transaction: nothing to commit; dropping it just ends the snapshot.
        drop(tx);
        Ok(verifier.finish())
    }

    fn count(&self) -> Result<u64, AuditError> {
        let n: i64 = self
            .reader()
            .query_row("SELECT count(*) FROM audit_records", [], |r| r.get(0))
            .map_err(|e| self.ctx("counting", e))?;
        u64::try_from(n).map_err(|_| AuditError::Corrupt(format!("negative count {n}")))
    }

    fn head(&self) -> Result<Option<ChainHead>, AuditError> {
        self.reader()
            .query_row(
                "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(ChainHead {
                        seq: r.get(0)?,
                        hash: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.ctx("reading the chain head of", e))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, AuditError> {
        let since = query.since.map_or(i64::MIN, |t| t.timestamp_micros());
        let until = query.until.map_or(i64::MAX, |t| t.timestamp_micros());
        let conn = self.reader();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit_records \
                 WHERE seq > ?1 AND created_at_us >= ?2 AND created_at_us < ?3 \
                 AND (?5 IS NULL OR kind = ?5) ORDER BY seq LIMIT ?4"
            ))
            .map_err(|e| self.ctx("listing", e))?;
        let rows = stmt
            .query_map(
                params![
                    query.after_seq,
                    since,
                    until,
                    i64::from(query.limit),
                    query.kind.as_deref()
                ],
                row_to_stored,
            )
            .map_err(|e| self.ctx("listing", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.ctx("listing", e))
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, AuditError> {
        sqlite_index::search(&mut self.reader(), query)
            .map_err(|e| self.search_error("searching", e))
    }

    fn by_reference(
        &self,
        patient_reference_hash: &str,
        surgery_date: &str,
    ) -> Result<Vec<SearchHit>, AuditError> {
        sqlite_index::by_reference(&mut self.reader(), patient_reference_hash, surgery_date)
            .map_err(|e| self.search_error("searching", e))
    }

    fn quality_index_rows(
        &self,
        query: &QualityIndexQuery,
    ) -> Result<QualityIndexRows, AuditError> {
        // A dedicated connection, as for verification: a join over a long window must not
        // block `get` and searches on the shared reader.
        let mut conn = open_reader(&self.path)?;
        sqlite_index::quality_rows(&mut conn, query)
            .map_err(|e| self.search_error("joining outcomes in", e))
    }

    fn reindex(&self) -> Result<ReindexReport, AuditError> {
        let Some(writer) = self.writer.as_ref() else {
            return Err(AuditError::ReadOnly);
        };
        // See `reader()` for why poisoning is harmless here. Holding the writer keeps this
        // process's appends out; IMMEDIATE keeps other processes' out.
        let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.ctx("locking for reindexing", e))?;
        let report = sqlite_index::reindex(&tx).map_err(|e| self.index_error("reindexing", e))?;
        tx.commit()
            .map_err(|e| self.ctx("committing the index of", e))?;
        Ok(report)
    }
}

/// Settings every connection needs.
fn configure(conn: &Connection, path: &Path) -> Result<(), AuditError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| classify("configuring", path, e))
}

fn open_reader(path: &Path) -> Result<Connection, AuditError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| unavailable("opening for reading", path, e))?;
    configure(&conn, path)?;
    Ok(conn)
}

fn user_version(conn: &Connection, path: &Path) -> Result<usize, AuditError> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify("reading the schema version of", path, e))?;
    usize::try_from(v)
        .map_err(|_| AuditError::Corrupt(format!("{}: schema version {v}", path.display())))
}

fn check_known_version(version: usize, path: &Path) -> Result<(), AuditError> {
    if version > MIGRATIONS.len() {
        return Err(AuditError::Corrupt(format!(
            "{}: schema version {version} is newer than this periop supports ({})",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    Ok(())
}

/// Applies pending migrations in one immediate transaction, so two processes opening a new file
/// at once cannot both run them.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), AuditError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| classify("locking for migration", path, e))?;
    let version = user_version(&tx, path)?;
    check_known_version(version, path)?;
    if version == 0 {
        // A fresh file must be empty; anything else is some other database.
        let tables: i64 = tx
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| classify("inspecting", path, e))?;
        if tables > 0 {
            return Err(AuditError::Corrupt(format!(
                "{} is a SQLite database but not a periop audit store",
                path.display()
            )));
        }
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)
            .map_err(|e| classify("migrating", path, e))?;
        let next = i64::try_from(i + 1)
            .map_err(|_| AuditError::Corrupt(format!("migration number {}", i + 1)))?;
        tx.pragma_update(None, "user_version", next)
            .map_err(|e| classify("migrating", path, e))?;
    }
    tx.commit().map_err(|e| classify("migrating", path, e))
}

fn row_to_stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRecord> {
    Ok(StoredRecord {
        seq: r.get(0)?,
        prev_hash: r.get(1)?,
        hash: r.get(2)?,
        record: AuditRecord {
            assessment_id: r.get(3)?,
            request_id: r.get(4)?,
            created_at: r.get(5)?,
            caller: r.get(6)?,
            kind: r.get(7)?,
            model_set: r.get(8)?,
            input: r.get(9)?,
            normalised: r.get(10)?,
            output: r.get(11)?,
            shap: r.get(12)?,
        },
    })
}

/// Feeds one row to the verifier as raw bytes: a record whose text was replaced by invalid UTF-8
/// must show up as a broken link, not abort verification.
fn verify_row(r: &rusqlite::Row<'_>, verifier: &mut ChainVerifier) -> rusqlite::Result<()> {
    let seq: i64 = r.get(0)?;
    let mut columns: [Option<&[u8]>; 12] = [None; 12];
    for (i, slot) in columns.iter_mut().enumerate() {
        if let ValueRef::Text(b) | ValueRef::Blob(b) = r.get_ref(i + 1)? {
            *slot = Some(b);
        }
    }
    verifier.check_columns(seq, columns);
    Ok(())
}

fn unavailable(what: &str, path: &Path, e: rusqlite::Error) -> AuditError {
    AuditError::Unavailable {
        message: format!("{what} {}", path.display()),
        source: Box::new(e),
    }
}

/// Maps SQLite failures to the error kinds callers act on: transient or environmental ones
/// (busy, locked, I/O, full, permissions) to `Unavailable`, damaged files to `Corrupt`. (Duplicates
/// are detected before the insert, inside the same immediate transaction.)
fn classify(what: &str, path: &Path, e: rusqlite::Error) -> AuditError {
    let code = e.sqlite_error_code();
    match code {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::OutOfMemory,
        ) => unavailable(what, path, e),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            AuditError::Corrupt(format!("{what} {}: {e}", path.display()))
        }
        _ => AuditError::Backend {
            message: format!("{what} {}", path.display()),
            source: Box::new(e),
        },
    }
}
