//! The SQLite backend: the pool's connection options and the event writer's
//! connection share one list of pragmas; the migrations are
//! `migrations/sqlite`.
//!
//! The event writer is a thread of its own with its own connection
//! (rusqlite), not a connection of the sqlx pool: sqlx's SQLite driver runs
//! each statement on its worker thread, a round trip per statement, and with
//! three statements an event those hand-offs cost more than SQLite's work
//! (BENCHMARKS.md). Here a batch runs start to finish on one thread with
//! cached prepared statements.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use rusqlite::{Connection, ToSql, types::ToSqlOutput};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};
use tokio_util::task::TaskTracker;

use super::{
    ACQUIRE_TIMEOUT, StorageError,
    statements::{EventInsert, Param, Statement},
    writer::{EventWriter, WriteBackend},
};
use crate::config::DatabaseUrl;

/// Another writer (a session, a job) may hold SQLite's lock for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The pool's connections (events go through the writer's own). SQLite
/// writes one at a time, and each connection is a thread with its own page
/// cache: sqlx's default of 10 held more memory under the bot workload,
/// past the 64 MiB limit (BENCHMARKS.md), for no more throughput.
const POOL_CONNECTIONS: u32 = 4;

/// Every connection's pragmas: WAL, and FULL so that a committed event
/// survives power loss, not just a crash.
const PRAGMAS: [(&str, &str); 3] = [
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
];

/// Opens (creating) the file `url` names, and starts its event writer.
pub(super) async fn connect(
    url: &DatabaseUrl,
    tasks: &TaskTracker,
) -> Result<(SqlitePool, EventWriter), StorageError> {
    let options = PRAGMAS
        .iter()
        .fold(
            SqliteConnectOptions::from_str(url.expose()).map_err(StorageError::Connect)?,
            |options, (name, value)| options.pragma(*name, *value),
        )
        .create_if_missing(true)
        .busy_timeout(BUSY_TIMEOUT);
    // An in-memory database is refused with the settings (config.rs): the
    // writer opens the file itself.
    let file = options.get_filename().to_path_buf();
    if let Some(folder) = file.parent()
        && !folder.as_os_str().is_empty()
    {
        std::fs::create_dir_all(folder).map_err(|source| StorageError::Folder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    // Refused here, by name: SQLite would only say "unable to open database file".
    let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = folder.unwrap_or(std::path::Path::new("."));
    if !super::file_system_takes_writes(folder) {
        return Err(StorageError::ReadOnly {
            path: folder.display().to_string(),
        });
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(StorageError::Connect)?;
    let (writer, write_batches) = EventWriter::new(SqliteWriter::new(file));
    // The writer's loop runs on its own thread, as its SQLite calls block;
    // the tracker's token counts it as a task until the thread ends.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(StorageError::WriterThread)?;
    let running = tasks.token();
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            run_as_batch_thread();
            runtime.block_on(write_batches);
            drop(running);
        })
        .map_err(StorageError::WriterThread)?;
    Ok((pool, writer))
}

/// Asks the kernel to schedule this thread (the writer) as SCHED_BATCH, at
/// the normal weight (nice 0). A batch thread does not preempt the thread
/// that has the core when it wakes: woken by the first event of a batch, the
/// writer waits until the request thread has handed over the other requests
/// it holds, and one commit serves them all. Where the two share a core,
/// batches of about 15 became about 32, and a durable SET took 61-70 µs of
/// CPU instead of 69-88 (BENCHMARKS.md). With a core to itself, it runs at
/// once as before; it is never starved, having the same weight as any
/// thread. Refused (by a seccomp profile, say), the writer runs as before.
fn run_as_batch_thread() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        };
        // The crate maps 0..=99 onto nice 19..=-20; 47 is nice 0.
        let nice_0 = ThreadPriorityValue::try_from(47u8).expect("47 is in 0..=99");
        if let Err(err) = thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Crossplatform(nice_0),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        ) {
            tracing::warn!(error = ?err, "the SQLite writer could not be made a SCHED_BATCH thread at nice 0");
        }
    }
}

pub(super) async fn migrate(pool: &SqlitePool) -> Result<(), StorageError> {
    sqlx::migrate!("migrations/sqlite").run(pool).await?;
    Ok(())
}

/// The event writer's connection, opened at its first batch (after the pool
/// has created and migrated the file).
struct SqliteWriter {
    path: PathBuf,
    connection: Option<Connection>,
    /// Each statement's SQL with `$n` written `?n` (see [`positional`]),
    /// by the address and length of its `&'static str`: no hashing of the
    /// text per event.
    sql: HashMap<(usize, usize), String>,
}

