//! What the console's charts read: deliveries per outcome, answer-time
//! histograms and the outboxes' depth, per stretch of time, from every
//! instance's counts.

use super::{Storage, StorageError, in_write_tx, with_pool};

/// Deliveries of one family in one minute answered within `le_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerCount {
    pub minute: i64,
    pub family: String,
    pub le_ms: i64,
    pub deliveries: i64,
}

/// A count in one stretch of time (`at`, its start in ms) under two names:
/// (family, outcome), (family, bound in ms) or (outbox, status).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Point {
    pub at: i64,
    pub series: String,
    pub part: String,
    pub count: i64,
}

impl Storage {
    /// Adds this instance's answer times to the shared histogram.
    pub async fn add_answer_times(&self, rows: &[AnswerCount]) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO answer_time_tallies (minute, family, le_ms, deliveries)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (minute, family, le_ms) DO UPDATE SET
                deliveries = answer_time_tallies.deliveries + excluded.deliveries";
        if rows.is_empty() {
            return Ok(());
        }
        in_write_tx!(self, |tx| {
            for row in rows {
                sqlx::query(SQL)
                    .bind(row.minute)
                    .bind(&row.family)
                    .bind(row.le_ms)
                    .bind(row.deliveries)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// Writes the outboxes' pending and failed counts as of `minute`
    /// (ms): the app's, the broker's and the alerts' notifications, and
    /// the bot's replies. A minute sampled twice keeps the later count.
    pub async fn sample_outboxes(
        &self,
        minute: i64,
    ) -> Result<Vec<(&'static str, &'static str, i64)>, StorageError> {
        const NOTIFICATIONS: &str = "SELECT destination, status, COUNT(*) FROM notifications
            WHERE status IN ('pending', 'failed') GROUP BY destination, status";
        // One status at a time: each is counted off its partial index.
        const BOT: &str =
            "SELECT 'bot', 'pending', COUNT(*) FROM bot_outbox WHERE status = 'pending'
            UNION ALL SELECT 'bot', 'failed', COUNT(*) FROM bot_outbox WHERE status = 'failed'";
        const UPSERT: &str = "INSERT INTO outbox_samples (minute, outbox, status, count)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (minute, outbox, status) DO UPDATE SET count = excluded.count";
        let mut counts: Vec<(String, String, i64)> = Vec::new();
        for sql in [NOTIFICATIONS, BOT] {
            counts.extend(with_pool!(self, |pool| {
                sqlx::query_as::<_, (String, String, i64)>(sql)
                    .fetch_all(pool)
                    .await?
            }));
        }
        // Every outbox and status gets a row, zeros included: a line that
        // drops to nothing is drawn down to zero, not left hanging.
        let mut rows = Vec::new();
        for outbox in ["app", "stream", "alert", "bot"] {
            for status in ["pending", "failed"] {
                let count = counts
                    .iter()
                    .find(|(o, s, _)| o == outbox && s == status)
                    .map_or(0, |(_, _, n)| *n);
                rows.push((outbox, status, count));
            }
        }
        in_write_tx!(self, |tx| {
            for (outbox, status, count) in &rows {
                sqlx::query(UPSERT)
                    .bind(minute)
                    .bind(outbox)
                    .bind(status)
                    .bind(count)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(rows)
    }

    /// Deliveries since `since` (ms) per `width` ms, family and outcome.
    pub async fn deliveries_over_time(
        &self,
        since: i64,
        width: i64,
    ) -> Result<Vec<Point>, StorageError> {
        const SQL: &str = "SELECT bucket - (bucket % $2) AS at, family AS series,
                outcome AS part, CAST(SUM(deliveries) AS BIGINT) AS count
            FROM delivery_tallies WHERE bucket >= $1 GROUP BY 1, 2, 3 ORDER BY 1";
        self.points(SQL, since, width).await
    }

    /// Answer times since `since` per `width` ms, family and bound.
    pub async fn answer_times_over_time(
        &self,
        since: i64,
        width: i64,
    ) -> Result<Vec<Point>, StorageError> {
        const SQL: &str = "SELECT minute - (minute % $2) AS at, family AS series,
                CAST(le_ms AS TEXT) AS part, CAST(SUM(deliveries) AS BIGINT) AS count
            FROM answer_time_tallies WHERE minute >= $1 GROUP BY 1, 2, 3 ORDER BY 1";
        self.points(SQL, since, width).await
    }

    /// The outboxes' depth since `since`, the largest sample per `width` ms.
    pub async fn outboxes_over_time(
        &self,
        since: i64,
        width: i64,
    ) -> Result<Vec<Point>, StorageError> {
        const SQL: &str = "SELECT minute - (minute % $2) AS at, outbox AS series,
                status AS part, CAST(MAX(count) AS BIGINT) AS count
            FROM outbox_samples WHERE minute >= $1 GROUP BY 1, 2, 3 ORDER BY 1";
        self.points(SQL, since, width).await
    }

    async fn points(
        &self,
        sql: &'static str,
        since: i64,
        width: i64,
    ) -> Result<Vec<Point>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(since)
                .bind(width.max(1))
                .fetch_all(pool)
                .await?
        }))
    }

    /// Drops the charts' counts from before `before` (ms).
    pub async fn delete_old_chart_rows(&self, before: i64) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM answer_time_tallies WHERE minute < $1",
            "DELETE FROM outbox_samples WHERE minute < $1",
        ] {
            deleted += in_write_tx!(self, |tx| {
                sqlx::query(sql)
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            });
        }
        Ok(deleted)
    }
}
