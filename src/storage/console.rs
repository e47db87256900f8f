//! What the operator's console reads that the API does not: a user's events
//! in order, users found by a stored email or phone, and the bot outbox's
//! unfinished rows.

use super::{Session, Storage, StorageError, StoredEvent, notifications::Notification, with_pool};
use crate::ids::UserId;

/// A bot outbox row as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub outbox_id: i64,
    /// The event a reply answers (none for the app's own messages).
    pub event_id: Option<i64>,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error_code: Option<i64>,
    pub last_error_msg: Option<String>,
    pub result: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl Storage {
    /// One stored event.
    pub async fn event(&self, event_id: i64) -> Result<Option<StoredEvent>, StorageError> {
        const SQL: &str = "SELECT * FROM events WHERE event_id = $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(event_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The notifications `event` caused (to the app, the broker), found
    /// through their creation time: they were written in the transaction
    /// that applied it.
    pub async fn notifications_of_event(
        &self,
        event: &StoredEvent,
    ) -> Result<Vec<Notification>, StorageError> {
        const SQL: &str = "SELECT * FROM notifications
            WHERE destination IN ('app', 'stream') AND created_at >= $2 AND created_at <= $3
              AND event_id = $1
            ORDER BY notification_id LIMIT 20";
        let until = event.applied_at.unwrap_or(event.received_at) + 60_000;
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(event.event_id)
                .bind(event.received_at)
                .bind(until)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The bot replies `event_id` caused.
    pub async fn replies_of_event(&self, event_id: i64) -> Result<Vec<OutboxRow>, StorageError> {
        const SQL: &str = "SELECT outbox_id, event_id, kind, status, attempts, last_error_code,
                last_error_msg, result, created_at, finished_at
            FROM bot_outbox WHERE event_id = $1 ORDER BY outbox_id LIMIT 20";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(event_id).fetch_all(pool).await?
        }))
    }

    /// How many of the user's sessions were ended between `from` and `to`
    /// (ms, inclusive): what an event applied then ended.
    pub async fn sessions_ended_between(
        &self,
        user_id: &UserId,
        from: i64,
        to: i64,
    ) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM sessions
            WHERE user_id = $1 AND revoked_at >= $2 AND revoked_at <= $3";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(user_id.as_str())
                .bind(from)
                .bind(to)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The newest `limit` events about `user_id`, newest first.
    pub async fn events_of_user(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        const SQL: &str = "SELECT * FROM events WHERE user_id = $1 ORDER BY event_id DESC LIMIT $2";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(user_id.as_str())
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The user's newest sessions.
    pub async fn sessions_of(&self, user_id: &UserId) -> Result<Vec<Session>, StorageError> {
        const SQL: &str =
            "SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(user_id.as_str())
                .fetch_all(pool)
                .await?
        }))
    }

    /// Users whose stored email or phone number is `identifier`.
    pub async fn users_by_identifier(&self, identifier: &str) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT user_id FROM users WHERE email = $1 OR phone_number = $1
            ORDER BY user_id LIMIT 20";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(identifier)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The state of the reply to the bot message `message_id` (pending,
    /// sent, skipped, failed, expired): `simulate bot` learns from it that
    /// the bot chose not to reply.
    pub async fn bot_reply_status(&self, message_id: &str) -> Result<Option<String>, StorageError> {
        const SQL: &str =
            "SELECT o.status FROM bot_outbox o JOIN events e ON e.event_id = o.event_id
            WHERE e.source = 'bot' AND e.dedupe_key = $1
            ORDER BY o.outbox_id DESC LIMIT 1";
        let key = format!("message:{message_id}");
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(&key)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Bot replies and messages not sent (pending or failed), newest first.
    pub async fn unfinished_bot_outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StorageError> {
        const SQL: &str = "SELECT outbox_id, event_id, kind, status, attempts, last_error_code,
                last_error_msg, result, created_at, finished_at
            FROM bot_outbox WHERE status IN ('pending', 'failed')
            ORDER BY outbox_id DESC LIMIT $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?
        }))
    }
}
