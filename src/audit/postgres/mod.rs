//! PostgreSQL backend of [`AuditStore`], for several periop replicas sharing one database.
//!
//! The same records and hash chain as SQLite ([`super::chain_hash`]). Ordering across replicas:
//! every append transaction locks the single row of `audit_chain_head` (`SELECT ... FOR UPDATE`),
//! reads the newest link, inserts its records after it and moves the head before committing, so
//! writers in any number of processes are serialised by the database and the chain stays linear.
//! Within a process appends are group-committed ([`super::group_commit`]): one transaction (one
//! lock, one multi-row insert, one commit) serves every answer queued meanwhile. An append
//! returns only after `COMMIT` succeeded with `synchronous_commit = on` (forced per session), so
//! an acknowledged answer is durable; a connection lost before the commit's answer leaves the
//! record either fully committed or absent, never half-written.
//!
//! The client is async (`tokio-postgres`, pooled by `deadpool-postgres`); the store runs it on a
//! small runtime of its own and hands results back over a channel, so the synchronous trait can
//! be called from any thread, including one inside another async runtime (it then blocks that
//! thread until the database answers: HTTP handlers call it on the blocking pool). Every operation
//! but verification has a time limit; past it the connection is discarded and the caller gets
//! `Unavailable`, so a database or network that stops answering without closing the connection
//! turns into 503s, not hung requests.
//!
//! Append-only is enforced by triggers that abort UPDATE, DELETE and TRUNCATE
//! (`schemas/db/postgres/0001_audit.sql`).

mod append;
mod errors;
mod index;
pub mod schema;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use self::errors::{classify, task_lost};
pub use self::schema::Migrated;
use super::group_commit::{answered, fail_all, GroupCommit, Pending};
use super::{
    AuditError, AuditRecord, AuditStore, ChainHead, ChainVerifier, ListQuery, QualityIndexQuery,
    QualityIndexRows, ReindexReport, SearchHit, SearchQuery, StoredRecord, VerifyReport,
};

/// Connection settings of the PostgreSQL store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections in the pool (per process).
    pub pool_size: usize,
    /// How long to wait for a connection (connecting, or a free one from the pool), and for the
    /// chain-head lock, before answering `Unavailable`.
    pub timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Columns in the order [`row_to_stored`] and [`verify_row`] read them.
const COLUMNS: &str = "seq, prev_hash, hash, assessment_id, request_id, created_at, caller, kind, \
                       model_set, input, normalised, output, shap";

/// Audit store in a PostgreSQL database. `Send + Sync`; share it behind an `Arc`.
pub struct PostgresAuditStore {
    /// `Some` until drop (see [`Drop`]).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// `user@host:port/dbname`, for messages: never the URL, which may hold a password.
    target: String,
    read_only: bool,
    /// Lock waits (`lock_timeout`) and pool waits.
    timeout: Duration,
    /// Whole operations: past it the connection is discarded and the caller gets `Unavailable`.
    operation_timeout: Duration,
    group: GroupCommit,
}

impl std::fmt::Debug for PostgresAuditStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresAuditStore")
            .field("target", &self.target)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// `user@host:port/dbname` of a connection string, without its password.
///
/// # Errors
/// [`AuditError::Setting`] for a string that is not a PostgreSQL connection URL or key=value
/// string, or a URL whose password holds an unescaped `@` (the message never repeats the string).
pub fn describe(url: &str) -> Result<String, AuditError> {
    Ok(describe_config(&parse_url(url)?))
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, AuditError> {
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.matches('@').count() > 1 {
            return Err(AuditError::Setting(
                "audit_store: the URL has more than one `@` before the host; percent-encode `@` in \
                 the user name or password as %40"
                    .into(),
            ));
        }
    }
    url.parse().map_err(|e| {
        AuditError::Setting(format!(
            "audit_store is not a valid PostgreSQL connection string: {e}"
        ))
    })
}

fn describe_config(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config
        .get_ports()
        .first()
        .map_or_else(|| "5432".to_string(), u16::to_string);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{}:{port}/{db}", hosts.join(","))
}

