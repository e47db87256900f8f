//! The events log: storing an accepted webhook and applying its effect in one
//! transaction, and reading the log back in order.

use super::{
    Dedupe, NewEvent, Recorded, Storage, StorageError, StoredEvent,
    effects::{Statement, plan},
    model::{end_of_second, now_millis},
    with_pool,
};

const INSERT_EVENT: &str = "
    INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING event_id";

/// The dedupe key gets the user's last link time, read in the same statement.
const INSERT_EVENT_UNTIL_RELINKED: &str = "
    INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload)
    VALUES ($1, $2 || ':' || COALESCE((SELECT CAST(linked_at AS TEXT) FROM users WHERE user_id = $8), '0'),
            $3, $4, $5, $6, $6, $7)
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING event_id";

/// An event ready to write: its SQL and bindings computed before any lock.
pub(super) struct Prepared {
    pub(super) insert_sql: &'static str,
    pub(super) source: &'static str,
    pub(super) key: String,
    pub(super) event_type: String,
    pub(super) user_id: Option<String>,
    pub(super) event_time: Option<i64>,
    pub(super) payload: String,
    pub(super) relinked_user: Option<String>,
    pub(super) statements: Vec<Statement>,
    pub(super) now: i64,
}

impl Prepared {
    pub(super) fn new(event: &NewEvent) -> Self {
        let now = now_millis();
        let event_time = event.event_time.unwrap_or_else(|| end_of_second(now));
        let (insert_sql, key, relinked_user) = match &event.dedupe {
            Dedupe::Key(key) => (INSERT_EVENT, key.clone(), None),
            Dedupe::UntilRelinked { base, user_id } => (
                INSERT_EVENT_UNTIL_RELINKED,
                base.clone(),
                Some(user_id.clone()),
            ),
        };
        Self {
            insert_sql,
            source: event.source.as_str(),
            key,
            event_type: event.event_type.clone(),
            user_id: event.user_id.clone(),
            event_time: event.event_time,
            payload: event.payload.to_string(),
            relinked_user,
            statements: event
                .effects
                .iter()
                .flat_map(|effect| plan(effect, event_time, now))
                .collect(),
            now,
        }
    }
}

impl Storage {
    /// Stores an accepted webhook and applies its effect, atomically. When this
    /// returns `Ok`, the event is durable: only then may Kakao be answered 2xx.
    ///
    /// Handed to the backend's writer, which commits many events per
    /// transaction (group commit; see `group_commit`).
    #[tracing::instrument(skip_all, fields(event.source = event.source.as_str(), event.type = %event.event_type))]
    pub async fn record(&self, event: &NewEvent) -> Result<Recorded, StorageError> {
        let prepared = Prepared::new(event);
        match self {
            Storage::Sqlite(_, writer) | Storage::Postgres(_, writer) => {
                writer.record(prepared).await
            }
        }
    }

    /// Accepted events after `after` (an `event_id`), oldest first.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        const SQL: &str = "SELECT * FROM events WHERE event_id > $1 ORDER BY event_id LIMIT $2";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }
}
