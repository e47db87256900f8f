//! The KakaoTalk Bot API's outbox and rooms.
//!
//! One table holds everything the bot sends: replies (a row written in the
//! transaction of the event it answers, see [`super::Effect::QueueBotReply`])
//! and messages the app asks for. Rows are claimed with a lease (and `SKIP
//! LOCKED` on PostgreSQL), as jobs are; `attempts` numbers the claims, and
//! every later update names the claim, so a worker whose lease ran out
//! changes nothing. Rows stay after they end, with their outcome.

use sqlx::FromRow;

use super::{Backend, Storage, StorageError, in_write_tx, with_pool};
use crate::clock::now_millis;

/// What an outbox row sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// The answer to an event, through the callback API.
    Reply,
    /// A message the app asked for, through the send API.
    Message,
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OutboxItem {
    pub outbox_id: i64,
    kind: String,
    pub event_id: Option<i64>,
    /// `botGroupKey` or `botUserKey`, for messages.
    pub target_kind: Option<String>,
    pub target: Option<String>,
    pub callback_token: Option<String>,
    /// The message, or the handler's reply once it was computed.
    pub skill_response: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// The type and payload of the event a reply answers, read by the claim
    /// (a query a reply less). `None` for messages, and once retention has
    /// deleted the event.
    pub event_type: Option<String>,
    pub event_payload: Option<String>,
}

impl OutboxItem {
    pub fn kind(&self) -> OutboxKind {
        if self.kind == "message" {
            OutboxKind::Message
        } else {
            OutboxKind::Reply
        }
    }
}

/// How an outbox row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxEnd {
    Sent,
    /// Kakao refused it for good, or the retries ran out.
    Failed,
    /// Nothing to send: the handler had no reply, or no token to send it with.
    Skipped,
    /// The callback token expired before the reply could go.
    Expired,
}

impl OutboxEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Expired => "expired",
        }
    }
}

/// Kakao's `{code, msg}`, or ours for a failure that never reached Kakao.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KakaoErrorCode {
    pub code: Option<i64>,
    pub msg: String,
}

/// How one claimed row ended, for [`Storage::finish_bot_outboxes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    outbox_id: i64,
    /// The claim that ends it: a worker whose lease ran out changes nothing.
    attempts: i64,
    end: OutboxEnd,
    error: Option<KakaoErrorCode>,
    /// Kakao's answer, as JSON.
    result: Option<String>,
}

impl Finish {
    pub fn new(
        item: &OutboxItem,
        end: OutboxEnd,
        error: Option<KakaoErrorCode>,
        result: Option<String>,
    ) -> Self {
        Self {
            outbox_id: item.outbox_id,
            attempts: item.attempts,
            end,
            error,
            result,
        }
    }
}

/// A message the app asked for, as `GET /api/bot/messages/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BotMessage {
    pub outbox_id: i64,
    pub status: String,
    pub attempts: i64,
    pub last_error_code: Option<i64>,
    pub last_error_msg: Option<String>,
    /// Kakao's `{totalCount, sendCount, errorCount}` as JSON.
    pub result: Option<String>,
}

/// A room the bot entered or left.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BotRoom {
    pub bot_group_key: String,
    pub present: bool,
    pub joined_at: Option<i64>,
    pub left_at: Option<i64>,
}

/// The outcome of asking for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageQueued {
    Queued {
        message_id: i64,
    },
    /// The bot is known to have left that room.
    NotInRoom,
}

/// SQLite's claim (one writer at a time, so nothing to lock). The outer
/// condition repeats the inner one, as PostgreSQL's claim does: it is
/// checked again on the rows as another claim left them.
const CLAIM_OUTBOX_SQLITE: &str = "UPDATE bot_outbox SET run_at = $1, attempts = attempts + 1
    WHERE status = 'pending' AND run_at <= $2
      AND outbox_id IN (SELECT outbox_id FROM bot_outbox
                        WHERE status = 'pending' AND run_at <= $2
                        ORDER BY run_at, outbox_id LIMIT $3)
    RETURNING outbox_id, kind, event_id, target_kind, target, callback_token,
              skill_response, expires_at, created_at, attempts,
              (SELECT event_type FROM events e WHERE e.event_id = bot_outbox.event_id) AS event_type,
              (SELECT payload FROM events e WHERE e.event_id = bot_outbox.event_id) AS event_payload";

