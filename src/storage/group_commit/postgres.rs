//! PostgreSQL's event writer: a task that writes each batch in one
//! transaction on one pooled connection. Several instances share the
//! database; the transaction-scoped advisory lock makes their batches commit
//! one after another, so event ids become visible in order and a follower of
//! `/api/events` (which pages by id) never skips one.

use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use super::{MAX_BATCH, Outcomes, Pending, answer};
use crate::storage::{Recorded, StorageError, effects::Arg, events::Prepared};

/// Taken by every instance's writer for the length of a batch.
const EVENT_ORDER_LOCK: i64 = 7438201;

pub(super) async fn write_batches(pool: PgPool, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (prepared, done): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.prepared, p.done)).unzip();
        answer(done, commit(&pool, &prepared).await);
    }
}

async fn commit(pool: &PgPool, batch: &[Prepared]) -> Result<Outcomes, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_event_order(&mut tx).await?;
    let mut recorded = Vec::with_capacity(batch.len());
    let mut failed = None;
    for prepared in batch {
        match execute(&mut tx, prepared).await {
            Ok(outcome) => recorded.push(outcome),
            Err(err) => {
                failed = Some(err);
                break;
            }
        }
    }
    if let Some(err) = failed {
        tracing::warn!(error = %err, "an event of the batch failed; writing each in a savepoint");
        tx.rollback().await?;
        return commit_each_in_savepoint(pool, batch).await;
    }
    tx.commit().await?;
    Ok(recorded.into_iter().map(Ok).collect())
}

async fn commit_each_in_savepoint(
    pool: &PgPool,
    batch: &[Prepared],
) -> Result<Outcomes, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_event_order(&mut tx).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for prepared in batch {
        // A transaction begun inside one is a SAVEPOINT.
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        match execute(&mut savepoint, prepared).await {
            Ok(recorded) => {
                savepoint.commit().await?;
                outcomes.push(Ok(recorded));
            }
            Err(err) => {
                savepoint.rollback().await?;
                outcomes.push(Err(StorageError::Database(err)));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn lock_event_order(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EVENT_ORDER_LOCK)
        .execute(tx)
        .await?;
    Ok(())
}

/// Inserts an event (unless it is a repeat) and applies its effects. The row
/// says it was applied from the start: the event and its effects commit
/// together or not at all. (SQLite's writer runs the same SQL.)
async fn execute(tx: &mut PgConnection, prepared: &Prepared) -> Result<Recorded, sqlx::Error> {
    let mut insert = sqlx::query_scalar::<_, i64>(prepared.insert_sql)
        .bind(prepared.source)
        .bind(prepared.key.as_str())
        .bind(prepared.event_type.as_str())
        .bind(prepared.user_id.as_deref())
        .bind(prepared.event_time)
        .bind(prepared.now)
        .bind(prepared.payload.as_str());
    if let Some(user_id) = &prepared.relinked_user {
        insert = insert.bind(user_id.as_str());
    }
    let Some(event_id) = insert.fetch_optional(&mut *tx).await? else {
        return Ok(Recorded::Duplicate);
    };
    for statement in &prepared.statements {
        let mut query = sqlx::query(statement.sql);
        for arg in &statement.args {
            query = match arg {
                Arg::Text(value) => query.bind(value.as_str()),
                Arg::MaybeText(value) => query.bind(value.as_deref()),
                Arg::Int(value) => query.bind(*value),
                Arg::Bool(value) => query.bind(*value),
            };
        }
        query.execute(&mut *tx).await?;
    }
    Ok(Recorded::Stored { event_id })
}
