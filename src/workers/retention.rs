//! Retention, in the background, a bounded batch at a time so the event
//! writer never waits long behind it:
//! - stored payloads are erased `EVENT_RETENTION_DAYS` after they arrive;
//!   their rows stay (ids, types, times, dedupe keys), so a redelivery weeks
//!   later is still recognised as one;
//! - the rows themselves go `EVENT_ROW_RETENTION_DAYS` after they arrive;
//! - ended notifications, bot replies and messages, and ended sessions go
//!   `EVENT_RETENTION_DAYS` after they end. Nothing else grows per delivery:
//!   the alerts' tallies are pruned by the alerts worker, jobs end.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{clock::now_millis, storage::Storage, telemetry::Chain};

/// Payloads erased per statement.
const BATCH: i64 = 500;
/// Between batches, so other writers get the database.
const PAUSE: Duration = Duration::from_millis(50);
/// Between sweeps once nothing is left to erase.
const EVERY: Duration = Duration::from_secs(15 * 60);

/// How long what is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Payloads, and what has ended (notifications, bot outbox, sessions).
    pub payloads: Duration,
    /// Event rows.
    pub rows: Duration,
}

/// Sweeps at start and then every `EVERY` until `shutdown`.
pub async fn run(storage: Storage, retention: Retention, shutdown: CancellationToken) {
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

/// One sweep of everything past its retention; what it removed, by kind.
pub async fn sweep(
    storage: &Storage,
    retention: Retention,
    shutdown: &CancellationToken,
) -> [u64; 5] {
    let now = now_millis();
    let before = now - retention.payloads.as_millis() as i64;
    let rows_before = now - retention.rows.as_millis() as i64;
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
    let outbox = in_batches(shutdown, "delete old bot replies", || {
        storage.delete_old_bot_outbox(before, BATCH)
    })
    .await;
    let sessions = in_batches(shutdown, "delete old sessions", || {
        storage.delete_old_sessions(before, BATCH)
    })
    .await;
    let events = in_batches(shutdown, "delete old events", || {
        storage.delete_old_events(rows_before, BATCH)
    })
    .await;
    metrics::counter!("kakao_retention_rows_deleted_total", "table" => "events").increment(events);
    if erased + deleted + outbox + sessions + events > 0 {
        tracing::info!(
            erased,
            notifications = deleted,
            bot_outbox = outbox,
            sessions,
            events,
            "retention: payloads and rows past their retention removed"
        );
    }
    [erased, deleted, outbox, sessions, events]
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
