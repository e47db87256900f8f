//! The worker that delivers notifications to `APP_NOTIFY_URL` (and, as a
//! second worker on the same outbox, alerts to `ALERT_WEBHOOK_URL`): at
//! least once, signed, the same `webhook-id` and body on every attempt. A 2xx ends it;
//! anything else is retried on a schedule of about a day, with jitter, then
//! the notification is `failed` (and can be retried through the API).
//!
//! Each claim's lease outlasts the attempt's timeout, so a notification is
//! never sent by two instances at once; one claimed by an instance that died
//! is taken over when the lease ends.
//!
//! The app's destination pauses once every attempt has failed for
//! `APP_NOTIFY_PAUSE_AFTER_SECONDS`, or at once on `410 Gone`: nothing is
//! attempted and nothing becomes failed until it is resumed. A `Retry-After`
//! on a `429` or `503` is honoured (at most an hour). At most
//! `APP_NOTIFY_MAX_PER_SECOND` go out per instance, so a backlog does not
//! flatten a recovering app.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use url::Url;

pub use super::pacing::Pacing;
use super::{pacing::retry_after_header, signing::SigningSecret};
use crate::{
    clock::{millis_from_now, now_millis},
    storage::{
        Storage,
        notifications::{AttemptFailure, ClaimedNotification, Destination},
    },
    telemetry::Chain,
};

/// Deliveries in flight at once, per instance.
const CONCURRENCY: usize = 16;
/// What is read of the app's answer (and then dropped).
const ANSWER_LIMIT: usize = 64 * 1024;

pub struct Notifier {
    storage: Storage,
    client: reqwest::Client,
    destination: Destination,
    url: Url,
    /// The app's notifications are always signed; alerts when the secret is
    /// set (a chat webhook takes them unsigned).
    secret: Option<SigningSecret>,
    timeout: Duration,
    /// Waits after failed attempt 1, 2, …; then the notification is failed.
    schedule: Vec<Duration>,
    /// The app's destination: when it pauses, and how fast it is sent to.
    pacing: Option<Pacing>,
    /// Whether the destination was failing when last looked at (a success
    /// then clears it in the database).
    failing: AtomicBool,
    /// The broker, for `Destination::Stream` (no POST then).
    publisher: Option<Arc<super::stream::Publisher>>,
}

/// How one attempt went.
enum Attempt {
    Delivered(u16),
    /// With how long the app asked us to wait (`Retry-After`).
    Failed(AttemptFailure, Option<Duration>),
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// While paused, a notification past its schedule waits this long (and is
/// not claimed until the destination resumes).
const PAUSED_WAIT: Duration = Duration::from_secs(60);

impl Notifier {
    pub fn new(
        storage: Storage,
        client: reqwest::Client,
        (destination, url): (Destination, Url),
        secret: Option<SigningSecret>,
        timeout: Duration,
        schedule: Vec<Duration>,
    ) -> Self {
        Self {
            storage,
            client,
            destination,
            url,
            secret,
            timeout,
            schedule,
            pacing: None,
            failing: AtomicBool::new(false),
            publisher: None,
        }
    }

    /// A worker publishing the broker's rows (`EVENT_STREAM_URL`) instead
    /// of POSTing them.
    pub fn to_stream(
        storage: Storage,
        client: reqwest::Client,
        publisher: Arc<super::stream::Publisher>,
        timeout: Duration,
        schedule: Vec<Duration>,
    ) -> Self {
        let mut notifier = Self::new(
            storage,
            client,
            (Destination::Stream, Url::parse("stream:").expect("a URL")),
            None,
            timeout,
            schedule,
        );
        notifier.publisher = Some(publisher);
        notifier
    }

