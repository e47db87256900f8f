//! PostgreSQL's planner statistics, kept up with a database that grows fast.
//!
//! PostgreSQL plans a prepared statement once it has run five times and
//! keeps that plan until a table it reads is analysed again. Autovacuum
//! analyses a table only after 10% of it has changed, and looks once a
//! minute. A new database, or one a burst has doubled, is meanwhile planned
//! as the small thing it was: a claim of 18 bot replies read all 14,200 rows
//! of the outbox, and a batch's reply insert took 5.9 ms instead of 0.9
//! (BENCHMARKS.md, issue 37). So every few seconds this instance analyses
//! any of its tables that has at least doubled since it was last analysed.
//! A large table in steady state never doubles between autovacuum's visits,
//! so this only acts where autovacuum is too slow. SQLite plans each
//! statement from the table as it is: nothing to do there.

use super::{Backend, Storage, StorageError};

/// Taken (without waiting) by the instance that analyses: several instances
/// on one database need not analyse the same tables at once.
const ANALYZE_LOCK: i64 = 7438202;

/// The service's tables (those of the schema it uses) changed by at least
/// `$1` rows, and by at least half as many as they hold, since their last
/// analyse: a table that only grew has at least doubled. Each by its name,
/// and as `ANALYZE` takes it, quoted.
const GROWN: &str = "SELECT relname::text, format('%I.%I', schemaname, relname)
    FROM pg_stat_user_tables
    WHERE schemaname = current_schema()
      AND n_mod_since_analyze >= GREATEST($1, n_live_tup / 2)
    ORDER BY relname";

impl Storage {
    /// Analyses each table changed by at least `min_changed` rows and by
    /// half its size since it was last analysed; returns the names it gave
    /// `ANALYZE` (empty on SQLite, or when another instance is analysing).
    /// `SKIP_LOCKED` passes over a table autovacuum is analysing right now;
    /// it is still named, and comes back next time if autovacuum missed it.
    pub async fn analyze_grown_tables(
        &self,
        min_changed: i64,
    ) -> Result<Vec<String>, StorageError> {
        let Backend::Postgres { pool, .. } = &self.backend else {
            return Ok(Vec::new());
        };
        let mut tx = pool.begin().await?;
        let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(ANALYZE_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !ours {
            return Ok(Vec::new());
        }
        let grown: Vec<(String, String)> = sqlx::query_as(GROWN)
            .bind(min_changed)
            .fetch_all(&mut *tx)
            .await?;
        if !grown.is_empty() {
            // A tenth of the default sample: enough to plan by, and a tenth
            // of the pages read (an ANALYZE of events read for 350-450 ms
            // of a shared core); autovacuum's own analyses, later, sample
            // the default.
            sqlx::query("SET LOCAL default_statistics_target = 10")
                .execute(&mut *tx)
                .await?;
            // Quoted by `format('%I')` above.
            let quoted: Vec<&str> = grown.iter().map(|(_, quoted)| quoted.as_str()).collect();
            let analyze = format!("ANALYZE (SKIP_LOCKED) {}", quoted.join(", "));
            sqlx::raw_sql(sqlx::AssertSqlSafe(analyze))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(grown.into_iter().map(|(name, _)| name).collect())
    }
}