/// PostgreSQL's claim: the rows are picked once, by `ARRAY(…)` (an init
/// plan, run once), and locked; `FOR UPDATE` checks each row again as it
/// locks it, and hands back the row's current `ctid`, which nobody can change
/// until this statement ends. `IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`
/// may be run again for each row it is compared with, and then claimed more
/// than `n` rows (`tests/storage/retention.rs` saw two for a limit of one).
///
/// The update finds the picked rows by `ctid` alone. Joined to them by key
/// (through a CTE), a plan made while the outbox was new, before autovacuum
/// first analysed it, compared every due row with each picked one:
/// `auto_explain` saw 64 ms to claim 23 rows among 4,445 due. It is planned
/// for each call (`persistent(false)`): a plan kept from when the outbox was
/// small read it whole for the `ctid`s (15,410 rows for 31, 0.82 ms a claim
/// against 0.32 planned each time, BENCHMARKS.md).
const CLAIM_OUTBOX_POSTGRES: &str = "UPDATE bot_outbox SET run_at = $1, attempts = attempts + 1
    WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM bot_outbox WHERE status = 'pending' AND run_at <= $2
            ORDER BY run_at, outbox_id LIMIT $3 FOR UPDATE SKIP LOCKED))
    RETURNING outbox_id, kind, event_id, target_kind, target, callback_token,
              skill_response, expires_at, created_at, attempts,
              (SELECT event_type FROM events e WHERE e.event_id = bot_outbox.event_id) AS event_type,
              (SELECT payload FROM events e WHERE e.event_id = bot_outbox.event_id) AS event_payload";

/// Ends a row under its claim; the token and the content are forgotten.
const FINISH_ONE_SQLITE: &str =
    "UPDATE bot_outbox SET status = $3, finished_at = $4, callback_token = NULL,
        skill_response = NULL, last_error_code = COALESCE($5, last_error_code),
        last_error_msg = COALESCE($6, last_error_msg), result = $7
    WHERE outbox_id = $1 AND attempts = $2 AND status = 'pending'";

/// [`FINISH_ONE_SQLITE`] for many rows, their values in arrays; returns
/// the rows whose claim still held. It is planned for each call
/// (`persistent(false)`), as a plan kept from when the outbox was small scans
/// it whole once it has grown (`auto_explain`: 8,431 rows read for 3); one
/// plan for many rows is cheap. The rows are found by key (`= ANY`): pending
/// is said as `finished_at IS NULL` (only a finish sets either), which the
/// partial index of pending rows, always taken for small, does not answer.
const FINISH_MANY_POSTGRES: &str =
    "UPDATE bot_outbox SET status = f.status, finished_at = $4, callback_token = NULL,
        skill_response = NULL, last_error_code = COALESCE(f.code, bot_outbox.last_error_code),
        last_error_msg = COALESCE(f.msg, bot_outbox.last_error_msg), result = f.result
    FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $5::bigint[], $6::text[], $7::text[])
        AS f(outbox_id, attempts, status, code, msg, result)
    WHERE bot_outbox.outbox_id = f.outbox_id AND bot_outbox.outbox_id = ANY($1::bigint[])
      AND bot_outbox.attempts = f.attempts AND bot_outbox.finished_at IS NULL
    RETURNING bot_outbox.outbox_id";

