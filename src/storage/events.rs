//! The events log: storing an accepted webhook and applying its effect in one
//! transaction, and reading the log back in order.

use super::{
    Dedupe, Effect, NewEvent, Recorded, Storage, StorageError, StoredEvent, in_write_tx,
    model::now_millis, with_pool,
};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

/// One SQL statement of an effect's plan.
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    sql: &'static str,
    args: Vec<Arg>,
}

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

/// Makes sure a user row exists; a user first seen in an event starts `linked`.
const ENSURE_USER: &str = "
    INSERT INTO users (user_id, status, created_at, updated_at) VALUES ($1, 'linked', $2, $2)
    ON CONFLICT (user_id) DO NOTHING";

/// Unlinks, erases personal data and leaves a tombstone, unless a newer change
/// of the status is already applied.
const UNLINK_USER: &str = "
    UPDATE users SET status = 'unlinked', email = NULL, phone_number = NULL, scopes = '',
        assurance_level = NULL, profile_stale = FALSE, unlinked_at = $2, unlink_reason = $3,
        status_event_at = $2, email_event_at = $2, phone_event_at = $2, scopes_event_at = $2,
        assurance_event_at = $2, profile_event_at = $2, updated_at = $4
    WHERE user_id = $1 AND (status_event_at IS NULL OR status_event_at <= $2)";

/// Revokes the sessions that existed when the event happened.
const REVOKE_SESSIONS: &str = "
    UPDATE sessions SET revoked_at = $3, revoked_reason = $4
    WHERE user_id = $1 AND revoked_at IS NULL AND created_at <= $2";

/// Records a channel relation unless a newer change is already recorded.
const UPSERT_CHANNEL_RELATION: &str = "
    INSERT INTO channel_relations (user_id, id_type, channel_public_id, channel_uuid, relation, changed_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (user_id, channel_public_id) DO UPDATE SET
        id_type = excluded.id_type, channel_uuid = excluded.channel_uuid,
        relation = excluded.relation, changed_at = excluded.changed_at
    WHERE channel_relations.changed_at <= excluded.changed_at";

/// The statements that apply `effect`, as of `event_time`.
fn plan(effect: &Effect, event_time: i64, now: i64) -> Vec<Statement> {
    use Arg::{Int, MaybeText, Text};
    match effect {
        Effect::None => Vec::new(),
        Effect::Unlink { user_id, reason } => vec![
            Statement {
                sql: ENSURE_USER,
                args: vec![Text(user_id.clone()), Int(now)],
            },
            Statement {
                sql: UNLINK_USER,
                args: vec![
                    Text(user_id.clone()),
                    Int(event_time),
                    Text(reason.clone()),
                    Int(now),
                ],
            },
            Statement {
                sql: REVOKE_SESSIONS,
                args: vec![
                    Text(user_id.clone()),
                    Int(event_time),
                    Int(now),
                    Text(format!("unlinked: {reason}")),
                ],
            },
        ],
        Effect::ChannelRelation(relation) => vec![Statement {
            sql: UPSERT_CHANNEL_RELATION,
            args: vec![
                Text(relation.user_id.clone()),
                Text(relation.id_type.clone()),
                Text(relation.channel_public_id.clone()),
                MaybeText(relation.channel_uuid.clone()),
                Text(relation.relation.clone()),
                Int(relation.changed_at),
            ],
        }],
    }
}

/// Binds a statement's arguments in order; expands once per backend.
macro_rules! bound {
    ($statement:expr) => {{
        let mut query = sqlx::query($statement.sql);
        for arg in $statement.args {
            query = match arg {
                Arg::Text(value) => query.bind(value),
                Arg::MaybeText(value) => query.bind(value),
                Arg::Int(value) => query.bind(value),
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
        let event_time = event.event_time.unwrap_or(now);
        let payload = event.payload.to_string();
        let (sql, key, relinked_user) = match &event.dedupe {
            Dedupe::Key(key) => (INSERT_EVENT, key.clone(), None),
            Dedupe::UntilRelinked { base, user_id } => (
                INSERT_EVENT_UNTIL_RELINKED,
                base.clone(),
                Some(user_id.clone()),
            ),
        };
        let statements = plan(&event.effect, event_time, now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlink_erases_data_and_revokes_only_sessions_older_than_the_event() {
        let effect = Effect::Unlink {
            user_id: "42".into(),
            reason: "UNLINK_FROM_APPS".into(),
        };
        let statements = plan(&effect, 1_000, 2_000);
        let sqls: Vec<&str> = statements.iter().map(|s| s.sql).collect();
        assert_eq!(sqls, [ENSURE_USER, UNLINK_USER, REVOKE_SESSIONS]);
        assert_eq!(
            statements[2].args,
            [
                Arg::Text("42".into()),
                Arg::Int(1_000),
                Arg::Int(2_000),
                Arg::Text("unlinked: UNLINK_FROM_APPS".into())
            ]
        );
        assert!(plan(&Effect::None, 1, 2).is_empty());
    }
}
