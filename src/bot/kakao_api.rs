//! The Bot API's REST calls: the message callback, the message send and the
//! command menu, under `KAKAO_API_BASE_URL` with `Authorization: KakaoAK
//! <KAKAO_BOT_TOKEN>`. Each call's outcome is sorted into sent, refused for
//! good, or worth retrying; errors never carry the URL or a token.

use std::time::Duration;

use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::{
    config::BotCommand,
    http::{api_url, read_limited},
    storage::bot::KakaoErrorCode,
};

/// Each call's bound; the worker retries on the next claim.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Kakao's answers are a few counters or an error; more is not an answer.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Kakao's own "internal error, retry later".
const RETRY_LATER: i64 = -1;

/// The `X-Bot-Callback-Token` header.
const CALLBACK_TOKEN: &str = "x-bot-callback-token";

#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// 2xx, with Kakao's answer (`{totalCount, sendCount, errorCount}`).
    Sent(Value),
    /// A 4xx with Kakao's code (-881, -876, …): retrying cannot help.
    Refused(KakaoErrorCode),
    /// A network error, a timeout, a 5xx, a 429 or code -1.
    Transient(KakaoErrorCode),
}

#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    base: Url,
    token: SecretString,
}

/// Kakao's error body.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    msg: Option<String>,
}

impl BotApi {
    pub fn new(client: reqwest::Client, base: Url, token: SecretString) -> Self {
        Self {
            client,
            base,
            token,
        }
    }

    /// `POST /v1/bot/callback`: answers one event, once per token.
    pub async fn callback(&self, callback_token: &str, skill_response: &Value) -> CallOutcome {
        let request = self
            .post("/v1/bot/callback")
            .header(CALLBACK_TOKEN, callback_token)
            .json(&json!({ "skillResponse": skill_response }));
        self.call(request).await
    }

    /// `POST /v1/bot/send_message` to a room (`botGroupKey`) or, in a
    /// channel chat, a user (`botUserKey`).
    pub async fn send_message(
        &self,
        target_kind: &str,
        target: &str,
        skill_response: &Value,
    ) -> CallOutcome {
        let mut body = serde_json::Map::new();
        body.insert(target_kind.to_owned(), Value::String(target.to_owned()));
        body.insert("skillResponse".into(), skill_response.clone());
        self.call(self.post("/v1/bot/send_message").json(&body))
            .await
    }

    /// `POST /v1/bot/commands/update`: replaces the whole command menu.
    pub async fn update_commands(&self, commands: &[BotCommand]) -> CallOutcome {
        let utterances: Vec<Value> = commands
            .iter()
            .map(|c| json!({"buttonName": c.button_name, "description": c.description}))
            .collect();
        self.call(
            self.post("/v1/bot/commands/update")
                .json(&json!({ "utterances": utterances })),
        )
        .await
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(api_url(&self.base, path))
            .timeout(CALL_TIMEOUT)
            .header(
                header::AUTHORIZATION,
                format!("KakaoAK {}", self.token.expose_secret()),
            )
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> CallOutcome {
        let ours = |msg: String| KakaoErrorCode { code: None, msg };
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                let why = if err.is_timeout() {
                    "no answer in time"
                } else {
                    "unreachable"
                };
                return CallOutcome::Transient(ours(format!("{why}: {}", err.without_url())));
            }
        };
        let status = response.status();
        let body = match read_limited(response, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(why) => return CallOutcome::Transient(ours(why)),
        };
        if status.is_success() {
            return CallOutcome::Sent(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        classify(status, &body)
    }
}

/// A non-2xx answer: Kakao's `{code, msg}` when it sent one.
fn classify(status: StatusCode, body: &[u8]) -> CallOutcome {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    let msg = parsed
        .and_then(|b| b.msg)
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let error = KakaoErrorCode { code, msg };
    let transient = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || code == Some(RETRY_LATER);
    if transient {
        CallOutcome::Transient(error)
    } else {
        CallOutcome::Refused(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kakao_errors_are_sorted_into_retry_and_give_up() {
        let expired = classify(StatusCode::BAD_REQUEST, br#"{"code":-881,"msg":"expired"}"#);
        assert!(matches!(
            expired,
            CallOutcome::Refused(KakaoErrorCode {
                code: Some(-881),
                ..
            })
        ));
        let internal = classify(StatusCode::BAD_REQUEST, br#"{"code":-1,"msg":"x"}"#);
        assert!(matches!(internal, CallOutcome::Transient(_)));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, b""),
            CallOutcome::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"<html>"),
            CallOutcome::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b""),
            CallOutcome::Refused(_)
        ));
    }
}
