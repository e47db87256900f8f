//! Event retention (`EVENT_RETENTION_DAYS`): stored payloads older than that
//! are erased in the background, a bounded batch at a time so the event
//! writer never waits long behind it. Rows stay (ids, types, times, dedupe
//! keys): a redelivery weeks later is still recognised as one. Delivered and
//! failed notifications older than that are deleted.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{clock::now_millis, storage::Storage, telemetry::Chain};

/// Payloads erased per statement.
const BATCH: i64 = 500;
/// Between batches, so other writers get the database.
const PAUSE: Duration = Duration::from_millis(50);
/// Between sweeps once nothing is left to erase.
const EVERY: Duration = Duration::from_secs(15 * 60);

/// Sweeps at start and then every `EVERY` until `shutdown`.
pub async fn run(storage: Storage, retention: Duration, shutdown: CancellationToken) {
    loop {
        sweep(&storage, retention, &shutdown).await;
        if shutdown
            .run_until_cancelled(tokio::time::sleep(EVERY))
            .await
            .is_none()
        {
            return;
        }
    }
}

async fn sweep(storage: &Storage, retention: Duration, shutdown: &CancellationToken) {
    let before = now_millis() - retention.as_millis() as i64;
    let erased = in_batches(shutdown, "erase old payloads", || {
        storage.erase_old_payloads(before, BATCH)
    })
    .await;
    metrics::counter!("kakao_event_payloads_expired_total").increment(erased);
    // Ended notifications go too; pending ones stay until they end.
    let deleted = in_batches(shutdown, "delete old notifications", || {
        storage.delete_old_notifications(before, BATCH)
    })
    .await;
    if erased + deleted > 0 {
        tracing::info!(
            erased,
            deleted,
            "retention: payloads and ended notifications past EVENT_RETENTION_DAYS removed"
        );
    }
}

/// Runs `step` until it does nothing (or fails, or shutdown); the rows done.
async fn in_batches<F, Fut>(shutdown: &CancellationToken, what: &str, mut step: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::storage::StorageError>>,
{
    let mut done = 0;
    while !shutdown.is_cancelled() {
        match step().await {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                tokio::time::sleep(PAUSE).await;
            }
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "retention: cannot {what}; will retry");
                break;
            }
        }
    }
    done
}