impl SqliteWriter {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            connection: None,
            sql: HashMap::new(),
        }
    }

    fn connection(&mut self) -> Result<&mut Connection, StorageError> {
        if self.connection.is_none() {
            self.connection = Some(open(&self.path)?);
        }
        Ok(self.connection.as_mut().expect("opened above"))
    }

    /// Prepares `sql` (cached) with `params` bound.
    fn bound(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<rusqlite::CachedStatement<'_>, StorageError> {
        self.bound_as(sql, positional, params)
    }

    /// [`SqliteWriter::bound`], with the SQL rewritten by `rewrite` (each
    /// statement is always rewritten the same way: the cache is by `sql`).
    fn bound_as(
        &mut self,
        sql: &'static str,
        rewrite: fn(&str) -> String,
        params: &[Param<'_>],
    ) -> Result<rusqlite::CachedStatement<'_>, StorageError> {
        let text = self
            .sql
            .entry((sql.as_ptr() as usize, sql.len()))
            .or_insert_with(|| rewrite(sql));
        let connection = self
            .connection
            .as_ref()
            .ok_or(StorageError::WriterStopped)?;
        let mut statement = connection.prepare_cached(text)?;
        for (n, param) in params.iter().enumerate() {
            statement.raw_bind_parameter(n + 1, param)?;
        }
        Ok(statement)
    }
}

fn open(path: &Path) -> Result<Connection, StorageError> {
    let connection = Connection::open(path)?;
    connection.busy_handler(Some(writer_waits))?;
    for (name, value) in PRAGMAS {
        connection.pragma_update(None, name, value)?;
    }
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// The writer's wait for SQLite's lock, while a pool transaction holds it:
/// short naps that do not grow, [`BUSY_TIMEOUT`] in all. SQLite's own
/// handler sleeps longer each try, up to 100 ms a try, and every webhook
/// waiting for the writer's next batch slept with it while the lock was
/// already free (under the bot workload, whose outbox writes through the
/// pool, the pool's connections reached those 100 ms sleeps; BENCHMARKS.md).
fn writer_waits(tries: i32) -> bool {
    const NAP: Duration = Duration::from_micros(250);
    if NAP * tries.unsigned_abs() >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(NAP);
    true
}

/// `$1` is a *named* parameter to SQLite, numbered by first appearance;
/// `?1` is parameter 1. Written this way, the n-th value binds to index n.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// An event insert without its `RETURNING event_id`: SQLite runs RETURNING
/// through a temporary b-tree opened and dropped on every execution, which
/// cost more than the insert itself. The id is read off the connection.
fn without_returning(sql: &str) -> String {
    let kept = sql.rfind("RETURNING event_id").map_or(sql, |at| &sql[..at]);
    positional(kept.trim_end())
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(value) => value.to_sql(),
            Param::MaybeText(value) => value.to_sql(),
            Param::Int(value) => value.to_sql(),
            Param::MaybeInt(value) => value.to_sql(),
            Param::Bool(value) => value.to_sql(),
        }
    }
}

impl WriteBackend for SqliteWriter {
    async fn begin(&mut self) -> Result<(), StorageError> {
        self.connection()?.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    async fn insert(&mut self, insert: &EventInsert) -> Result<Option<i64>, StorageError> {
        let inserted = self
            .bound_as(insert.sql(), without_returning, &insert.params())?
            .raw_execute()?;
        // ON CONFLICT DO NOTHING: no row inserted is a repeat.
        let connection = self.connection()?;
        Ok((inserted > 0).then(|| connection.last_insert_rowid()))
    }

    async fn execute(&mut self, statement: &Statement) -> Result<u64, StorageError> {
        let rows = self
            .bound(statement.sql(), &statement.params())?
            .raw_execute()?;
        Ok(rows as u64)
    }

    async fn control(&mut self, sql: &'static str) -> Result<(), StorageError> {
        self.connection()?.execute_batch(sql)?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StorageError> {
        self.control("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), StorageError> {
        self.control("ROLLBACK").await
    }

    fn reset(&mut self) {
        // Dropping the connection rolls back whatever it had open.
        self.connection = None;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_inserts_lose_only_their_returning() {
        assert_eq!(
            super::without_returning(
                "INSERT INTO events (a) VALUES ($1)\n ON CONFLICT DO NOTHING\n RETURNING event_id"
            ),
            "INSERT INTO events (a) VALUES (?1)\n ON CONFLICT DO NOTHING"
        );
        for (_, sql, _) in super::EventInsert::ALL {
            let kept = super::without_returning(sql);
            assert!(!kept.contains("RETURNING"), "{kept}");
            assert!(kept.ends_with("DO NOTHING"), "{kept}");
        }
    }

    #[test]
    fn the_writer_gives_up_once_its_naps_add_up_to_the_busy_timeout() {
        let naps = (super::BUSY_TIMEOUT.as_micros() / 250) as i32;
        assert!(super::writer_waits(0));
        assert!(super::writer_waits(naps - 1));
        assert!(!super::writer_waits(naps));
        assert!(!super::writer_waits(i32::MAX));
    }

    #[test]
    fn placeholders_become_positional() {
        assert_eq!(
            super::positional("VALUES ($1, $10, '$x')"),
            "VALUES (?1, ?10, '$x')"
        );
    }
}
