//! The storage boundary: no code outside this folder writes SQL or knows
//! which database is in use.
//!
//! Two backends, chosen by the `DATABASE_URL` scheme: SQLite, embedded and the
//! default (`sqlite.rs`), and PostgreSQL for several instances
//! (`postgres.rs`). Each owns its migrations, its connection settings and the
//! few statements whose SQL differs. The rest is written once: its SQL is
//! valid on both (`$n` placeholders, `ON CONFLICT`, `RETURNING`), and
//! `with_pool!` and `in_write_tx!` compile each query for both pools.
//! Accepted events go through one event writer per instance (`writer.rs`).

pub mod alerts;
pub mod bot;
pub mod certificates;
mod changes;
pub mod charts;
pub mod coalesce;
pub mod console;
pub mod destinations;
mod effects;
mod events;
pub mod gateway;
mod health;
pub mod jobs;
pub mod model;
pub mod notifications;
mod postgres;
mod retention;
mod sqlite;
mod statements;
mod statistics;
mod users;
mod writer;

pub use self::{health::DatabaseHealth, model::*, users::SessionStart};

use std::{path::Path, sync::Arc, time::Duration};

use sqlx::{PgPool, SqlitePool};
use tokio_util::task::TaskTracker;

use crate::config::{DatabaseKind, DatabaseUrl};

/// How long a request may wait for a connection before storage counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why storage could not do what was asked. Each variant keeps its cause as
/// its source (print the chain with [`crate::telemetry::Chain`]).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create the database folder {path}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database folder {path} is on a read-only file system: mount it read-write, or set DATABASE_URL to a writable place (a file system the kernel made read-only after an error needs fsck first)"
    )]
    ReadOnly { path: String },
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// From SQLite's event writer, which uses rusqlite (see `sqlite.rs`).
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    #[error("no randomness for a session id")]
    Random(#[source] getrandom::Error),
    /// The transaction holding this write (an event, or a row among others
    /// written together) failed; the cause was logged once for the batch.
    #[error("the batch holding this write failed to commit")]
    BatchFailed(#[source] Arc<StorageError>),
    #[error("the storage writer has stopped")]
    WriterStopped,
    #[error("cannot start the SQLite writer thread")]
    WriterThread(#[source] std::io::Error),
}

impl StorageError {
    /// True when the cause was already logged where it happened (a failed
    /// batch), so a request answering 503 for it need not log it again.
    pub fn already_logged(&self) -> bool {
        matches!(self, StorageError::BatchFailed(_))
    }
}

/// Runs `$body` with `$pool` bound to the pool of whichever backend is in use.
macro_rules! with_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match &$storage.backend {
            $crate::storage::Backend::Sqlite { pool: $pool, .. } => $body,
            $crate::storage::Backend::Postgres { pool: $pool, .. } => $body,
        }
    };
}
pub(crate) use with_pool;

/// A file system's space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub free: u64,
    pub total: u64,
}

impl DiskSpace {
    /// Under this, SQLite cannot count on growing its WAL: `/ready` says
    /// the database is full.
    pub const FULL_BELOW: u64 = 256 * 1024;

    /// Under 64 MiB, or on a small disk under a tenth of it (at least
    /// 1 MiB), the `disk_space` alert is raised while writes still succeed.
    pub fn low(self) -> bool {
        const MIB: u64 = 1024 * 1024;
        self.free < (64 * MIB).min((self.total / 10).max(MIB))
    }

    pub fn full(self) -> bool {
        self.free < Self::FULL_BELOW
    }
}

/// Whether a file can be made in `folder`. Mode bits and `statvfs` miss a
/// file system the kernel turned read-only after an error (ext4's
/// `errors=remount-ro` still shows `rw`, with `emergency_ro`), where SQLite
/// only says "disk I/O error"; making a file gets `EROFS`. Empty and
/// removed at once, it needs no free blocks, so a full disk still says
/// full, not read-only.
pub(crate) fn file_system_takes_writes(folder: &Path) -> bool {
    let probe = folder.join(".kakao-webhooks-write-probe");
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(err) => err.kind() != std::io::ErrorKind::ReadOnlyFilesystem,
    }
}

