//! What the live page shows: every request to `/kakao/*` as it was answered
//! (family, type, user, outcome and why, answer time against Kakao's
//! deadline), kept in memory per instance (the last 1000) and broadcast to
//! open pages. Nothing here is a secret: no payload, token or query string.

use std::{cell::RefCell, collections::VecDeque, future::Future, sync::Mutex, time::Duration};

use axum::response::Response;
use serde::Serialize;
use tokio::{sync::broadcast, task::futures::TaskLocalFuture};

use crate::storage::Recorded;

const KEPT: usize = 1000;

/// One answered delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Unix ms.
    pub at: i64,
    pub family: &'static str,
    pub event_type: Option<String>,
    pub user_id: Option<String>,
    /// stored, duplicate, refused, unavailable, answered (skill), error.
    pub outcome: &'static str,
    pub status: u16,
    pub reason: Option<String>,
    pub answer_ms: u64,
    pub deadline_ms: u64,
}

pub struct DeliveryLog {
    kept: Mutex<VecDeque<Delivery>>,
    live: broadcast::Sender<Delivery>,
}

impl Default for DeliveryLog {
    fn default() -> Self {
        Self {
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
            live: broadcast::channel(256).0,
        }
    }
}

impl DeliveryLog {
    fn push(&self, delivery: Delivery) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        // Cloned for open pages only.
        if self.live.receiver_count() > 0 {
            kept.push_back(delivery.clone());
            drop(kept);
            let _ = self.live.send(delivery);
        } else {
            kept.push_back(delivery);
        }
    }

    /// The kept deliveries, newest first.
    pub fn recent(&self) -> Vec<Delivery> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().rev().cloned().collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Delivery> {
        self.live.subscribe()
    }
}

/// What storing told about the request being answered (set by
/// [`note_stored`] from the delivery path, read by [`record`]).
#[derive(Default)]
pub struct Stored {
    event_type: Option<String>,
    user_id: Option<String>,
    duplicate: bool,
}

tokio::task_local! {
    static STORED: RefCell<Option<Stored>>;
}

/// Called by the store-then-acknowledge path once events are durable.
pub fn note_stored(event_type: &str, user_id: Option<&str>, recorded: &[Recorded]) {
    let _ = STORED.try_with(|cell| {
        *cell.borrow_mut() = Some(Stored {
            event_type: Some(event_type.to_owned()),
            user_id: user_id.map(str::to_owned),
            duplicate: !recorded
                .iter()
                .any(|r| matches!(r, Recorded::Stored { .. })),
        });
    });
}

/// Why a request was refused, put on the response by `ApiError`.
#[derive(Clone, Debug)]
pub struct Refusal(pub String);

/// The family a Kakao path belongs to, and Kakao's deadline for it.
pub fn family(path: &str) -> Option<(&'static str, u64)> {
    let path = path.trim_end_matches('/');
    Some(match path {
        "/kakao/skill" => ("skill", 5000),
        "/kakao/unlink" => ("unlink", 3000),
        "/kakao/channel" => ("channel", 3000),
        "/kakao/share" => ("share", 3000),
        "/kakao/events" => ("events", 3000),
        "/kakao/bot" => ("bot", 1000),
        _ => return None,
    })
}

/// What the store-then-acknowledge path reported for a request, kept for
/// it by [`scoped`].
pub type Scoped<F> = TaskLocalFuture<RefCell<Option<Stored>>, F>;

/// `answering`, with room for [`note_stored`] to report what it stored.
pub fn scoped<F: Future>(answering: F) -> Scoped<F> {
    STORED.scope(RefCell::new(None), answering)
}

/// Records a Kakao delivery as answered: `family` and Kakao's deadline from
/// [`family`], what was stored (from [`Scoped::take_value`]), and how long
/// the answer took.
pub fn record(
    log: &DeliveryLog,
    (family, deadline_ms): (&'static str, u64),
    elapsed: Duration,
    response: &Response,
    stored: Option<RefCell<Option<Stored>>>,
) {
    let status = response.status();
    let stored = stored.and_then(RefCell::into_inner).unwrap_or_default();
    let outcome = match status.as_u16() {
        _ if stored.event_type.is_some() && status.is_success() => {
            if stored.duplicate {
                "duplicate"
            } else {
                "stored"
            }
        }
        200..=299 => "answered",
        503 => "unavailable",
        400..=499 => "refused",
        _ => "error",
    };
    let reason = response
        .extensions()
        .get::<Refusal>()
        .map(|r| crate::telemetry::loggable(&r.0).to_string());
    log.push(Delivery {
        at: crate::clock::now_millis(),
        family,
        event_type: stored.event_type,
        user_id: stored.user_id,
        outcome,
        status: status.as_u16(),
        reason,
        answer_ms: elapsed.as_millis() as u64,
        deadline_ms,
    });
}

/// A delivery for the view models' tests.
#[cfg(test)]
pub(crate) fn sample(outcome: &'static str, answer_ms: u64) -> Delivery {
    Delivery {
        at: 0,
        family: "bot",
        event_type: None,
        user_id: None,
        outcome,
        status: 204,
        reason: None,
        answer_ms,
        deadline_ms: 1000,
    }
}
