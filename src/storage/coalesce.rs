//! Many tasks' small writes made one: each task queues its item and waits,
//! and one task writes everything queued meanwhile with one call (one
//! statement, one commit: one WAL flush on PostgreSQL). An outbox finishing
//! its rows under load then pays a round trip and a flush for dozens of rows,
//! not each; a row finished alone waits for nothing.

use std::{future::Future, sync::Arc};

use tokio::sync::{mpsc, oneshot};

use super::StorageError;

struct Queued<I, O> {
    item: I,
    done: oneshot::Sender<Result<O, StorageError>>,
}

/// A handle to the writing task, which ends when every handle is dropped.
pub struct Coalescer<I, O> {
    sender: mpsc::Sender<Queued<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> Coalescer<I, O> {
    /// Starts the task: `write` gets up to `max` items and returns an
    /// outcome per item, in order. `name` is for the log.
    pub fn spawn<W, Written>(name: &'static str, max: usize, mut write: W) -> Self
    where
        W: FnMut(Vec<I>) -> Written + Send + 'static,
        Written: Future<Output = Result<Vec<O>, StorageError>> + Send,
    {
        let (sender, mut receiver) = mpsc::channel::<Queued<I, O>>(max);
        tokio::spawn(async move {
            let mut queued = Vec::with_capacity(max);
            while receiver.recv_many(&mut queued, max).await > 0 {
                let (items, dones): (Vec<_>, Vec<_>) =
                    queued.drain(..).map(|q| (q.item, q.done)).unzip();
                match write(items).await {
                    Ok(outcomes) => {
                        for (done, outcome) in dones.into_iter().zip(outcomes) {
                            let _ = done.send(Ok(outcome));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %crate::telemetry::Chain(&err), rows = dones.len(), "{name}: a batched write failed");
                        let cause = Arc::new(err);
                        for done in dones {
                            let _ = done.send(Err(StorageError::BatchFailed(Arc::clone(&cause))));
                        }
                    }
                }
            }
        });
        Self { sender }
    }

    /// Queues `item` and waits for its outcome.
    pub async fn write(&self, item: I) -> Result<O, StorageError> {
        let (done, outcome) = oneshot::channel();
        self.sender
            .send(Queued { item, done })
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        outcome.await.map_err(|_| StorageError::WriterStopped)?
    }
}
