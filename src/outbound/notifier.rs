//! The worker that delivers notifications to `APP_NOTIFY_URL` (and, as a
//! second worker on the same outbox, alerts to `ALERT_WEBHOOK_URL`): at
//! least once, signed, the same `webhook-id` and body on every attempt. A 2xx ends it;
//! anything else is retried on a schedule of about a day, with jitter, then
//! the notification is `failed` (and can be retried through the API).
//!
//! Each claim's lease outlasts the attempt's timeout, so a notification is
//! never sent by two instances at once; one claimed by an instance that died
//! is taken over when the lease ends.

use std::{sync::Arc, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};
use url::Url;

use super::signing::SigningSecret;
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
}

/// How one attempt went.
enum Attempt {
    Delivered(u16),
    Failed(AttemptFailure),
}

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
        }
    }

    /// Claims and delivers due notifications until `shutdown`.
    pub async fn run(self: Arc<Self>, tasks: TaskTracker, shutdown: CancellationToken) {
        // The attempt's timeout, plus time to record how it went.
        let lease = self.timeout + Duration::from_secs(5);
        let this = &self;
        let claim = |limit| async move {
            this.record_oldest_pending().await;
            this.storage
                .claim_notifications(this.destination, millis_from_now(lease), limit)
                .await
        };
        let work = |row| {
            let notifier = self.clone();
            async move { notifier.deliver(row).await }
        };
        let never_woken = tokio::sync::Notify::new();
        let name = match self.destination {
            Destination::App => "notifier",
            Destination::Alert => "alert notifier",
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
                self.storage.notification_delivered(&row, *status).await
            }
            Attempt::Failed(failure) => {
                let next = retry_after(&self.schedule, row.attempts)
                    .map(|wait| millis_from_now(jittered(wait)));
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
            Destination::App => webhook_id(row.notification_id, row.created_at),
            Destination::Alert => format!("alr_{}_{}", row.created_at, row.notification_id),
        };
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
                return Attempt::Failed(AttemptFailure {
                    status: None,
                    error: describe(&err),
                });
            }
        };
        let status = response.status();
        let _ = crate::http::read_limited(response, ANSWER_LIMIT).await;
        if status.is_success() {
            Attempt::Delivered(status.as_u16())
        } else {
            Attempt::Failed(AttemptFailure {
                status: Some(status.as_u16()),
                error: format!("answered {status}"),
            })
        }
    }

    fn counter(&self) -> &'static str {
        match self.destination {
            Destination::App => "kakao_app_notifications_total",
            Destination::Alert => "kakao_alert_notifications_total",
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

/// A transport error without its URL (the app's URL may carry a token).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::telemetry::loggable(&text).to_string()
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
