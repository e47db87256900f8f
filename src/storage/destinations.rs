//! Where notifications go, and whether they may go now: a destination is
//! active, or paused (it failed for too long, or answered `410 Gone`).
//! Each change of state is one conditional statement, so among instances
//! sharing the database exactly one makes it. Also the bulk replay, which
//! queues matching notifications again under their own ids.

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx, notifications::Destination, with_pool};

/// A destination's state, as `GET /api/notifications/destination` shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DestinationState {
    pub destination: String,
    /// `active` or `paused`.
    pub state: String,
    /// Since when it is in this state, ms.
    pub since: i64,
    pub reason: Option<String>,
    /// Since when every attempt has failed, ms.
    pub failing_since: Option<i64>,
}

impl DestinationState {
    pub fn paused(&self) -> bool {
        self.state == "paused"
    }
}

/// Which notifications a replay queues again; empty lists match all.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub statuses: Vec<&'static str>,
    pub types: Vec<String>,
    pub user_id: Option<String>,
    /// Queued at or after, ms.
    pub since: Option<i64>,
    /// Queued before, ms.
    pub until: Option<i64>,
}

/// Which held notifications `renotify` sends: queued in `[since, until)`
/// (ms), of these types (empty: all).
#[derive(Debug, Clone, Default)]
pub struct RenotifyFilter {
    pub since: i64,
    pub until: Option<i64>,
    pub types: Vec<String>,
}

impl Storage {
    /// The app's notifications written while `APP_NOTIFY_URL` was unset
    /// (`held`) that match `filter`, queued now; and how many matching ones
    /// were queued already. Each row was written with its change, so
    /// running this twice queues nothing new.
    pub async fn renotify(
        &self,
        filter: &RenotifyFilter,
        now: i64,
    ) -> Result<(u64, i64), StorageError> {
        let mut conditions =
            String::from("destination = 'app' AND event_id IS NOT NULL AND created_at >= $2");
        let mut next = 3;
        if filter.until.is_some() {
            conditions.push_str(&format!(" AND created_at < ${next}"));
            next += 1;
        }
        if !filter.types.is_empty() {
            let list: Vec<String> = (next..next + filter.types.len())
                .map(|n| format!("${n}"))
                .collect();
            conditions.push_str(&format!(" AND notification_type IN ({})", list.join(", ")));
        }
        // `$1` is `now` in both, so the binds are the same.
        let already = format!(
            "SELECT COUNT(*) FROM notifications WHERE {conditions} AND status <> 'held' AND $1 = $1"
        );
        let queue = format!(
            "UPDATE notifications SET status = 'pending', run_at = $1
             WHERE {conditions} AND status = 'held'"
        );
        macro_rules! bound {
            ($query:expr) => {{
                let mut query = $query.bind(now).bind(filter.since);
                if let Some(until) = filter.until {
                    query = query.bind(until);
                }
                for kind in &filter.types {
                    query = query.bind(kind.as_str());
                }
                query
            }};
        }
        Ok(in_write_tx!(self, |tx| {
            let already: i64 = bound!(sqlx::query_scalar(sqlx::AssertSqlSafe(already.as_str())))
                .fetch_one(&mut *tx)
                .await?;
            let queued = bound!(sqlx::query(sqlx::AssertSqlSafe(queue.as_str())))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            (queued, already)
        }))
    }

    pub async fn destination_state(
        &self,
        destination: Destination,
    ) -> Result<DestinationState, StorageError> {
        const SQL: &str = "SELECT destination, state, since, reason, failing_since
            FROM notification_destinations WHERE destination = $1";
        let row: Option<DestinationState> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(destination.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.unwrap_or_else(|| DestinationState {
            destination: destination.as_str().to_owned(),
            state: "active".into(),
            since: 0,
            reason: None,
            failing_since: None,
        }))
    }