    /// Pauses after failing for long, and sends at most so many a second.
    pub fn pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Claims and delivers due notifications until `shutdown`.
    pub async fn run(self: Arc<Self>, tasks: TaskTracker, shutdown: CancellationToken) {
        // The attempt's timeout, plus time to record how it went.
        let lease = self.timeout + Duration::from_secs(5);
        let this = &self;
        let claim = |limit| async move {
            this.record_oldest_pending().await;
            let Some(pacing) = &this.pacing else {
                return this
                    .storage
                    .claim_notifications(this.destination, millis_from_now(lease), limit)
                    .await;
            };
            let state = this.storage.destination_state(this.destination).await?;
            let paused = if state.paused() { 1.0 } else { 0.0 };
            metrics::gauge!("kakao_app_notifications_paused").set(paused);
            if state.paused() {
                return Ok(Vec::new());
            }
            this.failing
                .store(state.failing_since.is_some(), Ordering::Relaxed);
            let allowed = pacing.rate.take(limit as u64).await;
            let claimed = this
                .storage
                .claim_notifications(this.destination, millis_from_now(lease), allowed as i64)
                .await;
            let used = claimed.as_ref().map_or(0, Vec::len) as u64;
            pacing.rate.give_back(allowed - used);
            claimed
        };
        let work = |row| {
            let notifier = self.clone();
            async move { notifier.deliver(row).await }
        };
        let never_woken = tokio::sync::Notify::new();
        let name = match self.destination {
            Destination::App => "notifier",
            Destination::Alert => "alert notifier",
            Destination::Stream => "stream publisher",
        };
        crate::outbound::claim_loop::run(
            name,
            CONCURRENCY,
            &never_woken,
            &tasks,
            &shutdown,
            claim,
            work,
        )
        .await;
    }

    async fn deliver(&self, row: ClaimedNotification) {
        let outcome = self.attempt(&row).await;
        let recorded = match &outcome {
            Attempt::Delivered(status) => {
                metrics::counter!(self.counter(), "outcome" => "delivered").increment(1);
                metrics::histogram!("kakao_app_notification_delay_seconds")
                    .record((now_millis() - row.created_at).max(0) as f64 / 1000.0);
                if self.pacing.is_some()
                    && self.failing.swap(false, Ordering::Relaxed)
                    && let Err(err) = self.storage.destination_succeeded(self.destination).await
                {
                    tracing::warn!(error = %Chain(&err), "notifier: cannot record that the app answers again");
                }
                self.storage.notification_delivered(&row, *status).await
            }
            Attempt::Failed(failure, asked) => {
                let paused = self.destination_failed(failure).await;
                let mut next = retry_after(&self.schedule, row.attempts).map(jittered);
                // The app asked for a longer wait: at least that, at most an hour.
                if let (Some(wait), Some(asked)) = (next.as_mut(), asked) {
                    *wait = (*wait).max((*asked).min(MAX_RETRY_AFTER));
                }
                // Paused: nothing becomes failed; it waits for the resume.
                if paused && next.is_none() {
                    next = Some(PAUSED_WAIT);
                }
                let next = next.map(millis_from_now);
                let outcome = if next.is_some() { "retried" } else { "failed" };
                metrics::counter!(self.counter(), "outcome" => outcome).increment(1);
                tracing::warn!(
                    notification_id = row.notification_id,
                    attempt = row.attempts,
                    status = failure.status,
                    error = %failure.error,
                    "notification not delivered; {outcome}"
                );
                self.storage
                    .notification_attempt_failed(&row, failure, next)
                    .await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                notification_id = row.notification_id,
                "notifier: the claim ran out before the attempt was recorded"
            ),
            Err(err) => tracing::warn!(
                error = %Chain(&err),
                notification_id = row.notification_id,
                "notifier: cannot record an attempt; it is retried when its lease ends"
            ),
        }
    }

    /// One signed POST, bounded in time; the answer's body is read (bounded)
    /// so the connection can be reused.
    async fn attempt(&self, row: &ClaimedNotification) -> Attempt {
        let id = match self.destination {
            Destination::App | Destination::Stream => {
                webhook_id(row.notification_id, row.created_at)
            }
            Destination::Alert => format!("alr_{}_{}", row.created_at, row.notification_id),
        };
        if let Some(publisher) = &self.publisher {
            return publish(publisher, &id, row).await;
        }
        let timestamp = now_millis() / 1000;
        let headers = self
            .secret
            .as_ref()
            .map(|secret| secret.headers(&id, timestamp, row.body.as_bytes()))
            .unwrap_or_default();
        let sent = self
            .client
            .post(self.url.clone())
            .headers(headers)
            .header("content-type", "application/json")
            .body(row.body.clone())
            .timeout(self.timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Failed(
                    AttemptFailure {
                        status: None,
                        error: super::describe(&err),
                    },
                    None,
                );
            }
        };
        let status = response.status();
        let asked = matches!(status.as_u16(), 429 | 503)
            .then(|| retry_after_header(response.headers()))
            .flatten();
        let _ = crate::http::read_limited(response, ANSWER_LIMIT).await;
        if status.is_success() {
            Attempt::Delivered(status.as_u16())
        } else {
            Attempt::Failed(
                AttemptFailure {
                    status: Some(status.as_u16()),
                    error: format!("answered {status}"),
                },
                asked,
            )
        }
    }

