//! The event writer (group commit): one writer per instance stores events
//! many per transaction, so one fsync (one WAL flush on PostgreSQL) serves a
//! whole batch instead of one per webhook, and writers never queue for the
//! database's lock one by one. Nobody is answered before the COMMIT that
//! holds their event; a failed COMMIT fails the whole batch, logged once here.
//!
//! A batch is first written whole; if any event fails, it is rolled back and
//! written again with a savepoint around each event, so only the failing one
//! is refused. The algorithm is written once, over [`WriteBackend`]; each
//! backend (`sqlite.rs`, `postgres.rs`) says how to begin, run a statement
//! and commit, and may write a whole batch its own faster way
//! ([`WriteBackend::execute_all`]: PostgreSQL's is `postgres/waves.rs`).

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    Recorded, StorageError, changes,
    events::Prepared,
    statements::{EventInsert, MarkEventChangedNothing, Statement},
};

/// Most events in one transaction.
const MAX_BATCH: usize = 512;
/// Events waiting for the writer before senders wait too.
const QUEUE: usize = 4096;

/// Savepoint statements, the same on both backends.
const SAVEPOINT: &str = "SAVEPOINT event";
const RELEASE: &str = "RELEASE SAVEPOINT event";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT event";

/// What the writer needs of a database: one transaction at a time.
pub(super) trait WriteBackend: Send + 'static {
    /// Begins a write transaction (taking whatever lock orders batches).
    fn begin(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Runs the event's insert: its id, or `None` for a repeat.
    fn insert(
        &mut self,
        insert: &EventInsert,
    ) -> impl Future<Output = Result<Option<i64>, StorageError>> + Send;
    /// Runs a statement: how many rows it changed.
    fn execute(
        &mut self,
        statement: &Statement,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;
    /// Runs a statement without parameters (the savepoints).
    fn control(
        &mut self,
        sql: &'static str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn commit(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn rollback(&mut self) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Forgets the connection after a failure: the next batch opens afresh.
    fn reset(&mut self);

    /// Writes the batch's events in order, in the open transaction without
    /// savepoints: an outcome each, or the first failure. One statement at a
    /// time, unless the backend has a faster way to the same rows.
    fn execute_all(
        &mut self,
        batch: &[Prepared],
    ) -> impl Future<Output = Result<Vec<Recorded>, StorageError>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut recorded = Vec::with_capacity(batch.len());
            for prepared in batch {
                recorded.push(execute(self, prepared).await?);
            }
            Ok(recorded)
        }
    }
}

struct Pending {
    prepared: Prepared,
    done: oneshot::Sender<Result<Recorded, StorageError>>,
}

/// An outcome per event of a committed batch.
type Outcomes = Vec<Result<Recorded, StorageError>>;

/// A handle to the writer. The writer ends when [`EventWriter::stop`] is
/// called (after writing what is queued) or every handle is dropped.
#[derive(Debug)]
pub(super) struct EventWriter {
    sender: mpsc::Sender<Pending>,
    stop: CancellationToken,
    /// Resolves (closed) when the writer's loop has ended.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
    /// Batches written again an event at a time, after one failed whole.
    rewritten: Arc<AtomicU64>,
}

