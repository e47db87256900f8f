//! Every request to `/kakao/*` (and every gateway event) as it was answered:
//! family, type, user, [`Outcome`] and why, answer time against Kakao's
//! deadline. Each is counted once here, the one place outcomes are decided:
//! `kakao_webhooks_received_total{family,outcome}`, the console's live page
//! (the last 1000, per instance, broadcast to open pages) and the tally the
//! alerts count failures from (flushed to the database, so every instance
//! judges from the same numbers). Nothing here is a secret: no payload,
//! token or query string.

use std::{
    cell::RefCell,
    collections::VecDeque,
    future::Future,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::response::Response;
use rustc_hash::FxHashMap;
use serde::Serialize;
use tokio::{sync::broadcast, task::futures::TaskLocalFuture};

pub use super::answer_times::AnswerTimes;
use crate::storage::Recorded;

const KEPT: usize = 1000;

/// How a delivery from Kakao was answered. Refused, unavailable, fallback
/// and error are failures; so is any answer past Kakao's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored (and applied) before the 2xx.
    Accepted,
    /// Already stored: 2xx again, nothing changed.
    Duplicate,
    /// A skill request answered by its handler.
    Answered,
    /// A skill request answered with `SKILL_FALLBACK_TEXT`: the user saw
    /// an apology, whatever the status.
    Fallback,
    /// 4xx: a wrong key or secret, a bad signature, a malformed request.
    Refused,
    /// 503: storage failing or too slow, a family not configured.
    Unavailable,
    /// Any other answer (a panic's 500).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Self::Accepted,
        Self::Duplicate,
        Self::Answered,
        Self::Fallback,
        Self::Refused,
        Self::Unavailable,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Answered => "answered",
            Self::Fallback => "fallback",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Fallback | Self::Refused | Self::Unavailable | Self::Error
        )
    }
}

/// One answered delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Its number in this instance's log (set by [`DeliveryLog::observe`]):
    /// the console's `/console/deliveries/live-{seq}`.
    pub seq: u64,
    /// The event it stored, when it stored one.
    pub event_id: Option<i64>,
    /// Unix ms.
    pub at: i64,
    pub family: &'static str,
    pub event_type: Option<String>,
    pub user_id: Option<String>,
    pub outcome: Outcome,
    pub status: u16,
    pub reason: Option<String>,
    pub answer_ms: u64,
    pub deadline_ms: u64,
}

impl Delivery {
    /// Answered after Kakao stopped waiting.
    pub fn late(&self) -> bool {
        self.answer_ms > self.deadline_ms
    }

    /// A failure wherever failures are counted.
    pub fn failed(&self) -> bool {
        self.outcome.is_failure() || self.late()
    }
}

/// Deliveries of one family, with one outcome, in one bucket of time, not
/// yet written to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The bucket's start, Unix ms.
    pub bucket: i64,
    pub family: &'static str,
    pub outcome: Outcome,
    pub deliveries: i64,
    /// Of those, answered past the deadline.
    pub late: i64,
}

