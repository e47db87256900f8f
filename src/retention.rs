//! Event retention (`EVENT_RETENTION_DAYS`): stored payloads older than that
//! are erased in the background, a bounded batch at a time so the event
//! writer never waits long behind it. Rows stay (ids, types, times, dedupe
//! keys): a redelivery weeks later is still recognised as one.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{clock::now_millis, error::Chain, storage::Storage};

/// Payloads erased per statement.
const BATCH: i64 = 500;
/// Between batches, so other writers get the database.
const PAUSE: Duration = Duration::from_millis(50);
/// Between sweeps once nothing is left to erase.
const EVERY: Duration = Duration::from_secs(15 * 60);

/// Sweeps at start and then every [`EVERY`] until `shutdown`.
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
    let mut erased = 0;
    while !shutdown.is_cancelled() {
        match storage.erase_old_payloads(before, BATCH).await {
            Ok(0) => break,
            Ok(n) => {
                erased += n;
                metrics::counter!("kakao_event_payloads_expired_total").increment(n);
                tokio::time::sleep(PAUSE).await;
            }
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "retention: cannot erase old payloads; will retry");
                break;
            }
        }
    }
    if erased > 0 {
        tracing::info!(
            erased,
            "retention: payloads past EVENT_RETENTION_DAYS erased"
        );
    }
}