impl PostgresAuditStore {
    /// Connects and applies pending migrations (see [`schema`]).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Corrupt` for a foreign or newer schema.
    pub fn open(url: &str, options: &PostgresOptions) -> Result<Self, AuditError> {
        let store = Self::connect(url, options, false)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects to an existing store whose schema is this build's, without migrating it
    /// (`serve` with `audit_migrate_at_start = false`).
    ///
    /// # Errors
    /// As [`Self::open`], and `Corrupt` when the schema is older than this build's.
    pub fn open_migrated(url: &str, options: &PostgresOptions) -> Result<Self, AuditError> {
        let store = Self::connect(url, options, false)?;
        let version = store.schema_version()?;
        if version < schema::latest_version() {
            return Err(AuditError::Corrupt(format!(
                "{}: schema version {version}, this periop needs {} (audit_migrate_at_start is off): run `periop audit migrate` first",
                store.target,
                schema::latest_version()
            )));
        }
        Ok(store)
    }

    /// Connects read-only (`periop audit verify`): nothing is created, migrated or appended
    /// (appends answer `ReadOnly`).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Corrupt` when it is not a periop audit
    /// store of a known schema version.
    pub fn open_read_only(url: &str, options: &PostgresOptions) -> Result<Self, AuditError> {
        let store = Self::connect(url, options, true)?;
        if store.schema_version()? == 0 {
            return Err(AuditError::Corrupt(format!(
                "{}: not a periop audit store (no schema)",
                store.target
            )));
        }
        Ok(store)
    }

    fn connect(url: &str, options: &PostgresOptions, read_only: bool) -> Result<Self, AuditError> {
        let mut config = parse_url(url)?;
        let target = describe_config(&config);
        // A peer that vanishes without closing the connection is noticed by TCP, not after hours:
        // unacknowledged data fails the socket after tcp_user_timeout, idle ones are probed.
        config
            .connect_timeout(options.timeout)
            .tcp_user_timeout(options.timeout * 4)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .application_name("periop");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| AuditError::Backend {
                message: format!("building the connection pool of {target}"),
                source: Box::new(e),
            })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("periop-audit-pg")
            .enable_all()
            .build()
            .map_err(|e| AuditError::Backend {
                message: format!("starting the database runtime of {target}"),
                source: Box::new(e),
            })?;
        Ok(Self {
            runtime: Some(runtime),
            pool,
            target,
            read_only,
            timeout: options.timeout,
            operation_timeout: options.timeout * 3,
            group: GroupCommit::default(),
        })
    }

    /// `user@host:port/dbname` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Applies pending migrations (`periop audit migrate`; `open` does it too).
    ///
    /// # Errors
    /// See [`schema`].
    pub fn migrate(&self) -> Result<Migrated, AuditError> {
        let (pool, target, lock_timeout) = (self.pool.clone(), self.target.clone(), self.timeout);
        self.run("migrating", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("migrating", &target, e))?;
            schema::migrate(&mut client, &target, lock_timeout).await
        })
    }

    /// The applied schema version (0: the database has no periop schema yet).
    ///
    /// # Errors
    /// `Corrupt` when the schema is newer than this build's or a migration was edited.
    pub fn schema_version(&self) -> Result<usize, AuditError> {
        let (pool, target) = (self.pool.clone(), self.target.clone());
        self.run("reading the schema of", async move {
            let client = pool
                .get()
                .await
                .map_err(|e| errors::pool("reading the schema of", &target, e))?;
            schema::current(&client, &target).await
        })
    }

    /// Runs `work` on the store's runtime and waits for its answer on this thread.
    fn run<T: Send + 'static>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, AuditError>> + Send + 'static,
    ) -> Result<T, AuditError> {
        let Some(runtime) = self.runtime.as_ref() else {
            return Err(task_lost(what, &self.target));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            // The receiver waits until this is sent or the task is dropped.
            let _ = tx.send(work.await);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(task_lost(what, &self.target)))
    }

    fn write_batch(&self, batch: &[Pending]) -> Vec<Result<StoredRecord, AuditError>> {
        if self.read_only {
            return batch.iter().map(|_| Err(AuditError::ReadOnly)).collect();
        }
        let (pool, target) = (self.pool.clone(), self.target.clone());
        let owned = batch.to_vec();
        let (lock_timeout, limit) = (self.timeout, self.operation_timeout);
        let appended = self.run("appending to", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("appending to", &target, e))?;
            let written = tokio::time::timeout(
                limit,
                append::write_batch(&mut client, &target, &owned, lock_timeout),
            )
            .await;
            written.unwrap_or_else(|_| {
                // The connection is in an unknown state: never hand it out again.
                drop(deadpool_postgres::Object::take(client));
                Err(errors::timed_out("appending to", &target, limit))
            })
        });
        // A failed transaction fails every record of the batch; none of it is stored (or, when
        // the connection died after COMMIT was sent, all of it is: never a part).
        appended.unwrap_or_else(|e| fail_all(e, batch.len()))
    }

    /// Runs one query on a pooled connection, within the operation time limit (`limit: None`
    /// for verification, which streams the whole table; TCP's user timeout still bounds a dead
    /// peer).
    fn with_client<T: Send + 'static>(
        &self,
        what: &'static str,
        limit: Option<Duration>,
        work: impl for<'c> FnOnce(
                &'c deadpool_postgres::Client,
            ) -> std::pin::Pin<
                Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
            > + Send
            + 'static,
    ) -> Result<T, AuditError> {
        let (pool, target) = (self.pool.clone(), self.target.clone());
        self.run(what, async move {
            let client = pool
                .get()
                .await
                .map_err(|e| errors::pool(what, &target, e))?;
            let answer = match limit {
                Some(limit) => match tokio::time::timeout(limit, work(&client)).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        drop(deadpool_postgres::Object::take(client));
                        return Err(errors::timed_out(what, &target, limit));
                    }
                },
                None => work(&client).await,
            };
            answer.map_err(|e| classify(what, &target, e))
        })
    }
}

