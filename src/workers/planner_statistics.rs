//! Keeps PostgreSQL's planner statistics up with tables that grow faster
//! than autovacuum looks (`Storage::analyze_grown_tables` says why). Every
//! 2 s (`EVERY`), each table changed by at least `MIN_CHANGED` rows and by
//! half its size since it was last analysed is analysed. On SQLite it does
//! nothing and ends at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{config::DatabaseKind, storage::Storage, telemetry::Chain};

const EVERY: Duration = Duration::from_secs(2);
/// Fewer changed rows than this never make a plan go wrong enough to matter.
const MIN_CHANGED: i64 = 1_000;

pub async fn run(storage: Storage, shutdown: CancellationToken) {
    if storage.kind() != DatabaseKind::Postgres {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
        match storage.analyze_grown_tables(MIN_CHANGED).await {
            Ok(tables) => {
                failing = false;
                for table in tables {
                    tracing::debug!(table, "analysed a table that grew since its last analyse");
                    metrics::counter!("kakao_storage_tables_analyzed_total", "table" => table)
                        .increment(1);
                }
            }
            Err(err) => {
                metrics::counter!("kakao_storage_analyze_failures_total").increment(1);
                // Once a streak: it is tried again every two seconds.
                if !failing {
                    tracing::warn!(error = %Chain(&err), "cannot analyse the tables that grew: until autovacuum does, statements on them may be planned for their old size; it is tried again every 2 s");
                }
                failing = true;
            }
        }
    }
}