impl EventWriter {
    /// The writer's handle, and the loop that serves it (for the backend to
    /// run on a task or a thread).
    pub(super) fn new<B: WriteBackend>(backend: B) -> (Self, impl Future<Output = ()> + Send) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let (ended, stopped) = oneshot::channel();
        let stop = CancellationToken::new();
        let rewritten = Arc::new(AtomicU64::new(0));
        let writer = Self {
            sender,
            stop: stop.clone(),
            stopped: Mutex::new(Some(stopped)),
            rewritten: Arc::clone(&rewritten),
        };
        let run = async move {
            write_batches(backend, receiver, stop, rewritten).await;
            drop(ended);
        };
        (writer, run)
    }

    /// Writes what is queued, refuses what comes after, and returns once the
    /// writer has ended.
    pub(super) async fn stop(&self) {
        self.stop.cancel();
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(stopped) = stopped {
            let _ = stopped.await;
        }
    }

    /// Whether the writer's loop still runs (it ends when stopped, or if it
    /// panicked: every webhook would then be refused).
    pub(super) fn is_running(&self) -> bool {
        !self.sender.is_closed()
    }

    /// How many batches were written again an event at a time.
    pub(super) fn rewritten(&self) -> u64 {
        self.rewritten.load(Ordering::Relaxed)
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

async fn write_batches<B: WriteBackend>(
    mut backend: B,
    mut receiver: mpsc::Receiver<Pending>,
    stop: CancellationToken,
    rewritten: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    loop {
        let received = tokio::select! {
            received = receiver.recv_many(&mut batch, MAX_BATCH) => received,
            () = stop.cancelled(), if !stopping => {
                // What is queued is still received, then `recv_many` gives 0.
                receiver.close();
                stopping = true;
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let (prepared, done): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|p| (p.prepared, p.done)).unzip();
        let started = std::time::Instant::now();
        let result = commit(&mut backend, &prepared, &rewritten).await;
        metrics::histogram!("kakao_storage_batch_seconds").record(started.elapsed().as_secs_f64());
        if result.is_err() {
            backend.reset();
        }
        answer(done, result);
    }
}

/// One transaction for the batch; an outcome per event. Optimistically
/// without savepoints first.
async fn commit<B: WriteBackend>(
    db: &mut B,
    batch: &[Prepared],
    rewritten: &AtomicU64,
) -> Result<Outcomes, StorageError> {
    db.begin().await?;
    match db.execute_all(batch).await {
        Ok(recorded) => {
            db.commit().await?;
            Ok(recorded.into_iter().map(Ok).collect())
        }
        Err(err) => {
            tracing::warn!(error = %crate::telemetry::Chain(&err), "an event of the batch failed; writing each in a savepoint");
            rewritten.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("kakao_storage_batches_rewritten_total").increment(1);
            db.rollback().await?;
            commit_each_in_savepoint(db, batch).await
        }
    }
}

async fn commit_each_in_savepoint<B: WriteBackend>(
    db: &mut B,
    batch: &[Prepared],
) -> Result<Outcomes, StorageError> {
    db.begin().await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for prepared in batch {
        db.control(SAVEPOINT).await?;
        match execute(db, prepared).await {
            Ok(recorded) => {
                db.control(RELEASE).await?;
                outcomes.push(Ok(recorded));
            }
            Err(err) => {
                db.control(ROLLBACK_TO).await?;
                db.control(RELEASE).await?;
                outcomes.push(Err(err));
            }
        }
    }
    db.commit().await?;
    Ok(outcomes)
}

/// Inserts an event (unless it is a repeat) and applies its effects. The row
/// says it was applied from the start: the event and its effects commit
/// together or not at all, and so do the notifications of what changed.
pub(super) async fn execute<B: WriteBackend>(
    db: &mut B,
    prepared: &Prepared,
) -> Result<Recorded, StorageError> {
    let Some(event_id) = db.insert(&prepared.insert).await? else {
        return Ok(Recorded::Duplicate);
    };
    let mut rows = Vec::with_capacity(prepared.statements.len());
    for statement in &prepared.statements {
        rows.push(db.execute(statement).await?);
    }
    for statement in follow_ups(prepared, event_id, &rows) {
        db.execute(&statement).await?;
    }
    Ok(Recorded::Stored { event_id })
}

/// What follows an event's statements, given the rows each changed (only
/// those of [`changes::is_change`] statements are read): the mark of an event
/// that changed nothing, and a notification of each change it made.
pub(super) fn follow_ups(prepared: &Prepared, event_id: i64, rows: &[u64]) -> Vec<Statement> {
    let mut applied = Vec::new();
    let (mut changes_asked, mut changed) = (false, false);
    for (statement, &rows) in prepared.statements.iter().zip(rows) {
        if changes::is_change(statement) {
            changes_asked = true;
            changed |= rows > 0;
        }
        if rows > 0 {
            applied.extend(changes::of(statement, rows));
        }
    }
    let mut follow = Vec::new();
    if changes_asked && !changed {
        follow.push(MarkEventChangedNothing { event_id }.into());
    }
    let now = crate::clock::now_millis();
    let told = prepared.on_store.iter().cloned().chain(applied);
    for change in changes::merged(told.collect()) {
        for row in prepared.notify.rows() {
            follow.push(changes::notification(change.clone(), event_id, now, row));
        }
    }
    follow
}

/// Tells each sender how its event fared, once its batch is over. A failed
/// batch is logged here, once; each sender gets the shared cause.
fn answer(
    done: Vec<oneshot::Sender<Result<Recorded, StorageError>>>,
    result: Result<Outcomes, StorageError>,
) {
    metrics::histogram!("kakao_storage_batch_size").record(done.len() as f64);
    match result {
        Ok(outcomes) => {
            for (done, outcome) in done.into_iter().zip(outcomes) {
                let _ = done.send(outcome);
            }
        }
        Err(err) => {
            tracing::error!(error = %crate::telemetry::Chain(&err), events = done.len(), "group commit failed; the whole batch is refused");
            let cause = Arc::new(err);
            for done in done {
                let _ = done.send(Err(StorageError::BatchFailed(Arc::clone(&cause))));
            }
        }
    }
}