impl Storage {
    /// Claims up to `limit` due outbox rows until `lease_until` (ms), in
    /// one transaction (under load, one per row would contend with the
    /// event writer for the database's write lock).
    pub async fn claim_bot_outbox(
        &self,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StorageError> {
        let now = now_millis();
        Ok(match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let claimed = sqlx::query_as(CLAIM_OUTBOX_SQLITE)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                claimed
            }
            // One statement is its own transaction: no BEGIN and COMMIT to
            // wait for.
            Backend::Postgres { pool, .. } => {
                sqlx::query_as(CLAIM_OUTBOX_POSTGRES)
                    .persistent(false)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// Keeps the claim for longer while its work runs. False when the claim
    /// was lost (its lease ran out and another worker took the row).
    pub async fn extend_bot_lease(
        &self,
        item: &OutboxItem,
        lease_until: i64,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE bot_outbox SET run_at = $3
            WHERE outbox_id = $1 AND attempts = $2 AND status = 'pending'";
        self.update_claim(SQL, item, &[Extra::Int(Some(lease_until))])
            .await
    }

    /// Due again at `run_at` (ms), with why this attempt failed and what
    /// to send next time (the handler's reply, so it does not run again).
    pub async fn retry_bot_outbox(
        &self,
        item: &OutboxItem,
        run_at: i64,
        error: &KakaoErrorCode,
        skill_response: &str,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE bot_outbox SET run_at = $3, last_error_code = $4,
                last_error_msg = $5, skill_response = $6
            WHERE outbox_id = $1 AND attempts = $2 AND status = 'pending'";
        let extra = [
            Extra::Int(Some(run_at)),
            Extra::Int(error.code),
            Extra::Text(Some(&error.msg)),
            Extra::Text(Some(skill_response)),
        ];
        self.update_claim(SQL, item, &extra).await
    }

    /// Ends the row; the callback token and the chat content are forgotten.
    /// False when the claim was lost.
    pub async fn finish_bot_outbox(
        &self,
        item: &OutboxItem,
        end: OutboxEnd,
        error: Option<&KakaoErrorCode>,
        result: Option<&str>,
    ) -> Result<bool, StorageError> {
        let finish = Finish::new(item, end, error.cloned(), result.map(str::to_owned));
        let ended = self.finish_bot_outboxes(&[finish]).await?;
        Ok(ended.first().copied().unwrap_or(false))
    }

    /// Ends many rows at once: on PostgreSQL one statement (one commit), on
    /// SQLite one transaction. Whether each claim still held, in order.
    pub async fn finish_bot_outboxes(&self, rows: &[Finish]) -> Result<Vec<bool>, StorageError> {
        let finished_at = now_millis();
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let mut ended = Vec::with_capacity(rows.len());
                for row in rows {
                    let changed = sqlx::query(FINISH_ONE_SQLITE)
                        .bind(row.outbox_id)
                        .bind(row.attempts)
                        .bind(row.end.as_str())
                        .bind(finished_at)
                        .bind(row.error.as_ref().and_then(|e| e.code))
                        .bind(row.error.as_ref().map(|e| e.msg.as_str()))
                        .bind(row.result.as_deref())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    ended.push(changed == 1);
                }
                tx.commit().await?;
                Ok(ended)
            }
            Backend::Postgres { pool, .. } => {
                let column = |f: fn(&Finish) -> Option<i64>| rows.iter().map(f).collect::<Vec<_>>();
                let ended: Vec<i64> = sqlx::query_scalar(FINISH_MANY_POSTGRES)
                    .persistent(false)
                    .bind(column(|r| Some(r.outbox_id)))
                    .bind(column(|r| Some(r.attempts)))
                    .bind(rows.iter().map(|r| r.end.as_str()).collect::<Vec<_>>())
                    .bind(finished_at)
                    .bind(column(|r| r.error.as_ref().and_then(|e| e.code)))
                    .bind(
                        rows.iter()
                            .map(|r| r.error.as_ref().map(|e| e.msg.as_str()))
                            .collect::<Vec<_>>(),
                    )
                    .bind(rows.iter().map(|r| r.result.as_deref()).collect::<Vec<_>>())
                    .fetch_all(pool)
                    .await?;
                Ok(rows.iter().map(|r| ended.contains(&r.outbox_id)).collect())
            }
        }
    }

    /// Queues a message to `target` (`botGroupKey` or `botUserKey`), unless
    /// the bot is known to have left that room.
    pub async fn queue_bot_message(
        &self,
        target_kind: &str,
        target: &str,
        skill_response: &str,
        expires_at: i64,
    ) -> Result<MessageQueued, StorageError> {
        const LEFT: &str =
            "SELECT COUNT(*) FROM bot_rooms WHERE bot_group_key = $1 AND NOT present";
        const SQL: &str = "INSERT INTO bot_outbox
                (kind, target_kind, target, skill_response, run_at, expires_at, created_at)
            VALUES ('message', $1, $2, $3, $4, $5, $4) RETURNING outbox_id";
        let now = now_millis();
        Ok(in_write_tx!(self, |tx| {
            let left: i64 = if target_kind == "botGroupKey" {
                sqlx::query_scalar(LEFT)
                    .bind(target)
                    .fetch_one(&mut *tx)
                    .await?
            } else {
                0
            };
            if left > 0 {
                MessageQueued::NotInRoom
            } else {
                let message_id = sqlx::query_scalar(SQL)
                    .bind(target_kind)
                    .bind(target)
                    .bind(skill_response)
                    .bind(now)
                    .bind(expires_at)
                    .fetch_one(&mut *tx)
                    .await?;
                MessageQueued::Queued { message_id }
            }
        }))
    }

    pub async fn bot_message(&self, message_id: i64) -> Result<Option<BotMessage>, StorageError> {
        const SQL: &str =
            "SELECT outbox_id, status, attempts, last_error_code, last_error_msg, result
            FROM bot_outbox WHERE outbox_id = $1 AND kind = 'message'";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(message_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Rooms after `after` (a room key), in key order.
    pub async fn bot_rooms(&self, after: &str, limit: i64) -> Result<Vec<BotRoom>, StorageError> {
        const SQL: &str = "SELECT bot_group_key, present, joined_at, left_at FROM bot_rooms
            WHERE bot_group_key > $1 ORDER BY bot_group_key LIMIT $2";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn bot_room(&self, bot_group_key: &str) -> Result<Option<BotRoom>, StorageError> {
        const SQL: &str = "SELECT bot_group_key, present, joined_at, left_at FROM bot_rooms
            WHERE bot_group_key = $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(bot_group_key)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Pending outbox rows (the `kakao_bot_outbox_pending` gauge).
    pub async fn pending_bot_outbox(&self) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM bot_outbox WHERE status = 'pending'";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).fetch_one(pool).await?
        }))
    }

    /// Runs an update guarded by the claim (`$1` the row, `$2` the claim);
    /// `extra` binds `$3`…. True when the claim still held.
    async fn update_claim(
        &self,
        sql: &'static str,
        item: &OutboxItem,
        extra: &[Extra<'_>],
    ) -> Result<bool, StorageError> {
        let rows = in_write_tx!(self, |tx| {
            let mut query = sqlx::query(sql).bind(item.outbox_id).bind(item.attempts);
            for value in extra {
                query = match *value {
                    Extra::Int(n) => query.bind(n),
                    Extra::Text(text) => query.bind(text),
                };
            }
            query.execute(&mut *tx).await?.rows_affected()
        });
        Ok(rows == 1)
    }
}

/// A parameter of a claim-guarded update after the row and the claim.
#[derive(Clone, Copy)]
enum Extra<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}
