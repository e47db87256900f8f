//! The events log: storing an accepted webhook and applying its effect in one
//! transaction, and reading the log back in order.

use super::{
    Dedupe, Effect, Identifier, NewEvent, Recorded, Storage, StorageError, StoredEvent,
    changes::{self, Change},
    effects::plan,
    statements::{EventInsert, InsertEvent, InsertEventUntilRelinked, Statement, TieEventToHolder},
    with_pool,
};
use crate::clock::{end_of_second, now_millis};

/// An event ready to write: its statements computed before any lock.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) insert: EventInsert,
    pub(super) statements: Vec<Statement>,
    /// Where what the statements change is notified.
    pub(super) notify: super::NotifyTo,
    /// What storing the event tells the app by itself.
    pub(super) on_store: Option<Change>,
}

impl Prepared {
    pub(super) fn new(event: &NewEvent, notify: super::NotifyTo) -> Self {
        let now = now_millis();
        let event_time = event.event_time.unwrap_or_else(|| end_of_second(now));
        let payload = event.payload.as_str().to_owned();
        let insert = match &event.dedupe {
            Dedupe::Key(key) => InsertEvent {
                source: event.source,
                dedupe_key: key.clone(),
                event_type: event.event_type.clone(),
                user_id: event.user_id.clone(),
                event_time: event.event_time,
                received_at: now,
                payload,
                unapplied_reason: event.unapplied_reason.clone(),
            }
            .into(),
            Dedupe::UntilRelinked { base, user_id } => InsertEventUntilRelinked {
                source: event.source,
                dedupe_base: base.clone(),
                event_type: event.event_type.clone(),
                user_id: event.user_id.clone(),
                event_time: event.event_time,
                received_at: now,
                payload,
                relinked_user: user_id.clone(),
            }
            .into(),
        };
        Self {
            insert,
            notify,
            on_store: changes::on_store(event.source, &event.payload),
            statements: tie_to_holder(event)
                .into_iter()
                .chain(
                    event
                        .effects
                        .iter()
                        .flat_map(|effect| plan(effect, event_time, now)),
                )
                .collect(),
        }
    }
}

/// For an identifier event about nobody in particular (Kakao names the old
/// email or phone, not the user), the statement that records whose it is.
fn tie_to_holder(event: &NewEvent) -> Option<Statement> {
    let (Dedupe::Key(key), None) = (&event.dedupe, &event.user_id) else {
        return None;
    };
    let old = event.effects.iter().find_map(|effect| match effect {
        Effect::IdentifierChanged {
            user_id: None, old, ..
        }
        | Effect::IdentifierRecycled { user_id: None, old } => Some(old),
        _ => None,
    })?;
    let (email, phone) = match old {
        Identifier::Email(email) => (Some(email.clone()), None),
        Identifier::Phone(phone) => (None, Some(phone.clone())),
    };
    Some(
        TieEventToHolder {
            source: event.source,
            dedupe_key: key.clone(),
            email,
            phone,
        }
        .into(),
    )
}

impl Storage {
    /// Stores an accepted webhook and applies its effect, atomically. When this
    /// returns `Ok`, the event is durable: only then may Kakao be answered 2xx.
    ///
    /// Handed to the backend's event writer, which commits many events per
    /// transaction (group commit; see `writer.rs`).
    #[tracing::instrument(skip_all, fields(event.source = event.source.as_str(), event.type = %event.event_type))]
    pub async fn record(&self, event: &NewEvent) -> Result<Recorded, StorageError> {
        self.writer()
            .record(Prepared::new(event, self.notify))
            .await
    }

    /// Erases the payloads of up to `batch` events received before `before`
    /// (ms), oldest first; returns how many. The rows stay: their dedupe keys
    /// still recognise a late redelivery.
    pub async fn erase_old_payloads(&self, before: i64, batch: i64) -> Result<u64, StorageError> {
        const SQL: &str = "
            UPDATE events SET payload = 'null', payload_erased_at = $3
            WHERE event_id IN (
                SELECT event_id FROM events
                WHERE payload_erased_at IS NULL AND received_at < $1
                ORDER BY received_at LIMIT $2)";
        let now = now_millis();
        Ok(with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(before)
                .bind(batch)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
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
