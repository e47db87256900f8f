//! The notification outbox: rows written by the event writer (see
//! `changes.rs`), claimed by the notifier with a lease (and `SKIP LOCKED` on
//! PostgreSQL), so several instances never send one notification at the same
//! time. `attempts` numbers the claims, and every later update names the
//! claim: a worker whose lease ran out changes nothing.

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx, with_pool};
use crate::clock::now_millis;

/// A claimed notification, to be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ClaimedNotification {
    pub notification_id: i64,
    pub body: String,
    pub created_at: i64,
    /// Claims so far, this one included.
    pub attempts: i64,
}

/// A notification as `GET /api/notifications` shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Notification {
    pub notification_id: i64,
    pub notification_type: String,
    pub event_id: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// When the next attempt is due (or, while one runs, its lease's end).
    pub run_at: i64,
    pub body: String,
}

/// A notification's state, as the API filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationStatus {
    Pending,
    Delivered,
    Failed,
    /// Written while `APP_NOTIFY_URL` was unset; sent by `renotify`.
    Held,
}

impl NotificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Held => "held",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed, Self::Held]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// Where a notification goes: the app (`APP_NOTIFY_URL`), the alert
/// webhook (`ALERT_WEBHOOK_URL`) or the broker (`EVENT_STREAM_URL`). One
/// outbox holds them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    App,
    Alert,
    Stream,
}

impl Destination {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Alert => "alert",
            Self::Stream => "stream",
        }
    }

    /// The destinations the API names (`app`, `stream`).
    pub fn parse(text: &str) -> Option<Self> {
        [Self::App, Self::Stream]
            .into_iter()
            .find(|destination| destination.as_str() == text)
    }
}

/// Why an attempt failed: the app's status, if it answered, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    pub status: Option<u16>,
    pub error: String,
}

/// SQLite's claim (one writer at a time, so nothing to lock). The outer
/// condition repeats the inner one, as in `bot.rs`. Due rows go oldest
/// first, so a backlog (after a pause) reaches the app in order.
const CLAIM_NOTIFICATIONS_SQLITE: &str =
    "UPDATE notifications SET run_at = $1, attempts = attempts + 1
    WHERE status = 'pending' AND run_at <= $2 AND destination = $4
      AND notification_id IN (SELECT notification_id FROM notifications
                              WHERE status = 'pending' AND run_at <= $2
                                AND destination = $4
                              ORDER BY notification_id LIMIT $3)
    RETURNING notification_id, body, created_at, attempts";

/// PostgreSQL's claim, picked once in a materialized CTE (see `bot.rs`:
/// `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may claim more than `n`).
const CLAIM_NOTIFICATIONS_POSTGRES: &str = "WITH due AS MATERIALIZED (
        SELECT notification_id FROM notifications
        WHERE status = 'pending' AND run_at <= $2 AND destination = $4
        ORDER BY notification_id LIMIT $3 FOR UPDATE SKIP LOCKED)
    UPDATE notifications SET run_at = $1, attempts = attempts + 1
    FROM due WHERE notifications.notification_id = due.notification_id
      AND status = 'pending' AND run_at <= $2 AND destination = $4
    RETURNING notifications.notification_id, body, created_at, attempts";

const COLUMNS: &str = "notification_id, notification_type, event_id, status, attempts,
    last_status, last_error, created_at, finished_at, run_at, body";

