//! Profile refresh (off unless `KAKAO_PROFILE_REFRESH=true`): after a
//! `user-profile-changed` event, a durable job fetches the user from Kakao's
//! user API with the admin key, stores email and phone, and clears the
//! profile's stale flag. Failures are retried with backoff; a 4xx from Kakao
//! (the user is gone, say) ends the job. A 401 or 403 is about our admin key
//! (rotated, revoked), not the user: the worker pauses and keeps every job.
//! An email is stored only when Kakao says it is valid and verified: an app
//! that matches accounts by email must never be handed an unverified one.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{
    clock::{millis_from_now, now_millis},
    ids::UserId,
    storage::{
        Storage,
        jobs::{Job, PROFILE_REFRESH},
    },
    telemetry::Chain,
};

/// How often an idle worker looks for due jobs.
const POLL: Duration = Duration::from_millis(500);
/// A claimed job is another worker's to take after this (if this one died).
const LEASE: Duration = Duration::from_secs(60);
/// Retry delays: 1 s, 2 s, 4 s, … up to an hour; then the job is dropped.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(3600);
const MAX_ATTEMPTS: i64 = 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the worker waits after Kakao refused the admin key.
const UNAUTHORIZED_PAUSE: Duration = Duration::from_secs(10 * 60);
/// Largest user API answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct ProfileRefresher {
    storage: Storage,
    api_base: Url,
    admin_key: SecretString,
    client: reqwest::Client,
}

/// What the user API returns that we keep.
#[derive(Debug, Default, Deserialize)]
struct KakaoUser {
    #[serde(default)]
    kakao_account: KakaoAccount,
}

#[derive(Debug, Default, Deserialize)]
struct KakaoAccount {
    email: Option<String>,
    #[serde(default)]
    is_email_valid: bool,
    #[serde(default)]
    is_email_verified: bool,
    phone_number: Option<String>,
}

impl KakaoAccount {
    /// The email, only when Kakao marks it valid and verified.
    fn verified_email(&self) -> Option<&str> {
        self.email
            .as_deref()
            .filter(|_| self.is_email_valid && self.is_email_verified)
    }
}

enum Failure {
    /// Worth retrying (network, 5xx, 429).
    Transient(String),
    /// Kakao refused this user for good (4xx).
    Permanent(String),
    /// Kakao refused our admin key (401, 403): every job would fail alike.
    Unauthorized(String),
}

impl ProfileRefresher {
    pub fn new(
        storage: Storage,
        client: reqwest::Client,
        api_base: Url,
        admin_key: SecretString,
    ) -> Self {
        Self {
            storage,
            api_base,
            admin_key,
            client,
        }
    }

