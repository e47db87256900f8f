//! Callback mode (Kakao's AI chatbot callback): which callback URLs may be
//! called, and the one POST of the final response.
//!
//! A callback URL comes from the request body, so it is refused unless it is
//! https on an allowed host: otherwise anyone who can reach the skill endpoint
//! could make the server POST anywhere. Redirects are never followed, for the
//! same reason, and the POST is never retried: the URL is single-use.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::limits::CheckedJson;
use crate::{config::HostPattern, telemetry::loggable};

#[derive(Debug, Clone)]
pub struct CallbackPolicy {
    pub hosts: Vec<HostPattern>,
    pub allow_http: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallbackRefused {
    #[error("callback URL is not a valid URL")]
    NotAUrl,
    #[error("callback URL scheme {0:?} is not https")]
    Scheme(String),
    #[error("callback URL carries credentials")]
    Credentials,
    #[error("callback host {0:?} is not in skill_callback_hosts")]
    Host(String),
}

impl CallbackPolicy {
    /// The URL to call, or why it must not be called.
    pub fn check(&self, raw: &str) -> Result<Url, CallbackRefused> {
        let url = Url::parse(raw).map_err(|_| CallbackRefused::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(CallbackRefused::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CallbackRefused::Credentials);
        }
        let host = url.host_str().ok_or(CallbackRefused::NotAUrl)?;
        if !self.hosts.iter().any(|pattern| pattern.matches(host)) {
            return Err(CallbackRefused::Host(host.to_owned()));
        }
        Ok(url)
    }
}

/// How one callback POST ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Kakao answered 2xx and did not report a failure.
    Delivered,
    /// Kakao answered, but refused it (non-2xx or status FAIL/ERROR).
    Refused,
    /// No answer: connection error or timeout.
    Failed,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Refused => "refused",
            Delivery::Failed => "failed",
        }
    }
}

/// Kakao answers a callback with a few short fields.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Kakao's answer to a callback POST.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackAnswer {
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// POSTs the final response once, within `timeout`; `client` follows no
/// redirects. The URL is not logged: its token is a secret.
pub async fn deliver(
    client: &reqwest::Client,
    timeout: Duration,
    url: Url,
    response: &CheckedJson,
) -> Delivery {
    let host = url.host_str().unwrap_or_default().to_owned();
    let answer = match client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(response.bytes().clone())
        .send()
        .await
    {
        Ok(answer) => answer,
        Err(err) => {
            // reqwest's error text carries the URL, and with it the one-time token.
            tracing::warn!(callback.host = %host, error = %err.without_url(), "skill callback POST failed");
            return Delivery::Failed;
        }
    };
    let status = answer.status();
    // A body that is not Kakao's answer still tells us the HTTP status.
    // Read bounded: the callback host is only as trusted as its allowlist.
    let body: CallbackAnswer = crate::http::read_limited(answer, MAX_ANSWER_BYTES)
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let reported_failure = matches!(body.status.as_deref(), Some("FAIL" | "ERROR"));
    let delivery = if status.is_success() && !reported_failure {
        Delivery::Delivered
    } else {
        Delivery::Refused
    };
    tracing::info!(
        callback.host = %host,
        http.status = status.as_u16(),
        callback.task_id = %loggable(body.task_id.as_deref().unwrap_or("")),
        callback.status = %loggable(body.status.as_deref().unwrap_or("")),
        callback.message = %loggable(body.message.as_deref().unwrap_or("")),
        outcome = delivery.as_str(),
        "skill callback sent"
    );
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kakao_only() -> CallbackPolicy {
        CallbackPolicy {
            hosts: vec![HostPattern::parse("*.kakao.com").unwrap()],
            allow_http: false,
        }
    }

    #[test]
    fn accepts_https_on_an_allowed_host() {
        let url = "https://bot-api.kakao.com/v1/bots/abc!/callback/token";
        assert_eq!(kakao_only().check(url).unwrap().as_str(), url);
    }

    #[test]
    fn refuses_everything_else() {
        let policy = kakao_only();
        let refused = |url: &str| policy.check(url).unwrap_err();
        assert_eq!(
            refused("http://bot-api.kakao.com/x"),
            CallbackRefused::Scheme("http".into())
        );
        assert_eq!(
            refused("https://kakao.com.evil.net/x"),
            CallbackRefused::Host("kakao.com.evil.net".into())
        );
        assert_eq!(
            refused("https://169.254.169.254/latest"),
            CallbackRefused::Host("169.254.169.254".into())
        );
        assert_eq!(
            refused("https://u:p@bot-api.kakao.com/x"),
            CallbackRefused::Credentials
        );
        assert_eq!(refused("not a url"), CallbackRefused::NotAUrl);
        assert_eq!(
            refused("file:///etc/passwd"),
            CallbackRefused::Scheme("file".into())
        );
    }
}