/// (bucket, family, outcome), counted as (deliveries, late).
type TallyKey = (i64, &'static str, Outcome);

pub struct DeliveryLog {
    next_seq: AtomicU64,
    kept: Mutex<VecDeque<Delivery>>,
    live: broadcast::Sender<Delivery>,
    bucket_ms: i64,
    tally: Mutex<FxHashMap<TallyKey, (i64, i64)>>,
    /// Answer times per minute, for the console's charts.
    pub answer_times: AnswerTimes,
}

impl DeliveryLog {
    /// Tallies deliveries in buckets of `bucket`.
    pub fn new(bucket: Duration) -> Self {
        Self {
            next_seq: AtomicU64::new(1),
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
            live: broadcast::channel(256).0,
            bucket_ms: (bucket.as_millis() as i64).max(1),
            tally: Mutex::default(),
            answer_times: AnswerTimes::default(),
        }
    }

    /// Counts `delivery` everywhere deliveries are counted.
    pub fn observe(&self, mut delivery: Delivery) {
        delivery.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.answer_times
            .observe(delivery.at, delivery.family, delivery.answer_ms);
        increment(RECEIVED, delivery.family, delivery.outcome);
        let late = delivery.late();
        if late {
            increment(LATE, delivery.family, delivery.outcome);
        }
        {
            let bucket = delivery.at - delivery.at.rem_euclid(self.bucket_ms);
            let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            let entry = tally
                .entry((bucket, delivery.family, delivery.outcome))
                .or_default();
            entry.0 += 1;
            entry.1 += i64::from(late);
        }
        self.push(delivery);
    }

    /// What was tallied since the last call, emptied.
    pub fn take_tally(&self) -> Vec<Tally> {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        tally
            .drain()
            .map(|((bucket, family, outcome), (deliveries, late))| Tally {
                bucket,
                family,
                outcome,
                deliveries,
                late,
            })
            .collect()
    }

    /// Puts back a tally that could not be written, to be tried again.
    pub fn restore_tally(&self, rows: Vec<Tally>) {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            let entry = tally
                .entry((row.bucket, row.family, row.outcome))
                .or_default();
            entry.0 += row.deliveries;
            entry.1 += row.late;
        }
    }

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

    /// The kept delivery numbered `seq`.
    pub fn find(&self, seq: u64) -> Option<Delivery> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|d| d.seq == seq).cloned()
    }

    /// The kept delivery that stored `event_id`.
    pub fn find_event(&self, event_id: i64) -> Option<Delivery> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|d| d.event_id == Some(event_id)).cloned()
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

const RECEIVED: usize = 0;
const LATE: usize = 1;
/// Every family a delivery from Kakao belongs to.
pub const FAMILIES: [&str; 6] = ["skill", "unlink", "channel", "share", "events", "bot"];

/// Adds one to the counter of `family` and `outcome`:
/// `kakao_webhooks_received_total` (`which` = RECEIVED) or
/// `…_deadline_missed_total` (LATE). Each handle is looked up once: a lookup
/// by labels on every request is a measurable share of a skill POST (as in
/// `skill::record_handler_time`).
fn increment(which: usize, family: &'static str, outcome: Outcome) {
    const NAMES: [&str; 2] = [
        "kakao_webhooks_received_total",
        "kakao_webhooks_deadline_missed_total",
    ];
    static HANDLES: [[[OnceLock<metrics::Counter>; 7]; 6]; 2] =
        [const { [const { [const { OnceLock::new() }; 7] }; 6] }; 2];
    let labels =
        || metrics::counter!(NAMES[which], "family" => family, "outcome" => outcome.as_str());
    let o = Outcome::ALL.iter().position(|known| *known == outcome);
    match (FAMILIES.iter().position(|known| *known == family), o) {
        (Some(f), Some(o)) => HANDLES[which][f][o].get_or_init(labels).increment(1),
        // Not a family of ours: counted, not cached (never happens today).
        _ => labels().increment(1),
    }
}

/// What storing told about the request being answered (set by
/// [`note_stored`] from the delivery path, read by [`record`]).
#[derive(Default)]
pub struct Stored {
    event_id: Option<i64>,
    event_type: Option<String>,
    user_id: Option<String>,
    duplicate: bool,
}

impl Stored {
    fn of(event_type: &str, user_id: Option<&str>, recorded: &[Recorded]) -> Self {
        Self {
            event_id: first_stored(recorded),
            event_type: Some(event_type.to_owned()),
            user_id: user_id.map(str::to_owned),
            duplicate: !recorded
                .iter()
                .any(|r| matches!(r, Recorded::Stored { .. })),
        }
    }
}

/// The id of the first event `recorded` stored.
fn first_stored(recorded: &[Recorded]) -> Option<i64> {
    recorded.iter().find_map(|r| match r {
        Recorded::Stored { event_id } => Some(*event_id),
        Recorded::Duplicate => None,
    })
}

tokio::task_local! {
    static STORED: RefCell<Option<Stored>>;
}

