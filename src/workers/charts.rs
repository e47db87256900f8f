//! The console's charts' numbers: this instance's answer times added to the
//! shared histogram every few seconds, and the outboxes' depth sampled as
//! often into the current minute's row (by whichever instances run; the
//! count is the same whoever takes it). Old counts are dropped after two days.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{clock::now_millis, state::AppState, storage::charts::AnswerCount, telemetry::Chain};

/// The charts' counts are kept this long (the console's day, and some).
const KEPT_MS: i64 = 2 * 86_400_000;

/// Writes the counts until `shutdown`, then the last ones.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = 0;
    while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
        flush_answer_times(&state).await;
        let now = now_millis();
        // Every tick: the minute's row holds its latest count, and the
        // gauge Grafana draws the same chart from.
        match state
            .storage
            .sample_outboxes(now - now.rem_euclid(60_000))
            .await
        {
            Ok(rows) => {
                for (outbox, status, count) in rows {
                    metrics::gauge!("kakao_outbox_rows", "outbox" => outbox, "status" => status)
                        .set(count as f64);
                }
            }
            Err(err) => tracing::warn!(error = %Chain(&err), "charts: cannot sample the outboxes"),
        }
        if now - last_prune > 3_600_000 {
            last_prune = now;
            if let Err(err) = state.storage.delete_old_chart_rows(now - KEPT_MS).await {
                tracing::warn!(error = %Chain(&err), "charts: cannot delete old counts");
            }
        }
    }
    flush_answer_times(&state).await;
}

/// Adds this instance's answer times to the shared histogram; kept for the
/// next try when the database fails.
async fn flush_answer_times(state: &AppState) {
    let times = &state.deliveries.answer_times;
    let taken = times.take();
    let rows: Vec<AnswerCount> = taken
        .iter()
        .map(|t| AnswerCount {
            minute: t.minute,
            family: t.family.to_owned(),
            le_ms: t.le_ms,
            deliveries: t.deliveries,
        })
        .collect();
    if let Err(err) = state.storage.add_answer_times(&rows).await {
        tracing::warn!(error = %Chain(&err), "charts: cannot write answer times; will retry");
        times.restore(taken);
    }
}
