//! The events log: storing an accepted webhook and applying its effect in one
//! transaction, and reading the log back in order.

use super::{
    Dedupe, NewEvent, Recorded, Storage, StorageError, StoredEvent,
    effects::{Arg, Statement, plan},
    in_write_tx,
    model::{end_of_second, now_millis},
    with_pool,
};

const INSERT_EVENT: &str = "
    INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING event_id";

/// The dedupe key gets the user's last link time, read in the same statement.
const INSERT_EVENT_UNTIL_RELINKED: &str = "
    INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, payload)
    VALUES ($1, $2 || ':' || COALESCE((SELECT CAST(linked_at AS TEXT) FROM users WHERE user_id = $8), '0'),
            $3, $4, $5, $6, $7)
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING event_id";

/// Binds a statement's arguments in order; expands once per backend.
macro_rules! bound {
    ($statement:expr) => {{
        let mut query = sqlx::query($statement.sql);
        for arg in $statement.args {
            query = match arg {
                Arg::Text(value) => query.bind(value),
                Arg::MaybeText(value) => query.bind(value),
                Arg::Int(value) => query.bind(value),
                Arg::Bool(value) => query.bind(value),
            };
        }
        query
    }};
}

impl Storage {
    /// Stores an accepted webhook and applies its effect, atomically. When this
    /// returns `Ok`, the event is durable: only then may Kakao be answered 2xx.
    #[tracing::instrument(skip_all, fields(event.source = event.source.as_str(), event.type = %event.event_type))]
    pub async fn record(&self, event: &NewEvent) -> Result<Recorded, StorageError> {
        let now = now_millis();
        let event_time = event.event_time.unwrap_or_else(|| end_of_second(now));
        let payload = event.payload.to_string();
        let (sql, key, relinked_user) = match &event.dedupe {
            Dedupe::Key(key) => (INSERT_EVENT, key.clone(), None),
            Dedupe::UntilRelinked { base, user_id } => (
                INSERT_EVENT_UNTIL_RELINKED,
                base.clone(),
                Some(user_id.clone()),
            ),
        };
        let statements: Vec<Statement> = event
            .effects
            .iter()
            .flat_map(|effect| plan(effect, event_time, now))
            .collect();
        // Followers of /api/events page by event_id, so ids must become visible
        // in order. SQLite's single writer guarantees it; on PostgreSQL a
        // transaction-scoped lock makes inserts commit in the order of their ids.
        let order_lock = match self {
            Storage::Postgres(_) => Some("SELECT pg_advisory_xact_lock(7438201)"),
            Storage::Sqlite(_) => None,
        };
        let recorded = in_write_tx!(self, |tx| {
            if let Some(lock) = order_lock {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let mut insert = sqlx::query_scalar::<_, i64>(sql)
                .bind(event.source.as_str())
                .bind(key)
                .bind(&event.event_type)
                .bind(&event.user_id)
                .bind(event.event_time)
                .bind(now)
                .bind(payload);
            if let Some(user_id) = relinked_user {
                insert = insert.bind(user_id);
            }
            match insert.fetch_optional(&mut *tx).await? {
                None => Recorded::Duplicate,
                Some(event_id) => {
                    for statement in statements {
                        bound!(statement).execute(&mut *tx).await?;
                    }
                    sqlx::query("UPDATE events SET applied_at = $1 WHERE event_id = $2")
                        .bind(now)
                        .bind(event_id)
                        .execute(&mut *tx)
                        .await?;
                    Recorded::Stored { event_id }
                }
            }
        });
        Ok(recorded)
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