    /// Records a failed attempt at `now`, and pauses the destination when
    /// every attempt has failed for `pause_after` ms, or at once when `gone`.
    /// True when this call paused it.
    pub async fn destination_failed(
        &self,
        destination: Destination,
        now: i64,
        pause_after: i64,
        gone: bool,
        reason: &str,
    ) -> Result<bool, StorageError> {
        const FAILING: &str = "INSERT INTO notification_destinations
                (destination, state, since, reason, failing_since)
            VALUES ($1, 'active', $2, NULL, $2)
            ON CONFLICT (destination) DO UPDATE SET failing_since =
                COALESCE(notification_destinations.failing_since, excluded.failing_since)";
        const PAUSE: &str = "UPDATE notification_destinations
            SET state = 'paused', since = $2, reason = $3
            WHERE destination = $1 AND state = 'active'
              AND ($4 OR failing_since <= $5)";
        let paused = in_write_tx!(self, |tx| {
            sqlx::query(FAILING)
                .bind(destination.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(PAUSE)
                .bind(destination.as_str())
                .bind(now)
                .bind(reason)
                .bind(gone)
                .bind(now - pause_after)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(paused == 1)
    }

    /// An attempt succeeded: the destination is no longer failing.
    pub async fn destination_succeeded(
        &self,
        destination: Destination,
    ) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE notification_destinations SET failing_since = NULL
            WHERE destination = $1 AND failing_since IS NOT NULL";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(destination.as_str())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Resumes a paused destination: its backlog is due now, oldest first.
    /// False when it was not paused.
    pub async fn resume_destination(
        &self,
        destination: Destination,
        now: i64,
    ) -> Result<bool, StorageError> {
        const RESUME: &str = "UPDATE notification_destinations
            SET state = 'active', since = $2, reason = NULL, failing_since = NULL
            WHERE destination = $1 AND state = 'paused'";
        const DUE: &str = "UPDATE notifications SET run_at = $2
            WHERE destination = $1 AND status = 'pending'";
        let resumed = in_write_tx!(self, |tx| {
            let resumed = sqlx::query(RESUME)
                .bind(destination.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if resumed {
                sqlx::query(DUE)
                    .bind(destination.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            resumed
        });
        Ok(resumed)
    }

    /// Queues the app's notifications matching `filter` again, due `now`,
    /// under their own ids; how many.
    pub async fn replay_notifications(
        &self,
        filter: &ReplayFilter,
        now: i64,
    ) -> Result<u64, StorageError> {
        // Placeholders only: every value is bound.
        let mut sql = String::from(
            "UPDATE notifications SET status = 'pending', run_at = $1, finished_at = NULL
             WHERE destination = 'app'",
        );
        let mut next = 2;
        let mut placeholders = |count: usize| {
            let list: Vec<String> = (next..next + count).map(|n| format!("${n}")).collect();
            next += count;
            list.join(", ")
        };
        if !filter.statuses.is_empty() {
            sql.push_str(&format!(
                " AND status IN ({})",
                placeholders(filter.statuses.len())
            ));
        }
        if !filter.types.is_empty() {
            sql.push_str(&format!(
                " AND notification_type IN ({})",
                placeholders(filter.types.len())
            ));
        }
        if filter.user_id.is_some() {
            sql.push_str(&format!(
                " AND event_id IN (SELECT event_id FROM events WHERE user_id = {})",
                placeholders(1)
            ));
        }
        if filter.since.is_some() {
            sql.push_str(&format!(" AND created_at >= {}", placeholders(1)));
        }
        if filter.until.is_some() {
            sql.push_str(&format!(" AND created_at < {}", placeholders(1)));
        }
        let queued = in_write_tx!(self, |tx| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(now);
            for status in &filter.statuses {
                query = query.bind(*status);
            }
            for kind in &filter.types {
                query = query.bind(kind.as_str());
            }
            if let Some(user) = &filter.user_id {
                query = query.bind(user.as_str());
            }
            if let Some(since) = filter.since {
                query = query.bind(since);
            }
            if let Some(until) = filter.until {
                query = query.bind(until);
            }
            query.execute(&mut *tx).await?.rows_affected()
        });
        Ok(queued)
    }
}
