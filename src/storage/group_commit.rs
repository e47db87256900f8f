//! SQLite's single writer: events are committed many per transaction (group
//! commit), so one fsync serves a whole batch instead of one per webhook, and
//! writers never fight over SQLite's lock. Each event has its own savepoint: a
//! failing event is rolled back alone. Nobody is answered before the COMMIT
//! that holds their event; a failed COMMIT fails the whole batch.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::{
    Recorded, StorageError,
    effects::Arg,
    events::{Prepared, bound_statement, execute_prepared},
};

/// Most events in one transaction.
const MAX_BATCH: usize = 512;
/// Events waiting for the writer before senders wait too.
const QUEUE: usize = 4096;

struct Pending {
    prepared: Prepared,
    done: oneshot::Sender<Result<Recorded, StorageError>>,
}

/// A handle to the writer task; the task ends when every handle is dropped.
#[derive(Debug)]
pub struct GroupCommit {
    sender: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl GroupCommit {
    pub fn start(pool: SqlitePool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool, receiver));
        Self { sender }
    }

    pub(super) async fn record(&self, prepared: Prepared) -> Result<Recorded, StorageError> {
        let (done, answer) = oneshot::channel();
        self.sender
            .send(Pending { prepared, done })
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        answer.await.map_err(|_| StorageError::WriterStopped)?
    }
}

async fn write_batches(pool: SqlitePool, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (prepared, done): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.prepared, p.done)).unzip();
        metrics::histogram!("kakao_storage_batch_size").record(prepared.len() as f64);
        match commit(&pool, prepared).await {
            Ok(outcomes) => {
                for (done, outcome) in done.into_iter().zip(outcomes) {
                    let _ = done.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "group commit failed; the whole batch is refused");
                let reason = err.to_string();
                for done in done {
                    let _ = done.send(Err(StorageError::Commit(reason.clone())));
                }
            }
        }
    }
}

/// One transaction for the batch; an outcome per event.
async fn commit(
    pool: &SqlitePool,
    batch: Vec<Prepared>,
) -> Result<Vec<Result<Recorded, StorageError>>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for prepared in batch {
        sqlx::query("SAVEPOINT event").execute(&mut *tx).await?;
        let outcome: Result<Recorded, sqlx::Error> =
            async { Ok(execute_prepared!(tx, prepared)) }.await;
        match outcome {
            Ok(recorded) => {
                sqlx::query("RELEASE event").execute(&mut *tx).await?;
                outcomes.push(Ok(recorded));
            }
            Err(err) => {
                sqlx::query("ROLLBACK TO event").execute(&mut *tx).await?;
                sqlx::query("RELEASE event").execute(&mut *tx).await?;
                outcomes.push(Err(StorageError::Database(err)));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}
