//! The skill handler that is the app's HTTP endpoint (`SKILL_UPSTREAM_URL`):
//! the request goes as OpenBuilder sent it, signed, and the app's `200` with
//! a SkillResponse is the answer. Everything else the skill endpoint
//! guarantees (sync budget, callback mode, Kakao's limits, the fallback text)
//! stays with [`crate::skill::SkillService`], which runs this like any
//! handler, once per request.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;

use crate::outbound::forward::{Upstream, request_id};
use crate::skill::{SkillHandler, SkillRequest, SkillResponse, limits::MAX_RESPONSE_BYTES};

pub struct SkillUpstream {
    upstream: Upstream,
    /// The longest a request can wait (the callback deadline); the skill
    /// service cuts it sooner when there is no callback.
    timeout: Duration,
}

impl SkillUpstream {
    pub fn new(upstream: Upstream, timeout: Duration) -> Self {
        Self { upstream, timeout }
    }
}

#[async_trait]
impl SkillHandler for SkillUpstream {
    async fn handle(&self, request: SkillRequest) -> anyhow::Result<SkillResponse> {
        let body = request.raw_body().clone();
        anyhow::ensure!(!body.is_empty(), "the skill request has no body to forward");
        // One byte over Kakao's limit is enough to know the answer is too large.
        let (status, answer) = self
            .upstream
            .post(
                &request_id("skl"),
                body,
                self.timeout,
                MAX_RESPONSE_BYTES + 1,
            )
            .await?;
        anyhow::ensure!(
            status == reqwest::StatusCode::OK,
            "the app's skill handler answered {status}, not 200"
        );
        serde_json::from_slice(&answer)
            .context("the app's skill handler answered something that is not a SkillResponse")
    }
}