/// Called by the store-then-acknowledge path once events are durable.
pub fn note_stored(event_type: &str, user_id: Option<&str>, recorded: &[Recorded]) {
    let _ = STORED.try_with(|cell| {
        *cell.borrow_mut() = Some(Stored::of(event_type, user_id, recorded));
    });
}

/// Put on a skill answer that is the fallback text, with why.
#[derive(Clone, Debug)]
pub struct Fallback(pub String);

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
    let fallback = response.extensions().get::<Fallback>();
    let outcome = match status.as_u16() {
        _ if fallback.is_some() => Outcome::Fallback,
        _ if stored.event_type.is_some() && status.is_success() => {
            if stored.duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Accepted
            }
        }
        200..=299 => Outcome::Answered,
        503 => Outcome::Unavailable,
        400..=499 => Outcome::Refused,
        _ => Outcome::Error,
    };
    let reason = fallback.map(|f| f.0.as_str()).or_else(|| {
        response
            .extensions()
            .get::<crate::http::error::Refusal>()
            .map(|r| r.0.as_str())
    });
    log.observe(Delivery {
        seq: 0,
        event_id: stored.event_id,
        at: crate::clock::now_millis(),
        family,
        event_type: stored.event_type,
        user_id: stored.user_id,
        outcome,
        status: status.as_u16(),
        reason: reason.map(|r| crate::telemetry::loggable(r).to_string()),
        answer_ms: elapsed.as_millis() as u64,
        deadline_ms,
    });
}

/// Records an event the Bot API gateway delivered: stored (or not) in
/// `elapsed`, against the webhook's deadline.
pub fn record_gateway_event(
    log: &DeliveryLog,
    event_type: &str,
    stored: Result<&[Recorded], ()>,
    elapsed: Duration,
) {
    let (outcome, status) = match stored {
        Ok(recorded)
            if recorded
                .iter()
                .any(|r| matches!(r, Recorded::Stored { .. })) =>
        {
            (Outcome::Accepted, 200)
        }
        Ok(_) => (Outcome::Duplicate, 200),
        Err(()) => (Outcome::Unavailable, 503),
    };
    log.observe(Delivery {
        seq: 0,
        event_id: stored.ok().and_then(first_stored),
        at: crate::clock::now_millis(),
        family: "bot",
        event_type: Some(event_type.to_owned()),
        user_id: None,
        outcome,
        status,
        reason: None,
        answer_ms: elapsed.as_millis() as u64,
        deadline_ms: 1000,
    });
}

/// A delivery for the view models' tests.
#[cfg(test)]
pub(crate) fn sample(outcome: Outcome, answer_ms: u64) -> Delivery {
    Delivery {
        seq: 0,
        event_id: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_the_failing_outcomes_and_late_answers() {
        assert!(!sample(Outcome::Accepted, 10).failed());
        assert!(sample(Outcome::Accepted, 1001).failed());
        for outcome in [
            Outcome::Refused,
            Outcome::Fallback,
            Outcome::Unavailable,
            Outcome::Error,
        ] {
            assert!(sample(outcome, 1).failed(), "{outcome:?}");
        }
    }

    #[test]
    fn the_tally_buckets_by_time_family_and_outcome() {
        let log = DeliveryLog::new(Duration::from_secs(10));
        for (at, outcome, ms) in [
            (10_001, Outcome::Refused, 5),
            (19_999, Outcome::Refused, 5000),
            (20_000, Outcome::Refused, 5),
        ] {
            log.observe(Delivery {
                at,
                ..sample(outcome, ms)
            });
        }
        let mut tally = log.take_tally();
        tally.sort_by_key(|t| t.bucket);
        assert_eq!(tally.len(), 2);
        assert_eq!(
            (tally[0].bucket, tally[0].deliveries, tally[0].late),
            (10_000, 2, 1)
        );
        assert_eq!((tally[1].bucket, tally[1].deliveries), (20_000, 1));
        assert!(log.take_tally().is_empty());
        log.restore_tally(tally);
        assert_eq!(log.take_tally().len(), 2);
    }
}