    /// Works through due jobs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let lease_until = millis_from_now(LEASE);
            match self.storage.claim_job(PROFILE_REFRESH, lease_until).await {
                Ok(Some(job)) => {
                    if let Paused::Yes = self.work(job).await {
                        metrics::gauge!("kakao_profile_refresh_paused").set(1.0);
                        let _ = shutdown
                            .run_until_cancelled(tokio::time::sleep(UNAUTHORIZED_PAUSE))
                            .await;
                        metrics::gauge!("kakao_profile_refresh_paused").set(0.0);
                    }
                }
                Ok(None) => {
                    let _ = shutdown.run_until_cancelled(tokio::time::sleep(POLL)).await;
                }
                Err(err) => {
                    tracing::warn!(error = %Chain(&err), "profile refresh: cannot claim a job");
                    let _ = shutdown
                        .run_until_cancelled(tokio::time::sleep(POLL * 4))
                        .await;
                }
            }
        }
    }

    async fn work(&self, job: Job) -> Paused {
        let mut paused = Paused::No;
        let fetched_at = now_millis();
        let outcome = match self.fetch(&job.user_id).await {
            Ok(user) => {
                let account = user.kakao_account;
                self.storage
                    .apply_profile(
                        &job.user_id,
                        account.verified_email(),
                        account.phone_number.as_deref(),
                        fetched_at,
                    )
                    .await
                    .map_err(|err| Failure::Transient(Chain(&err).to_string()))
            }
            Err(failure) => Err(failure),
        };
        let result = match outcome {
            Ok(()) => {
                tracing::info!(user.id = %job.user_id, outcome = "refreshed", "profile refresh");
                metrics::counter!("kakao_profile_refreshes_total", "outcome" => "refreshed")
                    .increment(1);
                self.storage.finish_job(&job).await
            }
            Err(Failure::Permanent(reason)) => {
                tracing::warn!(user.id = %job.user_id, %reason, outcome = "dropped", "profile refresh");
                metrics::counter!("kakao_profile_refreshes_total", "outcome" => "dropped")
                    .increment(1);
                self.storage.finish_job(&job).await
            }
            Err(Failure::Unauthorized(reason)) => {
                tracing::error!(%reason, pause_s = UNAUTHORIZED_PAUSE.as_secs(), "profile refresh: Kakao refused KAKAO_ADMIN_KEY; pausing, jobs kept");
                metrics::counter!("kakao_profile_refreshes_total", "outcome" => "unauthorized")
                    .increment(1);
                paused = Paused::Yes;
                let run_at = millis_from_now(UNAUTHORIZED_PAUSE);
                self.storage.retry_job(&job, run_at, &reason).await
            }
            Err(Failure::Transient(reason)) if job.attempts >= MAX_ATTEMPTS => {
                tracing::error!(user.id = %job.user_id, %reason, attempts = job.attempts, "profile refresh: giving up");
                metrics::counter!("kakao_profile_refreshes_total", "outcome" => "gave_up")
                    .increment(1);
                self.storage.finish_job(&job).await
            }
            Err(Failure::Transient(reason)) => {
                let delay = backoff(job.attempts);
                tracing::warn!(user.id = %job.user_id, %reason, retry_s = delay.as_secs(), "profile refresh failed; will retry");
                metrics::counter!("kakao_profile_refreshes_total", "outcome" => "retry")
                    .increment(1);
                let run_at = millis_from_now(delay);
                self.storage.retry_job(&job, run_at, &reason).await
            }
        };
        if let Err(err) = result {
            // The lease expires and the job is claimed again.
            tracing::warn!(error = %Chain(&err), "profile refresh: cannot update the job");
        }
        paused
    }

    /// `GET {api}/v2/user/me?target_id_type=user_id&target_id=…` with the admin key.
    async fn fetch(&self, user_id: &UserId) -> Result<KakaoUser, Failure> {
        let mut url = crate::http::api_url(&self.api_base, "/v2/user/me");
        url.query_pairs_mut()
            .append_pair("target_id_type", "user_id")
            .append_pair("target_id", user_id.as_str());
        let response = self
            .client
            .get(url)
            .timeout(REQUEST_TIMEOUT)
            .header(
                reqwest::header::AUTHORIZATION,
                format!("KakaoAK {}", self.admin_key.expose_secret()),
            )
            .send()
            .await
            .map_err(|err| {
                Failure::Transient(format!("user API unreachable: {}", err.without_url()))
            })?;
        let status = response.status();
        if status.is_success() {
            let body = crate::http::read_limited(response, MAX_ANSWER_BYTES)
                .await
                .map_err(|err| Failure::Transient(format!("user API answer unreadable: {err}")))?;
            return serde_json::from_slice(&body)
                .map_err(|err| Failure::Transient(format!("user API answer unreadable: {err}")));
        }
        let reason = format!("user API answered {status}");
        if matches!(
            status,
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN
        ) {
            Err(Failure::Unauthorized(reason))
        } else if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(Failure::Permanent(reason))
        } else {
            Err(Failure::Transient(reason))
        }
    }
}

/// Whether the worker must pause before the next job.
enum Paused {
    Yes,
    No,
}

fn backoff(attempts: i64) -> Duration {
    crate::clock::doubling_backoff(attempts, RETRY_FIRST, RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_counts_only_when_valid_and_verified() {
        let account = |valid, verified| KakaoAccount {
            email: Some("kim@example.com".into()),
            is_email_valid: valid,
            is_email_verified: verified,
            phone_number: None,
        };
        assert_eq!(
            account(true, true).verified_email(),
            Some("kim@example.com")
        );
        assert_eq!(account(true, false).verified_email(), None);
        assert_eq!(account(false, true).verified_email(), None);
        let unsaid: KakaoAccount = serde_json::from_str(r#"{"email":"a@b.c"}"#).unwrap();
        assert_eq!(unsaid.verified_email(), None);
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(19), RETRY_MAX);
    }
}
