//! The events log: storing an accepted webhook and applying its effect in one
//! transaction, and reading the log back in order.

use super::{
    Dedupe, NewEvent, Recorded, Storage, StorageError, StoredEvent,
    effects::{Arg, Statement, plan},
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

/// Inserts a prepared event (unless it is a repeat) and applies its effects,
/// in the open transaction `tx`. The row says it was applied from the start:
/// the event and its effects commit together or not at all. (SQLite's
/// writer does the same with the same SQL: `group_commit::execute`.)
async fn execute_on_postgres(
    tx: &mut sqlx::PgConnection,
    prepared: &Prepared,
) -> Result<Recorded, sqlx::Error> {
    let mut insert = sqlx::query_scalar::<_, i64>(prepared.insert_sql)
        .bind(prepared.source)
        .bind(prepared.key.as_str())
        .bind(prepared.event_type.as_str())
        .bind(prepared.user_id.as_deref())
        .bind(prepared.event_time)
        .bind(prepared.now)
        .bind(prepared.payload.as_str());
    if let Some(user_id) = &prepared.relinked_user {
        insert = insert.bind(user_id.as_str());
    }
    let Some(event_id) = insert.fetch_optional(&mut *tx).await? else {
        return Ok(Recorded::Duplicate);
    };
    for statement in &prepared.statements {
        let mut query = sqlx::query(statement.sql);
        for arg in &statement.args {
            query = match arg {
                Arg::Text(value) => query.bind(value.as_str()),
                Arg::MaybeText(value) => query.bind(value.as_deref()),
                Arg::Int(value) => query.bind(*value),
                Arg::Bool(value) => query.bind(*value),
            };
        }
        query.execute(&mut *tx).await?;
    }
    Ok(Recorded::Stored { event_id })
}

impl Storage {
    /// Stores an accepted webhook and applies its effect, atomically. When this
    /// returns `Ok`, the event is durable: only then may Kakao be answered 2xx.
    ///
    /// SQLite: handed to the single writer, which commits many events per
    /// transaction (group commit). PostgreSQL: one transaction per event, in id
    /// order (see below).
    #[tracing::instrument(skip_all, fields(event.source = event.source.as_str(), event.type = %event.event_type))]
    pub async fn record(&self, event: &NewEvent) -> Result<Recorded, StorageError> {
        let prepared = Prepared::new(event);
        match self {
            Storage::Sqlite(_, writer) => writer.record(prepared).await,
            Storage::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // Followers of /api/events page by event_id, so ids must become
                // visible in order: this lock makes inserts commit in id order.
                // (SQLite's single writer guarantees it by itself.)
                sqlx::query("SELECT pg_advisory_xact_lock(7438201)")
                    .execute(&mut *tx)
                    .await?;
                let recorded = execute_on_postgres(&mut tx, &prepared).await?;
                tx.commit().await?;
                Ok(recorded)
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