impl Drop for PostgresAuditStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which panics inside an async context
        // (e.g. when the server's state is dropped on shutdown); nothing is pending here once the
        // last caller returned, so let it go in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl AuditStore for PostgresAuditStore {
    fn append(&self, record: &AuditRecord) -> Result<StoredRecord, AuditError> {
        self.append_all(std::slice::from_ref(record))
            .pop()
            .unwrap_or_else(|| answered(None))
    }

    fn append_all(&self, records: &[AuditRecord]) -> Vec<Result<StoredRecord, AuditError>> {
        if self.read_only {
            return records.iter().map(|_| Err(AuditError::ReadOnly)).collect();
        }
        let mut results: Vec<Option<Result<StoredRecord, AuditError>>> = Vec::new();
        let mut slots = Vec::new();
        let mut items = Vec::new();
        for record in records {
            match record.validate() {
                Ok(created) => {
                    slots.push(results.len());
                    results.push(None);
                    items.push((record.clone(), created.timestamp_micros()));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // Group commit: this caller's records share one transaction, acknowledged after it.
        let mut done = self
            .group
            .submit(items, |batch| self.write_batch(batch))
            .into_iter();
        for slot in slots {
            results[slot] = done.next();
        }
        results.into_iter().map(answered).collect()
    }

    fn get(&self, assessment_id: &str) -> Result<Option<StoredRecord>, AuditError> {
        let id = assessment_id.to_owned();
        self.with_client("reading", Some(self.operation_timeout), move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM audit_records WHERE assessment_id = $1");
                c.query_opt(&sql, &[&id])
                    .await?
                    .as_ref()
                    .map(row_to_stored)
                    .transpose()
            })
        })
    }

    fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.with_client("verifying", None, |c| {
            Box::pin(async move {
                // One statement is one snapshot: appends running meanwhile are not seen.
                let sql = format!("SELECT {COLUMNS} FROM audit_records ORDER BY seq");
                let rows = c
                    .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())
                    .await?;
                pin_mut!(rows);
                let mut verifier = ChainVerifier::new();
                while let Some(row) = rows.try_next().await? {
                    verify_row(&row, &mut verifier);
                }
                Ok(verifier.finish())
            })
        })
    }

    fn count(&self) -> Result<u64, AuditError> {
        let n: i64 = self.with_client("counting", Some(self.operation_timeout), |c| {
            Box::pin(async move {
                c.query_one("SELECT count(*) FROM audit_records", &[])
                    .await?
                    .try_get(0)
            })
        })?;
        u64::try_from(n).map_err(|_| AuditError::Corrupt(format!("negative count {n}")))
    }

    fn head(&self) -> Result<Option<ChainHead>, AuditError> {
        self.with_client(
            "reading the chain head of",
            Some(self.operation_timeout),
            |c| {
                Box::pin(async move {
                    let row = c
                        .query_opt(
                            "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1",
                            &[],
                        )
                        .await?;
                    row.map(|r| {
                        Ok(ChainHead {
                            seq: r.try_get(0)?,
                            hash: r.try_get(1)?,
                        })
                    })
                    .transpose()
                })
            },
        )
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, AuditError> {
        let since = query.since.map_or(i64::MIN, |t| t.timestamp_micros());
        let until = query.until.map_or(i64::MAX, |t| t.timestamp_micros());
        let (after, limit, kind) = (query.after_seq, i64::from(query.limit), query.kind.clone());
        self.with_client("listing", Some(self.operation_timeout), move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM audit_records \
                     WHERE seq > $1 AND created_at_us >= $2 AND created_at_us < $3 \
                     AND ($5::text IS NULL OR kind = $5) ORDER BY seq LIMIT $4"
                );
                let rows = c
                    .query(&sql, &[&after, &since, &until, &limit, &kind])
                    .await?;
                rows.iter().map(row_to_stored).collect()
            })
        })
    }

    fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, AuditError> {
        let (pool, target, limit) = (
            self.pool.clone(),
            self.target.clone(),
            self.operation_timeout,
        );
        let query = query.clone();
        self.run("searching", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("searching", &target, e))?;
            tokio::time::timeout(limit, index::search(&mut client, &target, &query))
                .await
                .unwrap_or_else(|_| {
                    drop(deadpool_postgres::Object::take(client));
                    Err(errors::timed_out("searching", &target, limit))
                })
        })
    }

    fn by_reference(
        &self,
        patient_reference_hash: &str,
        surgery_date: &str,
    ) -> Result<Vec<SearchHit>, AuditError> {
        let (pool, target, limit) = (
            self.pool.clone(),
            self.target.clone(),
            self.operation_timeout,
        );
        let (hash, date) = (patient_reference_hash.to_owned(), surgery_date.to_owned());
        self.run("searching", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("searching", &target, e))?;
            tokio::time::timeout(
                limit,
                index::by_reference(&mut client, &target, &hash, &date),
            )
            .await
            .unwrap_or_else(|_| {
                drop(deadpool_postgres::Object::take(client));
                Err(errors::timed_out("searching", &target, limit))
            })
        })
    }

    fn quality_index_rows(
        &self,
        query: &QualityIndexQuery,
    ) -> Result<QualityIndexRows, AuditError> {
        let (pool, target, limit) = (
            self.pool.clone(),
            self.target.clone(),
            self.operation_timeout,
        );
        let query = query.clone();
        // No limit on the whole join (it reads the window, like verification reads the chain);
        // each page has the operation limit.
        self.run("joining outcomes in", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("joining outcomes in", &target, e))?;
            let answer = index::quality_rows(&mut client, &target, &query, limit).await;
            if answer.is_err() {
                // A page may have been abandoned mid-statement: never reuse the connection.
                drop(deadpool_postgres::Object::take(client));
            }
            answer
        })
    }

    fn reindex(&self) -> Result<ReindexReport, AuditError> {
        if self.read_only {
            return Err(AuditError::ReadOnly);
        }
        let (pool, target, lock_timeout) = (self.pool.clone(), self.target.clone(), self.timeout);
        // No operation time limit: a rebuild reads every record (like verification).
        self.run("reindexing", async move {
            let mut client = pool
                .get()
                .await
                .map_err(|e| errors::pool("reindexing", &target, e))?;
            index::reindex(&mut client, &target, lock_timeout).await
        })
    }
}

fn row_to_stored(r: &Row) -> Result<StoredRecord, tokio_postgres::Error> {
    Ok(StoredRecord {
        seq: r.try_get(0)?,
        prev_hash: r.try_get(1)?,
        hash: r.try_get(2)?,
        record: AuditRecord {
            assessment_id: r.try_get(3)?,
            request_id: r.try_get(4)?,
            created_at: r.try_get(5)?,
            caller: r.try_get(6)?,
            kind: r.try_get(7)?,
            model_set: r.try_get(8)?,
            input: r.try_get(9)?,
            normalised: r.try_get(10)?,
            output: r.try_get(11)?,
            shap: r.try_get(12)?,
        },
    })
}

/// Feeds one row to the verifier; a column that cannot be read as text (its type was altered
/// outside the store) is a broken link, not an aborted verification.
fn verify_row(r: &Row, verifier: &mut ChainVerifier) {
    let seq: i64 = r.try_get(0).unwrap_or(0);
    let columns: [Option<&[u8]>; 12] = std::array::from_fn(|i| {
        r.try_get::<_, Option<&str>>(i + 1)
            .ok()
            .flatten()
            .map(str::as_bytes)
    });
    verifier.check_columns(seq, columns);
}
