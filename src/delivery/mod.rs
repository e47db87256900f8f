//! Store, then acknowledge: the one path every webhook family takes from an
//! accepted delivery to its 2xx.
//!
//! A delivery's events are stored (each deduplicated, applied with its
//! effects) before the family answers Kakao; storage failing, or slower than
//! the family's deadline, is a 503, so Kakao retries and nothing is
//! acknowledged that is not kept. How each delivery was answered is counted
//! once, by [`log`].

pub mod answer_times;
pub mod log;
pub mod spool;

use std::time::Duration;

use crate::{
    http::error::ApiError,
    storage::{NewEvent, Recorded, Storage},
};

/// A family of deliveries: its metric label, and how long storage may take
/// so that the whole answer stays inside Kakao's deadline for it.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub store_deadline: Duration,
}

impl Family {
    /// Kakao gives the admin-key webhooks 3 s; parsing takes next to nothing.
    pub const UNLINK: Family = Family::new("unlink", 2500);
    pub const CHANNEL: Family = Family::new("channel", 2500);
    pub const SHARE: Family = Family::new("share", 2500);
    /// 3 s too, but key lookup and RS256 verification come first.
    pub const SECURITY_EVENTS: Family = Family::new("events", 1500);
    /// The Bot API wants its 2xx within 1 s, network included.
    pub const BOT: Family = Family::new("bot", 700);

    const fn new(name: &'static str, store_deadline_ms: u64) -> Self {
        Self {
            name,
            store_deadline: Duration::from_millis(store_deadline_ms),
        }
    }

    /// Stores `events` in order; an outcome per event once all are durable.
    /// A repeat is an outcome too (`Duplicate`): Kakao gets its 2xx again and
    /// nothing changes.
    pub async fn store(
        &self,
        storage: &Storage,
        events: &[NewEvent],
    ) -> Result<Vec<Recorded>, ApiError> {
        let stored = tokio::time::timeout(self.store_deadline, async {
            let mut outcomes = Vec::with_capacity(events.len());
            for event in events {
                outcomes.push(storage.record(event).await?);
            }
            Ok(outcomes)
        })
        .await;
        let result = match stored {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(err)) => Err(ApiError::storage(&err)),
            Err(_) => Err(ApiError::unavailable(
                "storage_unavailable",
                &StorageTimedOut(self.store_deadline),
            )),
        };
        self.count(events, &result);
        result
    }

    fn count(&self, events: &[NewEvent], result: &Result<Vec<Recorded>, ApiError>) {
        match result {
            Ok(outcomes) => {
                if let Some(first) = events.first() {
                    log::note_stored(
                        &first.event_type,
                        first.user_id.as_ref().map(|id| id.as_str()),
                        outcomes,
                    );
                }
                for (event, recorded) in events.iter().zip(outcomes) {
                    log_stored(self.name, event, *recorded);
                }
            }
            Err(_) => {
                metrics::counter!("kakao_storage_errors_total", "family" => self.name).increment(1);
            }
        }
    }
}

fn log_stored(family: &'static str, event: &NewEvent, recorded: Recorded) {
    let user_id = event.user_id.as_ref().map_or("", |id| id.as_str());
    match recorded {
        Recorded::Stored { event_id } => tracing::info!(
            webhook.family = family,
            event.id = event_id,
            event.type = %crate::telemetry::loggable(&event.event_type),
            user.id = user_id,
            outcome = "accepted",
            "webhook stored"
        ),
        Recorded::Duplicate => tracing::info!(
            webhook.family = family,
            event.type = %crate::telemetry::loggable(&event.event_type),
            user.id = user_id,
            outcome = "duplicate",
            "webhook repeated; already stored"
        ),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("storage did not answer within {0:?}")]
struct StorageTimedOut(Duration);