    /// Records a failed attempt against the destination; true when it is
    /// (now, or already) paused.
    async fn destination_failed(&self, failure: &AttemptFailure) -> bool {
        let Some(pacing) = &self.pacing else {
            return false;
        };
        self.failing.store(true, Ordering::Relaxed);
        let gone = failure.status == Some(410);
        let setting = self.setting();
        let reason = if gone {
            "the app answered 410 Gone".to_owned()
        } else {
            format!(
                "every attempt failed for {} s (the last: {})",
                pacing.pause_after.as_secs(),
                failure.error
            )
        };
        let now = now_millis();
        match self
            .storage
            .destination_failed(
                self.destination,
                now,
                pacing.pause_after.as_millis() as i64,
                gone,
                &reason,
            )
            .await
        {
            Ok(true) => {
                metrics::counter!("kakao_app_notification_pauses_total").increment(1);
                tracing::error!(reason = %reason, "{setting} paused: notifications wait until POST /api/notifications/resume");
                true
            }
            Ok(false) => self
                .storage
                .destination_state(self.destination)
                .await
                .is_ok_and(|state| state.paused()),
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "notifier: cannot record a failed attempt against the destination");
                false
            }
        }
    }

    /// The setting this destination comes from, for the logs.
    fn setting(&self) -> &'static str {
        match self.destination {
            Destination::App => "APP_NOTIFY_URL",
            Destination::Alert => "ALERT_WEBHOOK_URL",
            Destination::Stream => "EVENT_STREAM_URL",
        }
    }

    fn counter(&self) -> &'static str {
        match self.destination {
            Destination::App => "kakao_app_notifications_total",
            Destination::Alert => "kakao_alert_notifications_total",
            Destination::Stream => "kakao_stream_notifications_total",
        }
    }

    async fn record_oldest_pending(&self) {
        if self.destination != Destination::App {
            return;
        }
        if let Ok(oldest) = self
            .storage
            .oldest_pending_notification(Destination::App)
            .await
        {
            let age = oldest.map_or(0.0, |at| (now_millis() - at).max(0) as f64 / 1000.0);
            metrics::gauge!("kakao_app_notifications_oldest_pending_seconds").set(age);
        }
    }
}

/// One publish to the broker: the notification's JSON with its `id`.
async fn publish(
    publisher: &super::stream::Publisher,
    id: &str,
    row: &ClaimedNotification,
) -> Attempt {
    let mut body: serde_json::Value = serde_json::from_str(&row.body).unwrap_or_default();
    let kind = body["type"].as_str().unwrap_or("unknown").to_owned();
    if let Some(object) = body.as_object_mut() {
        object.insert("id".into(), id.into());
    }
    let body = body.to_string();
    match publisher.publish(id, &kind, body.as_bytes()).await {
        Ok(()) => Attempt::Delivered(200),
        Err(error) => Attempt::Failed(
            AttemptFailure {
                status: None,
                error: format!("{}: {error}", publisher.kind()),
            },
            None,
        ),
    }
}

/// The `webhook-id` of a notification: the same on every attempt. The time
/// it was queued is part of it, so a new database (ids from 1 again) never
/// reuses an id the app has already seen and deduplicated.
pub fn webhook_id(notification_id: i64, created_at: i64) -> String {
    format!("ntf_{created_at}_{notification_id}")
}

/// The wait after failed attempt `attempts` (1-based), or `None` when the
/// schedule is over.
fn retry_after(schedule: &[Duration], attempts: i64) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    schedule.get(index).copied()
}

/// `wait` ± 20%.
fn jittered(wait: Duration) -> Duration {
    crate::clock::jittered(wait, 0.8, 1.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_ends_after_its_last_wait() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(60)];
        assert_eq!(retry_after(&schedule, 1), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(&schedule, 2), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(&schedule, 3), None);
        assert_eq!(retry_after(&schedule, 0), None);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_secs(100));
            assert!((80.0..=120.0).contains(&wait.as_secs_f64()), "{wait:?}");
        }
    }
}
