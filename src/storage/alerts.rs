//! What the alerts keep: the deliveries tallied by every instance, and each
//! condition's state. A change of state is one conditional statement, so
//! among instances sharing the database exactly one makes it, and that one
//! queues the alert in the same transaction (the notification outbox, to
//! the alert webhook and to the app).

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx, with_pool};

/// Deliveries of one family with one outcome in one bucket of time.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeliveryTally {
    /// The bucket's start, ms.
    pub bucket: i64,
    pub family: String,
    pub outcome: String,
    pub deliveries: i64,
    /// Of those, answered past Kakao's deadline.
    pub late: i64,
}

/// One condition as judged now.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub key: String,
    pub name: &'static str,
    pub family: Option<&'static str>,
    pub active: bool,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
}

/// A change of state this instance made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Raised,
    Resolved,
}

impl Transition {
    pub fn state(self) -> &'static str {
        match self {
            Self::Raised => "raised",
            Self::Resolved => "resolved",
        }
    }
}

/// What is queued when a condition changes state, given the change and
/// since when the alert was raised: the alert webhook's body, the app's.
pub struct Bodies {
    pub alert: Option<String>,
    pub app: Option<String>,
}

/// An alert as `GET /api/alerts` lists it.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct AlertRow {
    pub name: String,
    pub family: Option<String>,
    pub state: String,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    /// When it was raised (resolved: when it was resolved), ms.
    pub since: i64,
    pub updated_at: i64,
}

impl Storage {
    /// Adds this instance's tally to the shared one.
    pub async fn add_delivery_tallies(&self, rows: &[DeliveryTally]) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO delivery_tallies (bucket, family, outcome, deliveries, late)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (bucket, family, outcome) DO UPDATE SET
                deliveries = delivery_tallies.deliveries + excluded.deliveries,
                late = delivery_tallies.late + excluded.late";
        if rows.is_empty() {
            return Ok(());
        }
        in_write_tx!(self, |tx| {
            for row in rows {
                sqlx::query(SQL)
                    .bind(row.bucket)
                    .bind(&row.family)
                    .bind(&row.outcome)
                    .bind(row.deliveries)
                    .bind(row.late)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// Every instance's deliveries since `since` (ms), by family and outcome.
    pub async fn delivery_totals(&self, since: i64) -> Result<Vec<DeliveryTally>, StorageError> {
        const SQL: &str = "SELECT CAST(0 AS BIGINT) AS bucket, family, outcome,
                CAST(SUM(deliveries) AS BIGINT) AS deliveries, CAST(SUM(late) AS BIGINT) AS late
            FROM delivery_tallies WHERE bucket >= $1 GROUP BY family, outcome";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(since).fetch_all(pool).await?
        }))
    }

