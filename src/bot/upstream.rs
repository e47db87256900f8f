//! The bot handler that is the app's HTTP endpoint (`KAKAO_BOT_UPSTREAM_URL`):
//! each event goes as `{"op","t","d"}` (`d.id` exact, no callback token),
//! signed. `200` with a SkillResponse is the reply, `204` none. A timeout,
//! an unreachable app or a 5xx is retried with backoff until the reply job's
//! deadline cuts it (the callback token's life), under one `webhook-id`; the
//! outbox then sends the fallback text.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::outbound::forward::{ForwardError, Upstream, request_id};
use crate::{
    bot::{BotHandler, event::BotEvent},
    skill::{SkillResponse, limits::MAX_RESPONSE_BYTES},
};

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// One attempt; the reply job's deadline bounds them all.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct BotUpstream {
    upstream: Upstream,
}

impl BotUpstream {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

#[async_trait]
impl BotHandler for BotUpstream {
    async fn handle(&self, _event: BotEvent) -> anyhow::Result<Option<SkillResponse>> {
        anyhow::bail!("the bot upstream forwards frames; it has no frame for this event")
    }

    async fn handle_frame(
        &self,
        t: &str,
        d: &Map<String, Value>,
        _event: BotEvent,
    ) -> anyhow::Result<Option<SkillResponse>> {
        let body = bytes::Bytes::from(json!({"op": 0, "t": t, "d": d}).to_string());
        let id = request_id("bot");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .upstream
                .post(&id, body.clone(), ATTEMPT_TIMEOUT, MAX_RESPONSE_BYTES + 1)
                .await;
            let retryable = match sent {
                Ok((status, _)) if status == reqwest::StatusCode::NO_CONTENT => return Ok(None),
                Ok((status, answer)) if status == reqwest::StatusCode::OK => {
                    return serde_json::from_slice(&answer).map(Some).context(
                        "the app's bot handler answered something that is not a SkillResponse",
                    );
                }
                Ok((status, _)) if status.is_server_error() => ForwardError::Status(status),
                Ok((status, _)) => {
                    anyhow::bail!("the app's bot handler answered {status}, not 200 or 204")
                }
                Err(err @ ForwardError::Answer(_)) => return Err(err.into()),
                Err(err) => err,
            };
            let wait = crate::clock::doubling_backoff(attempt, RETRY_FIRST, RETRY_MAX);
            tracing::warn!(attempt, error = %retryable, retry_in_ms = wait.as_millis() as u64, "bot upstream failed; retrying while the callback token lasts");
            tokio::time::sleep(wait).await;
        }
    }
}
