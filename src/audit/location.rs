//! Where the audit store is: a SQLite file or a PostgreSQL database, chosen by the text of
//! `audit_store` (and of the `--store`, `--from`, `--to` options of `periop audit`):
//! `postgres://…` or `postgresql://…` (any case) or a libpq `key=value` string (`host=… dbname=…`)
//! is PostgreSQL, `sqlite:PATH` or a plain path is SQLite; any other `scheme://` is refused rather
//! than taken for a file name (a mistyped URL must not silently give each replica its own file).
//! [`StoreLocation::describe`] is what may be logged: a PostgreSQL password never is.

use std::path::PathBuf;
use std::sync::Arc;

use super::postgres::{self, PostgresAuditStore, PostgresOptions};
use super::sqlite::SqliteAuditStore;
use super::{AuditError, AuditStore};

/// A parsed `audit_store` value.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (may hold a password: never print it, use `describe`).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create if needed and apply pending migrations (`serve`, `audit migrate`, copy target).
    Migrate,
    /// Write, but refuse a schema older than this build's instead of migrating it.
    NoMigration,
    /// Read only; never create or change anything (`audit verify`, `audit checkpoint`, copy source).
    ReadOnly,
}

impl StoreLocation {
    /// Parses `text`.
    ///
    /// # Errors
    /// An empty value, an empty `sqlite:` path, or a PostgreSQL URL that does not parse (the
    /// message never repeats the URL).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("sqlite: needs a file path".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        let scheme = text
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let key_value = scheme.is_none()
            && text.split_whitespace().any(|pair| {
                pair.split_once('=').is_some_and(|(key, _)| {
                    ["host", "hostaddr", "port", "dbname", "user", "password"].contains(&key)
                })
            });
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => {}
            Some(other) => {
                return Err(format!(
                    "scheme {other}:// is not supported: use postgres://… or a SQLite file path"
                ))
            }
            None if key_value => {}
            None => {
                if text.is_empty() {
                    return Err(
                        "must be a SQLite file path (or sqlite:PATH) or a postgres:// URL".into(),
                    );
                }
                return Ok(Self::Sqlite(PathBuf::from(text)));
            }
        }
        // tokio-postgres knows the schemes in lower case only.
        let url = match text.split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
            None => text.to_owned(),
        };
        postgres::describe(&url).map_err(|e| e.to_string())?;
        Ok(Self::Postgres(url))
    }

    /// Safe to log: the SQLite path, or `postgres://user@host:port/db` without the password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => {
                postgres::describe(url).unwrap_or_else(|_| "postgres://(invalid URL)".into())
            }
        }
    }

    /// Opens the store.
    ///
    /// # Errors
    /// Whatever the backend reports (see [`SqliteAuditStore::open`], [`PostgresAuditStore::open`]).
    pub fn open(
        &self,
        mode: OpenMode,
        options: &PostgresOptions,
    ) -> Result<Arc<dyn AuditStore>, AuditError> {
        Ok(match (self, mode) {
            (Self::Sqlite(path), OpenMode::ReadOnly) => {
                Arc::new(SqliteAuditStore::open_read_only(path)?)
            }
            (Self::Sqlite(path), OpenMode::Migrate | OpenMode::NoMigration) => {
                Arc::new(SqliteAuditStore::open(path)?)
            }
            (Self::Postgres(url), OpenMode::Migrate) => {
                Arc::new(PostgresAuditStore::open(url, options)?)
            }
            (Self::Postgres(url), OpenMode::NoMigration) => {
                Arc::new(PostgresAuditStore::open_migrated(url, options)?)
            }
            (Self::Postgres(url), OpenMode::ReadOnly) => {
                Arc::new(PostgresAuditStore::open_read_only(url, options)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_paths_and_sqlite_prefix() {
        assert_eq!(
            StoreLocation::parse("audit.db").unwrap(),
            StoreLocation::Sqlite("audit.db".into())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:/var/lib/periop/a.db").unwrap(),
            StoreLocation::Sqlite("/var/lib/periop/a.db".into())
        );
        let pg = StoreLocation::parse("postgres://periop:s3cret@db.example:5433/audit").unwrap();
        assert!(matches!(pg, StoreLocation::Postgres(_)));
        let shown = pg.describe();
        assert_eq!(shown, "postgres://periop@db.example:5433/audit");
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert!(StoreLocation::parse("").is_err());
        for pg in [
            "Postgres://u@h/db",
            "POSTGRESQL://u@h/db",
            "host=db.internal user=periop password=s3cret dbname=audit",
        ] {
            let parsed = StoreLocation::parse(pg).unwrap();
            assert!(matches!(parsed, StoreLocation::Postgres(_)), "{pg}");
            assert!(!parsed.describe().contains("s3cret"));
        }
        for refused in ["postgress://u:pw@h/db", "mysql://u:pw@h/db", "http://h/db"] {
            let e = StoreLocation::parse(refused).unwrap_err();
            assert!(!e.contains("pw"), "{e}");
        }
        let e = StoreLocation::parse("postgres://u:p@ss@host/db").unwrap_err();
        assert!(e.contains("%40") && !e.contains("ss@host"), "{e}");
        assert!(StoreLocation::parse("sqlite:").is_err());
        let bad = StoreLocation::parse("postgres://u:pw@host:notaport/db").unwrap_err();
        assert!(!bad.contains("pw"), "{bad}");
    }
}
