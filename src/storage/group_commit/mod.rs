//! Group commit: one writer per instance stores events many per transaction,
//! so one fsync (one WAL flush on PostgreSQL) serves a whole batch instead of
//! one per webhook, and writers never queue for the database's lock one by
//! one. Nobody is answered before the COMMIT that holds their event; a failed
//! COMMIT fails the whole batch. Each backend has its writer: `sqlite.rs` (a
//! thread with rusqlite) and `postgres.rs` (a task on the pool).
//!
//! A batch is first written whole; if any event fails, it is rolled back and
//! written again with a savepoint around each event, so only the failing one
//! is refused.

mod postgres;
mod sqlite;

use std::{fmt::Display, path::PathBuf};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{Recorded, StorageError, events::Prepared};

/// Most events in one transaction.
const MAX_BATCH: usize = 512;
/// Events waiting for the writer before senders wait too.
const QUEUE: usize = 4096;

struct Pending {
    prepared: Prepared,
    done: oneshot::Sender<Result<Recorded, StorageError>>,
}

/// An outcome per event of a committed batch.
type Outcomes = Vec<Result<Recorded, StorageError>>;

/// A handle to the writer; the writer ends when every handle is dropped.
#[derive(Debug)]
pub struct GroupCommit {
    sender: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// SQLite's writer for the file at `path` (which the pool has created and
    /// migrated; the writer opens it at its first batch).
    pub fn start_sqlite(path: PathBuf) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || sqlite::write_batches(&path, receiver))?;
        Ok(Self { sender })
    }

    /// PostgreSQL's writer, a task taking one connection of `pool` a batch.
    pub fn start_postgres(pool: PgPool) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(postgres::write_batches(pool, receiver));
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

/// Tells each sender how its event fared, once its batch is over.
fn answer<E: Display>(
    done: Vec<oneshot::Sender<Result<Recorded, StorageError>>>,
    result: Result<Outcomes, E>,
) {
    metrics::histogram!("kakao_storage_batch_size").record(done.len() as f64);
    match result {
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
