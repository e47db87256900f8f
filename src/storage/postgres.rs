//! The PostgreSQL backend: the pool, the migrations (`migrations/postgres`)
//! and the event writer, a task that writes each batch in one transaction on
//! one pooled connection, a statement per kind of a wave of events rather
//! than per event (`waves.rs`, `set_sql.rs`).
//!
//! Several instances share the database; the transaction-scoped advisory
//! lock makes their batches commit one after another, so event ids become
//! visible in order and a follower of `/api/events` (which pages by id) never
//! skips one.

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio_util::task::TaskTracker;

use super::{
    ACQUIRE_TIMEOUT, Recorded, StorageError,
    events::Prepared,
    statements::{EventInsert, Param, Statement},
    writer::{EventWriter, WriteBackend},
};
use crate::config::DatabaseUrl;

mod set_sql;
mod waves;

/// A batch's transaction, begun with the event-order lock (7438201) that
/// every instance's writer takes for the length of a batch. One round trip
/// for both: the simple protocol takes the two statements together.
const BEGIN_IN_ORDER: &str = "BEGIN; SELECT pg_advisory_xact_lock(7438201)";
const MAX_CONNECTIONS: u32 = 16;
/// How long one connection attempt may take (sqlx sets none).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every connection's session: no lock wait, statement or idle transaction
/// (another client's, or ours) can stall the service. A lock wait, the
/// writer's advisory lock included, gives up before a webhook's deadline;
/// the server drops a client that vanished (TCP keepalives).
const SESSION: [(&str, &str); 6] = [
    ("lock_timeout", "2s"),
    ("statement_timeout", "30s"),
    ("idle_in_transaction_session_timeout", "60s"),
    ("tcp_keepalives_idle", "30"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "3"),
];

pub(super) async fn connect(
    url: &DatabaseUrl,
    tasks: &TaskTracker,
) -> Result<(PgPool, EventWriter), StorageError> {
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(StorageError::Connect)?
        .options(SESSION);
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(StorageError::Connect)?;
    let (writer, write_batches) = EventWriter::new(PgWriter {
        pool: pool.clone(),
        tx: None,
    });
    tasks.spawn(write_batches);
    Ok((pool, writer))
}

/// Migrations may rebuild a large table: on a connection of their own,
/// without the service's statement and lock bounds.
pub(super) async fn migrate(pool: &PgPool) -> Result<(), StorageError> {
    let options = pool.connect_options().as_ref().clone();
    let mut connection =
        tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&options))
            .await
            .map_err(|_| StorageError::Connect(sqlx::Error::PoolTimedOut))?
            .map_err(StorageError::Connect)?;
    sqlx::raw_sql("SET statement_timeout = 0; SET lock_timeout = 0")
        .execute(&mut connection)
        .await?;
    sqlx::migrate!("migrations/postgres")
        .run(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

struct PgWriter {
    pool: PgPool,
    tx: Option<Transaction<'static, Postgres>>,
}

impl PgWriter {
    fn tx(&mut self) -> Result<&mut Transaction<'static, Postgres>, StorageError> {
        self.tx.as_mut().ok_or(StorageError::WriterStopped)
    }
}

/// `sql` with `params` bound in order.
fn bound<'q>(
    sql: &'static str,
    params: &'q [Param<'q>],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Text(value) => query.bind(value),
            Param::MaybeText(value) => query.bind(value),
            Param::Int(value) => query.bind(value),
            Param::MaybeInt(value) => query.bind(value),
            Param::Bool(value) => query.bind(value),
        })
}

impl WriteBackend for PgWriter {
    async fn begin(&mut self) -> Result<(), StorageError> {
        let tx = self.pool.begin_with(BEGIN_IN_ORDER).await?;
        self.tx = Some(tx);
        Ok(())
    }

    async fn insert(&mut self, insert: &EventInsert) -> Result<Option<i64>, StorageError> {
        let params = insert.params();
        let row = bound(insert.sql(), &params)
            .fetch_optional(&mut **self.tx()?)
            .await?;
        Ok(match row {
            Some(row) => Some(sqlx::Row::try_get(&row, 0)?),
            None => None,
        })
    }

    async fn execute(&mut self, statement: &Statement) -> Result<u64, StorageError> {
        let params = statement.params();
        let done = bound(statement.sql(), &params)
            .execute(&mut **self.tx()?)
            .await?;
        Ok(done.rows_affected())
    }

    async fn control(&mut self, sql: &'static str) -> Result<(), StorageError> {
        sqlx::query(sql).execute(&mut **self.tx()?).await?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StorageError> {
        let tx = self.tx.take().ok_or(StorageError::WriterStopped)?;
        tx.commit().await?;
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), StorageError> {
        let tx = self.tx.take().ok_or(StorageError::WriterStopped)?;
        tx.rollback().await?;
        Ok(())
    }

    fn reset(&mut self) {
        // Dropping a transaction rolls it back.
        self.tx = None;
    }

    /// A statement per kind of a wave, not per event (`waves.rs`).
    async fn execute_all(&mut self, batch: &[Prepared]) -> Result<Vec<Recorded>, StorageError> {
        waves::execute_all(self, batch).await
    }
}
