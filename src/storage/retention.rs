//! Rows that would otherwise only grow, deleted once past their retention,
//! a bounded batch per statement so the event writer never waits long:
//! events (kept `EVENT_ROW_RETENTION_DAYS`, the window in which a
//! redelivery is still recognised), ended bot replies and messages, and
//! ended sessions (kept `EVENT_RETENTION_DAYS` after they end).

use super::{Storage, StorageError, in_write_tx, with_pool};

impl Storage {
    /// Runs a delete of one batch, `sql` taking the cut-off (`$1`) and the
    /// batch's size (`$2`); how many rows went.
    pub(super) async fn delete_batch(
        &self,
        sql: &'static str,
        before: i64,
        batch: i64,
    ) -> Result<u64, StorageError> {
        Ok(in_write_tx!(self, |tx| {
            sqlx::query(sql)
                .bind(before)
                .bind(batch)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }))
    }

    /// Deletes up to `batch` events received before `before` (ms), oldest
    /// first; returns how many. Outbox rows that still name one lose the
    /// reference, not their row.
    pub async fn delete_old_events(&self, before: i64, batch: i64) -> Result<u64, StorageError> {
        // Ids grow with time: when the oldest row is recent, nothing is old,
        // and no scan is made.
        const OLDEST: &str = "SELECT received_at FROM events ORDER BY event_id LIMIT 1";
        const CUT: &str = "SELECT MAX(event_id) FROM (
            SELECT event_id FROM events WHERE received_at < $1
            ORDER BY event_id LIMIT $2) AS old";
        const UNLINK_OUTBOX: &str = "UPDATE bot_outbox SET event_id = NULL
            WHERE event_id IN (SELECT event_id FROM events WHERE event_id <= $2 AND received_at < $1)";
        const UNLINK_NOTIFICATIONS: &str = "UPDATE notifications SET event_id = NULL
            WHERE event_id IN (SELECT event_id FROM events WHERE event_id <= $2 AND received_at < $1)";
        const DELETE: &str = "DELETE FROM events WHERE event_id <= $2 AND received_at < $1";
        let oldest: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(OLDEST).fetch_optional(pool).await?
        });
        if oldest.is_none_or(|received| received >= before) {
            return Ok(0);
        }
        Ok(in_write_tx!(self, |tx| {
            let cut: Option<i64> = sqlx::query_scalar(CUT)
                .bind(before)
                .bind(batch)
                .fetch_one(&mut *tx)
                .await?;
            match cut {
                None => 0,
                Some(cut) => {
                    for sql in [UNLINK_OUTBOX, UNLINK_NOTIFICATIONS] {
                        sqlx::query(sql)
                            .bind(before)
                            .bind(cut)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query(DELETE)
                        .bind(before)
                        .bind(cut)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                }
            }
        }))
    }

    /// Deletes up to `batch` bot replies and messages that ended before
    /// `before` (ms); pending ones stay until they end.
    pub async fn delete_old_bot_outbox(
        &self,
        before: i64,
        batch: i64,
    ) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM bot_outbox WHERE outbox_id IN (
            SELECT outbox_id FROM bot_outbox
            WHERE status <> 'pending' AND finished_at < $1
            ORDER BY outbox_id LIMIT $2)";
        self.delete_batch(SQL, before, batch).await
    }

    /// Deletes up to `batch` sessions revoked before `before` (ms); active
    /// ones stay.
    pub async fn delete_old_sessions(&self, before: i64, batch: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM sessions WHERE session_id IN (
            SELECT session_id FROM sessions WHERE revoked_at < $1 LIMIT $2)";
        self.delete_batch(SQL, before, batch).await
    }
}