/// Runs `$body` in a write transaction `$tx` and commits it; an early `?`
/// rolls back. SQLite begins IMMEDIATE: concurrent writers then wait on the
/// busy timeout instead of failing when a read lock cannot be upgraded.
macro_rules! in_write_tx {
    ($storage:expr, |$tx:ident| $body:expr) => {
        match &$storage.backend {
            $crate::storage::Backend::Sqlite { pool, .. } => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::storage::Backend::Postgres { pool, .. } => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_write_tx;

/// A connection pool to one of the two backends and its event writer.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    backend: Backend,
    /// Where each applied change is also notified.
    notify: NotifyTo,
}

/// The destinations every applied change queues a notification for, in its
/// own transaction: the app (`APP_NOTIFY_URL`), the broker (`EVENT_STREAM_URL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyTo {
    pub app: bool,
    pub stream: bool,
}

impl NotifyTo {
    /// Each row a change queues: its destination and status. The app's is
    /// always written, `held` while `APP_NOTIFY_URL` is unset, so that
    /// `POST /api/events/renotify` can send it once it is set.
    pub fn rows(self) -> impl Iterator<Item = (notifications::Destination, &'static str)> {
        use notifications::Destination;
        let app = if self.app { "pending" } else { "held" };
        [
            (true, Destination::App, app),
            (self.stream, Destination::Stream, "pending"),
        ]
        .into_iter()
        .filter_map(|(on, destination, status)| on.then_some((destination, status)))
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite {
        pool: SqlitePool,
        writer: Arc<writer::EventWriter>,
    },
    Postgres {
        pool: PgPool,
        writer: Arc<writer::EventWriter>,
    },
}

impl Storage {
    /// Opens the database `url` names; its event writer runs as one of
    /// `tasks` until [`Storage::close`].
    pub async fn connect(url: &DatabaseUrl, tasks: &TaskTracker) -> Result<Self, StorageError> {
        let backend = match url.kind() {
            DatabaseKind::Sqlite => {
                let (pool, writer) = sqlite::connect(url, tasks).await?;
                Backend::Sqlite {
                    pool,
                    writer: Arc::new(writer),
                }
            }
            DatabaseKind::Postgres => {
                let (pool, writer) = postgres::connect(url, tasks).await?;
                Backend::Postgres {
                    pool,
                    writer: Arc::new(writer),
                }
            }
        };
        Ok(Self {
            backend,
            notify: NotifyTo::default(),
        })
    }

    /// From now on, every change this handle applies also queues a
    /// notification to the app, in the same transaction.
    pub fn notifying_app(mut self) -> Self {
        self.notify.app = true;
        self
    }

    /// From now on, every change this handle applies also queues a
    /// notification for the broker, in the same transaction.
    pub fn notifying_stream(mut self) -> Self {
        self.notify.stream = true;
        self
    }

    /// Applies the backend's pending migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite { pool, .. } => sqlite::migrate(pool).await,
            Backend::Postgres { pool, .. } => postgres::migrate(pool).await,
        }
    }

    /// A round trip to the database, for `/ready`.
    pub async fn ping(&self) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Whether the event writer runs: without it every webhook is refused.
    pub fn writer_running(&self) -> bool {
        self.writer().is_running()
    }

    /// How many batches the event writer wrote again an event at a time,
    /// after one failed whole: for tests that a batch went the fast way.
    #[doc(hidden)]
    pub fn batches_rewritten(&self) -> u64 {
        self.writer().rewritten()
    }

    /// Whether the database takes writes: PostgreSQL not in recovery (a
    /// replica) nor read-only by default; the SQLite file and its folder
    /// writable, on a file system that takes writes. For `/ready` and the
    /// `kakao_database_writable` gauge.
    pub async fn writable(&self) -> Result<bool, StorageError> {
        match &self.backend {
            Backend::Postgres { pool, .. } => {
                const SQL: &str = "SELECT NOT pg_is_in_recovery()
                    AND current_setting('transaction_read_only') = 'off'";
                Ok(sqlx::query_scalar(SQL).fetch_one(pool).await?)
            }
            Backend::Sqlite { pool, .. } => {
                let file = pool.connect_options().get_filename().to_path_buf();
                let writable = |path: &std::path::Path| {
                    std::fs::metadata(path).is_ok_and(|meta| !meta.permissions().readonly())
                };
                let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
                Ok(writable(&file)
                    && folder.is_none_or(writable)
                    && file_system_takes_writes(folder.unwrap_or(Path::new("."))))
            }
        }
    }

    /// The SQLite file system's free and total bytes (`statvfs` of the
    /// database's folder); `None` on PostgreSQL, whose disk is its server's.
    pub fn disk_space(&self) -> Option<DiskSpace> {
        let Backend::Sqlite { pool, .. } = &self.backend else {
            return None;
        };
        let file = pool.connect_options().get_filename().to_path_buf();
        let folder = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let stat = rustix::fs::statvfs(folder).ok()?;
        Some(DiskSpace {
            free: stat.f_bavail.saturating_mul(stat.f_frsize),
            total: stat.f_blocks.saturating_mul(stat.f_frsize),
        })
    }

    /// Stops the event writer as if it had died, leaving the pool open: for
    /// tests of what `/ready` says then. Never called by the service.
    #[doc(hidden)]
    pub async fn stop_writer(&self) {
        self.writer().stop().await;
    }

    pub fn kind(&self) -> DatabaseKind {
        match &self.backend {
            Backend::Sqlite { .. } => DatabaseKind::Sqlite,
            Backend::Postgres { .. } => DatabaseKind::Postgres,
        }
    }

    /// Writes the events already handed over, then closes the pool.
    pub async fn close(&self) {
        self.writer().stop().await;
        with_pool!(self, |pool| pool.close().await)
    }

    /// Runs `sql` as it is, outside every storage rule: for tests that must
    /// put the database in a state no webhook can (a trigger that refuses
    /// one event). Never called by the service.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    fn writer(&self) -> &writer::EventWriter {
        match &self.backend {
            Backend::Sqlite { writer, .. } | Backend::Postgres { writer, .. } => writer,
        }
    }

    /// The backend's statement for what differs between them.
    fn dialect(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match &self.backend {
            Backend::Sqlite { .. } => sqlite,
            Backend::Postgres { .. } => postgres,
        }
    }
}

/// How a storage failure is answered over HTTP.
impl crate::http::error::ApiError {
    /// Storage failed: 503, its cause logged unless the writer already did.
    pub fn storage(err: &StorageError) -> Self {
        if err.already_logged() {
            Self::unavailable_logged("storage_unavailable")
        } else {
            Self::unavailable("storage_unavailable", err)
        }
    }
}