impl Storage {
    /// Claims up to `limit` due notifications for `destination` until
    /// `lease_until` (ms).
    pub async fn claim_notifications(
        &self,
        destination: Destination,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedNotification>, StorageError> {
        let sql = self.dialect(CLAIM_NOTIFICATIONS_SQLITE, CLAIM_NOTIFICATIONS_POSTGRES);
        Ok(in_write_tx!(self, |tx| {
            sqlx::query_as(sql)
                .bind(lease_until)
                .bind(now_millis())
                .bind(limit)
                .bind(destination.as_str())
                .fetch_all(&mut *tx)
                .await?
        }))
    }

    /// The app took it (2xx). False when the claim was lost meanwhile.
    pub async fn notification_delivered(
        &self,
        claimed: &ClaimedNotification,
        status: u16,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE notifications SET status = 'delivered', finished_at = $3,
                last_status = $4, last_error = $5
            WHERE notification_id = $1 AND attempts = $2 AND status = 'pending'";
        self.update_notification_claim(SQL, claimed, now_millis(), Some(i64::from(status)), None)
            .await
    }

    /// Due again at `run_at` (ms), or, with `run_at` `None`, failed for good.
    pub async fn notification_attempt_failed(
        &self,
        claimed: &ClaimedNotification,
        failure: &AttemptFailure,
        run_at: Option<i64>,
    ) -> Result<bool, StorageError> {
        const RETRY: &str =
            "UPDATE notifications SET run_at = $3, last_status = $4, last_error = $5
            WHERE notification_id = $1 AND attempts = $2 AND status = 'pending'";
        const FAIL: &str = "UPDATE notifications SET status = 'failed', finished_at = $3,
                last_status = $4, last_error = $5
            WHERE notification_id = $1 AND attempts = $2 AND status = 'pending'";
        let (sql, at) = match run_at {
            Some(at) => (RETRY, at),
            None => (FAIL, now_millis()),
        };
        let status = failure.status.map(i64::from);
        self.update_notification_claim(sql, claimed, at, status, Some(&failure.error))
            .await
    }

    /// Runs a claim-guarded update: `$1` the row, `$2` the claim, then `at`,
    /// the app's status and the error. True when the claim still held.
    async fn update_notification_claim(
        &self,
        sql: &'static str,
        claimed: &ClaimedNotification,
        at: i64,
        status: Option<i64>,
        error: Option<&str>,
    ) -> Result<bool, StorageError> {
        let rows = in_write_tx!(self, |tx| {
            sqlx::query(sql)
                .bind(claimed.notification_id)
                .bind(claimed.attempts)
                .bind(at)
                .bind(status)
                .bind(error)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(rows == 1)
    }

    /// Notifications after `after` (an id) in id order, of one status or all.
    pub async fn notifications(
        &self,
        status: Option<NotificationStatus>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StorageError> {
        self.notifications_to(Destination::App, status, after, limit)
            .await
    }

    /// [`Storage::notifications`] to `destination` (the console lists the
    /// alert webhook's too).
    pub async fn notifications_to(
        &self,
        destination: Destination,
        status: Option<NotificationStatus>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications
             WHERE notification_id > $1 AND ($2 IS NULL OR status = $2)
               AND destination = $4
             ORDER BY notification_id LIMIT $3"
        );
        let status = status.map(NotificationStatus::as_str);
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(after)
                .bind(status)
                .bind(limit)
                .bind(destination.as_str())
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn notification(&self, id: i64) -> Result<Option<Notification>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE notification_id = $1 AND destination = 'app'"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// A failed notification gets one more attempt, now (failing again, it
    /// is failed again). False unless it was failed.
    pub async fn retry_notification(&self, id: i64) -> Result<bool, StorageError> {
        const SQL: &str =
            "UPDATE notifications SET status = 'pending', run_at = $2, finished_at = NULL
            WHERE notification_id = $1 AND status = 'failed'";
        let rows = in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(id)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(rows == 1)
    }

    /// Deletes up to `batch` delivered or failed notifications queued before
    /// `before` (ms); returns how many.
    pub async fn delete_old_notifications(
        &self,
        before: i64,
        batch: i64,
    ) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM notifications WHERE notification_id IN (
            SELECT notification_id FROM notifications
            WHERE status <> 'pending' AND created_at < $1
            ORDER BY notification_id LIMIT $2)";
        self.delete_batch(SQL, before, batch).await
    }

    /// When the oldest pending notification for `destination` was queued
    /// (ms), if any.
    pub async fn oldest_pending_notification(
        &self,
        destination: Destination,
    ) -> Result<Option<i64>, StorageError> {
        // The lowest pending id is the oldest (ids are taken in time order,
        // and a replay keeps a row's id): one step down the partial index of
        // pending rows. MIN(created_at) walked every delivered row instead,
        // on every claim, and slowed everything as the table grew (found by
        // `loadtest --soak`).
        const SQL: &str = "SELECT created_at FROM notifications
            WHERE status = 'pending' AND destination = $1
            ORDER BY notification_id LIMIT 1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(destination.as_str())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// How many notifications for the app are `failed`.
    pub async fn failed_notifications(&self) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM notifications
            WHERE status = 'failed' AND destination = 'app'";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).fetch_one(pool).await?
        }))
    }
}
