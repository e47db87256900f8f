//! The storage boundary: no HTTP handler writes SQL.
//!
//! Two backends, chosen by the `DATABASE_URL` scheme: SQLite, embedded and the
//! default, and PostgreSQL for several instances. Each owns its migrations
//! (`migrations/sqlite`, `migrations/postgres`), embedded in the binary, and
//! its connection settings. The queries are written once: their SQL is valid
//! on both (`$n` placeholders, `ON CONFLICT`, `RETURNING`), and [`with_pool!`]
//! and [`in_write_tx!`] compile each for both pools.

mod effects;
mod events;
mod group_commit;
pub mod jobs;
pub mod model;
mod users;

pub use self::{model::*, users::SessionStart};

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::{DatabaseKind, DatabaseUrl};

/// How long a request may wait for a connection before storage counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From SQLite's event writer, which uses rusqlite (see `group_commit`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no randomness for a session id: {0}")]
    Random(String),
    #[error("the transaction holding this event failed to commit: {0}")]
    Commit(String),
    #[error("the storage writer has stopped")]
    WriterStopped,
    #[error("cannot start the SQLite writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
}

/// Runs `$body` with `$pool` bound to the pool of whichever backend is in use.
macro_rules! with_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match $storage {
            $crate::storage::Storage::Sqlite($pool, _) => $body,
            $crate::storage::Storage::Postgres($pool, _) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` in a write transaction `$tx` and commits it; an early `?`
/// rolls back. SQLite begins IMMEDIATE: concurrent writers then wait on the
/// busy timeout instead of failing when a read lock cannot be upgraded.
macro_rules! in_write_tx {
    ($storage:expr, |$tx:ident| $body:expr) => {
        match $storage {
            $crate::storage::Storage::Sqlite(pool, _) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::storage::Storage::Postgres(pool, _) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_write_tx;

/// A connection pool to one of the two backends. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Each: the pool, and the writer that stores events (group commit).
    Sqlite(SqlitePool, Arc<group_commit::GroupCommit>),
    Postgres(PgPool, Arc<group_commit::GroupCommit>),
}

impl Storage {
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StorageError> {
        match url.kind() {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .map_err(StorageError::Connect)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a committed event survives power loss, not just a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(2));
                // The event writer opens the file itself (group_commit.rs); an
                // in-memory database is refused with the settings (config.rs).
                let file = options.get_filename().to_path_buf();
                if let Some(folder) = file.parent()
                    && !folder.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(folder).map_err(|source| StorageError::Folder {
                        path: folder.display().to_string(),
                        source,
                    })?;
                }
                let pool = SqlitePoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(StorageError::Connect)?;
                let writer = group_commit::GroupCommit::start_sqlite(file)
                    .map_err(StorageError::WriterThread)?;
                let writer = Arc::new(writer);
                Ok(Self::Sqlite(pool, writer))
            }
            DatabaseKind::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url.expose())
                    .await
                    .map_err(StorageError::Connect)?;
                let writer = group_commit::GroupCommit::start_postgres(pool.clone());
                Ok(Self::Postgres(pool, Arc::new(writer)))
            }
        }
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(pool, _) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Self::Postgres(pool, _) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for `/ready`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(pool, _) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Self::Postgres(pool, _) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub fn kind(&self) -> DatabaseKind {
        match self {
            Self::Sqlite(..) => DatabaseKind::Sqlite,
            Self::Postgres(..) => DatabaseKind::Postgres,
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pool, _) => pool.close().await,
            Self::Postgres(pool, _) => pool.close().await,
        }
    }
}