    /// Records `judged` at `now`: raises or resolves the alert when its state
    /// changes (resolved only once clear for `window` ms), queuing `bodies`'
    /// notifications in the same transaction. The change this call made, if
    /// any; an instance that lost the race to make it gets `None`.
    pub async fn judge_alert(
        &self,
        judged: &Judgement,
        now: i64,
        window: i64,
        bodies: impl Fn(Transition, i64) -> Bodies,
    ) -> Result<Option<Transition>, StorageError> {
        // Raised by the one statement that inserts the row or flips it from
        // resolved; another instance's copy of it changes nothing.
        const RAISE: &str = "INSERT INTO alerts (alert_key, name, family, state, summary,
                value, threshold, since, clear_since, updated_at)
            VALUES ($1, $2, $3, 'raised', $4, $5, $6, $7, NULL, $7)
            ON CONFLICT (alert_key) DO UPDATE SET state = 'raised', summary = excluded.summary,
                value = excluded.value, threshold = excluded.threshold, since = excluded.since,
                clear_since = NULL, updated_at = excluded.updated_at
            WHERE alerts.state = 'resolved'";
        const STILL: &str = "UPDATE alerts SET summary = $2, value = $3, clear_since = NULL,
                updated_at = $4
            WHERE alert_key = $1 AND state = 'raised'";
        const CLEARING: &str = "UPDATE alerts SET clear_since = COALESCE(clear_since, $2),
                value = $3, updated_at = $2
            WHERE alert_key = $1 AND state = 'raised'";
        const RESOLVE: &str = "UPDATE alerts SET state = 'resolved', summary = $2, value = $3,
                since = $4, clear_since = NULL, updated_at = $4
            WHERE alert_key = $1 AND state = 'raised' AND clear_since <= $5
            RETURNING since";
        const RAISED_SINCE: &str = "SELECT since FROM alerts WHERE alert_key = $1";
        let transition = in_write_tx!(self, |tx| {
            let mut made = None;
            if judged.active {
                let raised = sqlx::query(RAISE)
                    .bind(&judged.key)
                    .bind(judged.name)
                    .bind(judged.family)
                    .bind(&judged.summary)
                    .bind(judged.value)
                    .bind(judged.threshold)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if raised {
                    made = Some((Transition::Raised, now));
                } else {
                    sqlx::query(STILL)
                        .bind(&judged.key)
                        .bind(&judged.summary)
                        .bind(judged.value)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            } else {
                // Read first: the resolved message tells since when it was raised.
                let raised_since: Option<i64> = sqlx::query_scalar(RAISED_SINCE)
                    .bind(&judged.key)
                    .fetch_optional(&mut *tx)
                    .await?;
                sqlx::query(CLEARING)
                    .bind(&judged.key)
                    .bind(now)
                    .bind(judged.value)
                    .execute(&mut *tx)
                    .await?;
                let resolved: Option<i64> = sqlx::query_scalar(RESOLVE)
                    .bind(&judged.key)
                    .bind(&judged.summary)
                    .bind(judged.value)
                    .bind(now)
                    .bind(now - window)
                    .fetch_optional(&mut *tx)
                    .await?;
                if resolved.is_some() {
                    made = Some((Transition::Resolved, raised_since.unwrap_or(now)));
                }
            }
            if let Some((transition, since)) = made {
                let bodies = bodies(transition, since);
                for (destination, kind, body) in [
                    ("alert", "alert", bodies.alert),
                    ("app", app_type(transition), bodies.app),
                ] {
                    let Some(body) = body else { continue };
                    sqlx::query(
                        "INSERT INTO notifications (notification_type, event_id, body, run_at,
                            created_at, destination) VALUES ($1, NULL, $2, $3, $3, $4)",
                    )
                    .bind(kind)
                    .bind(body)
                    .bind(now)
                    .bind(destination)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            made.map(|(transition, _)| transition)
        });
        Ok(transition)
    }

    /// Active alerts first, then the most recently changed; at most `limit`.
    pub async fn alerts(&self, limit: i64) -> Result<Vec<AlertRow>, StorageError> {
        const SQL: &str = "SELECT name, family, state, summary, value, threshold, since, updated_at
            FROM alerts ORDER BY CASE WHEN state = 'raised' THEN 0 ELSE 1 END, updated_at DESC
            LIMIT $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?
        }))
    }

    /// Bot replies that ended `failed` since `since`, or are still pending
    /// past their callback token's expiry.
    pub async fn bot_replies_in_trouble(&self, since: i64, now: i64) -> Result<i64, StorageError> {
        // Two counts, each off its partial index (failed, pending): an OR
        // of the two read every reply ever sent.
        const SQL: &str = "SELECT
                (SELECT COUNT(*) FROM bot_outbox
                 WHERE status = 'failed' AND kind = 'reply' AND finished_at >= $1)
              + (SELECT COUNT(*) FROM bot_outbox
                 WHERE status = 'pending' AND kind = 'reply' AND expires_at < $2)";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(since)
                .bind(now)
                .fetch_one(pool)
                .await?
        }))
    }

    /// The bodies queued for the alert webhook, oldest first.
    pub async fn alert_notification_bodies(&self) -> Result<Vec<String>, StorageError> {
        const SQL: &str = "SELECT body FROM notifications WHERE destination = 'alert'
            ORDER BY notification_id";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).fetch_all(pool).await?
        }))
    }

    /// Deletes tallies from before `before` (ms).
    pub async fn delete_old_tallies(&self, before: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM delivery_tallies WHERE bucket < $1";
        Ok(in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }))
    }
}

fn app_type(transition: Transition) -> &'static str {
    match transition {
        Transition::Raised => "alert.raised",
        Transition::Resolved => "alert.resolved",
    }
}
