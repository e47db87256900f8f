//! One signed POST to the app's handler, bounded in time and size, on the
//! service's pooled client. What the skill and bot forwarding share.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use url::Url;

use super::signing::SigningSecret;
use crate::clock::now_millis;

/// Why the app's answer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the app's handler did not answer in time")]
    Timeout,
    #[error("cannot reach the app's handler: {0}")]
    Unreachable(String),
    #[error("the app's handler answered {0}")]
    Status(StatusCode),
    #[error("the app's answer is unusable: {0}")]
    Answer(String),
}

impl ForwardError {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::Answer(_) => "invalid_answer",
        }
    }
}

/// The app's endpoint for one kind of request (`target`: skill or bot).
#[derive(Clone, Debug)]
pub struct Upstream {
    client: reqwest::Client,
    url: Url,
    secret: SigningSecret,
    target: &'static str,
}

impl Upstream {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        secret: SigningSecret,
        target: &'static str,
    ) -> Self {
        Self {
            client,
            url,
            secret,
            target,
        }
    }

    /// POSTs `body` signed as `id`; the status and at most `limit` bytes of
    /// the answer.
    pub async fn post(
        &self,
        id: &str,
        body: Bytes,
        timeout: Duration,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), ForwardError> {
        let started = Instant::now();
        let headers = self.secret.headers(id, now_millis() / 1000, &body);
        let exchange = async {
            let response = self
                .client
                .post(self.url.clone())
                .headers(headers)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|err| ForwardError::Unreachable(super::describe(&err)))?;
            let status = response.status();
            let answer = crate::http::read_limited(response, limit)
                .await
                .map_err(ForwardError::Answer)?;
            Ok((status, answer))
        };
        let result = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(ForwardError::Timeout));
        let outcome = match &result {
            Ok((status, _)) if status.is_success() => "ok",
            Ok(_) => "status",
            Err(err) => err.outcome(),
        };
        metrics::counter!("kakao_upstream_calls_total", "target" => self.target, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("kakao_upstream_latency_seconds", "target" => self.target)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

/// A fresh `webhook-id` for a forwarded request.
pub fn request_id(prefix: &str) -> String {
    format!(
        "{prefix}_{:016x}",
        getrandom::u64().unwrap_or_else(|_| now_millis() as u64)
    )
}
