//! The PostgreSQL backend: the pool, the migrations (`migrations/postgres`)
//! and the event writer, a task that writes each batch in one transaction on
//! one pooled connection.
//!
//! Several instances share the database; the transaction-scoped advisory
//! lock makes their batches commit one after another, so event ids become
//! visible in order and a follower of `/api/events` (which pages by id) never
//! skips one.

use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};
use tokio_util::task::TaskTracker;

use super::{
    ACQUIRE_TIMEOUT, StorageError,
    statements::{EventInsert, Param, Statement},
    writer::{EventWriter, WriteBackend},
};
use crate::config::DatabaseUrl;

/// Taken by every instance's writer for the length of a batch.
const EVENT_ORDER_LOCK: i64 = 7438201;
const MAX_CONNECTIONS: u32 = 16;

pub(super) async fn connect(
    url: &DatabaseUrl,
    tasks: &TaskTracker,
) -> Result<(PgPool, EventWriter), StorageError> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url.expose())
        .await
        .map_err(StorageError::Connect)?;
    let (writer, write_batches) = EventWriter::new(PgWriter {
        pool: pool.clone(),
        tx: None,
    });
    tasks.spawn(write_batches);
    Ok((pool, writer))
}

pub(super) async fn migrate(pool: &PgPool) -> Result<(), StorageError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_ORDER_LOCK)
            .execute(&mut *tx)
            .await?;
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
}
