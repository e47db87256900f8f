//! The loop every outbox worker runs: claim as many due rows as there are
//! free slots, work each on its own task, and sleep when there is nothing to
//! do (until woken, or the next poll: other instances queue rows too).

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::{Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{storage::StorageError, telemetry::Chain};

/// How often an idle worker looks for rows other instances queued.
const POLL: Duration = Duration::from_millis(500);

/// Claims with `claim(limit)` and runs `work(row)` for each row, at most
/// `concurrency` at once, until `shutdown`. `name` is for the logs.
pub async fn run<T, Claim, Claimed, Work, Worked>(
    name: &'static str,
    concurrency: usize,
    wake: &Notify,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    mut claim: Claim,
    work: Work,
) where
    Claim: FnMut(i64) -> Claimed,
    Claimed: Future<Output = Result<Vec<T>, StorageError>>,
    Work: Fn(T) -> Worked,
    Worked: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency));
    loop {
        let Some(Ok(permit)) = shutdown
            .run_until_cancelled(slots.clone().acquire_owned())
            .await
        else {
            return;
        };
        // As many rows as there are free slots, in one claim.
        let limit = 1 + slots.available_permits();
        match claim(limit as i64).await {
            Ok(rows) if !rows.is_empty() => {
                let mut permit = Some(permit);
                for row in rows {
                    // Only this loop takes slots, so the counted ones are free.
                    let Some(slot) = permit
                        .take()
                        .or_else(|| slots.clone().try_acquire_owned().ok())
                    else {
                        break;
                    };
                    let worked = work(row);
                    tasks.spawn(async move {
                        worked.await;
                        drop(slot);
                    });
                }
            }
            Ok(_) => {
                drop(permit);
                let idle = async {
                    tokio::select! {
                        () = wake.notified() => {},
                        () = tokio::time::sleep(POLL) => {},
                    }
                };
                if shutdown.run_until_cancelled(idle).await.is_none() {
                    return;
                }
            }
            Err(err) => {
                drop(permit);
                metrics::counter!("kakao_outbox_claim_failures_total", "outbox" => name)
                    .increment(1);
                tracing::warn!(error = %Chain(&err), "{name}: cannot claim");
                let _ = shutdown
                    .run_until_cancelled(tokio::time::sleep(POLL * 4))
                    .await;
            }
        }
    }
}
