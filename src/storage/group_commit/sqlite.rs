//! SQLite's event writer, a thread of its own with its own connection
//! (rusqlite), not a connection of the sqlx pool: sqlx's SQLite driver runs
//! each statement on its worker thread, a round trip per statement, and with
//! three statements an event those hand-offs cost more than SQLite's work
//! (BENCHMARKS.md). Here a batch runs start to finish on one thread with
//! cached prepared statements. The SQL is PostgreSQL's too (`effects.rs`,
//! `events.rs`).

use std::{path::Path, time::Duration};

use rusqlite::{Connection, ToSql, TransactionBehavior, types::ToSqlOutput};
use tokio::sync::mpsc;

use super::{MAX_BATCH, Outcomes, Pending, answer};
use crate::storage::{Recorded, StorageError, effects::Arg, events::Prepared};

/// As the pool's connections: another writer (a session, a job) may hold
/// SQLite's lock for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn write_batches(path: &Path, mut receiver: mpsc::Receiver<Pending>) {
    let mut connection = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let (prepared, done): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.prepared, p.done)).unzip();
        let result = match open(path, &mut connection) {
            Ok(connection) => commit(connection, &prepared),
            Err(err) => Err(err),
        };
        if result.is_err() {
            // A fresh connection next time: this one may be what failed.
            connection = None;
        }
        answer(done, result);
    }
}

fn open<'c>(
    path: &Path,
    connection: &'c mut Option<Connection>,
) -> rusqlite::Result<&'c mut Connection> {
    if connection.is_none() {
        let opened = Connection::open(path)?;
        opened.busy_timeout(BUSY_TIMEOUT)?;
        // As the pool's connections (Storage::connect): WAL, and FULL so that a
        // committed event survives power loss, not just a crash.
        opened.pragma_update(None, "journal_mode", "WAL")?;
        opened.pragma_update(None, "synchronous", "FULL")?;
        opened.pragma_update(None, "foreign_keys", true)?;
        opened.set_prepared_statement_cache_capacity(64);
        *connection = Some(opened);
    }
    Ok(connection.as_mut().expect("opened above"))
}

/// One transaction for the batch; an outcome per event. Optimistically
/// without savepoints first; if any event fails, the transaction is rolled
/// back and the batch is written again with a savepoint around each event,
/// so only the failing one is refused.
fn commit(connection: &mut Connection, batch: &[Prepared]) -> rusqlite::Result<Outcomes> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match batch
        .iter()
        .map(|prepared| execute(&tx, prepared))
        .collect::<rusqlite::Result<Vec<_>>>()
    {
        Ok(recorded) => {
            tx.commit()?;
            Ok(recorded.into_iter().map(Ok).collect())
        }
        Err(err) => {
            tracing::warn!(error = %err, "an event of the batch failed; writing each in a savepoint");
            tx.rollback()?;
            commit_each_in_savepoint(connection, batch)
        }
    }
}

fn commit_each_in_savepoint(
    connection: &mut Connection,
    batch: &[Prepared],
) -> rusqlite::Result<Outcomes> {
    let mut tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for prepared in batch {
        let savepoint = tx.savepoint()?;
        match execute(&savepoint, prepared) {
            Ok(recorded) => {
                savepoint.commit()?;
                outcomes.push(Ok(recorded));
            }
            // Dropping the savepoint rolls it back.
            Err(err) => outcomes.push(Err(StorageError::Sqlite(err))),
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// The SQLite side of `postgres::execute`: the event row unless it is a
/// repeat, then its effects.
fn execute(connection: &Connection, prepared: &Prepared) -> rusqlite::Result<Recorded> {
    let mut insert = connection.prepare_cached(prepared.insert_sql)?;
    bind(&mut insert, 1, &prepared.source)?;
    bind(&mut insert, 2, &prepared.key)?;
    bind(&mut insert, 3, &prepared.event_type)?;
    bind(&mut insert, 4, &prepared.user_id)?;
    bind(&mut insert, 5, &prepared.event_time)?;
    bind(&mut insert, 6, &prepared.now)?;
    bind(&mut insert, 7, &prepared.payload)?;
    if let Some(user_id) = &prepared.relinked_user {
        bind(&mut insert, 8, user_id)?;
    }
    let event_id: Option<i64> = {
        let mut rows = insert.raw_query();
        match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        }
    };
    let Some(event_id) = event_id else {
        return Ok(Recorded::Duplicate);
    };
    for statement in &prepared.statements {
        let mut effect = connection.prepare_cached(statement.sql)?;
        for (n, arg) in statement.args.iter().enumerate() {
            bind(&mut effect, n + 1, arg)?;
        }
        effect.raw_execute()?;
    }
    Ok(Recorded::Stored { event_id })
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Arg::Text(value) => value.to_sql(),
            Arg::MaybeText(value) => value.to_sql(),
            Arg::Int(value) => value.to_sql(),
            Arg::Bool(value) => value.to_sql(),
        }
    }
}

/// Binds `$n`. The SQL names its parameters `$1`, `$2`… (for PostgreSQL),
/// and SQLite numbers named parameters in order of first appearance, so the
/// index is looked up by name; a parameter the statement does not use is
/// skipped, as sqlx does.
fn bind(
    statement: &mut rusqlite::CachedStatement<'_>,
    n: usize,
    value: &dyn ToSql,
) -> rusqlite::Result<()> {
    const NAMES: [&str; 12] = [
        "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
    ];
    let name = NAMES
        .get(n - 1)
        .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("${n}")))?;
    match statement.parameter_index(name)? {
        Some(index) => statement.raw_bind_parameter(index, value),
        None => Ok(()),
    }
}
