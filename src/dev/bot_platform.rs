//! A local KakaoTalk Bot API platform under `/dev/bot`: answers the callback
//! and send APIs as Kakao does (a callback token works once, then -881) and
//! records every call, so `simulate bot` can show what the bot said. Tests use
//! it as their stand-in for `kapi.kakao.com`, scripting failures with
//! [`BotPlatform::script`].

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::http::routes::Routes;

/// Calls kept (the latest), so a long dev session or a load test stays small.
const KEPT_CALLS: usize = 1000;

/// Where the platform's API lives on the dev server.
pub const PREFIX: &str = "/dev/bot";

/// An answer forced on the next call, in place of the normal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// That HTTP status with an empty body.
    Status(u16),
    /// HTTP 400 with Kakao's `{"code", "msg"}`.
    KakaoError(i64),
    /// No answer for a minute (callers time out first).
    Hang,
}

/// One call the platform received (the latest 1000 are kept).
#[derive(Debug, Clone, Serialize)]
pub struct RecordedCall {
    /// `/v1/bot/callback`, `/v1/bot/send_message` or `/v1/bot/commands/update`.
    pub path: String,
    pub authorization: Option<String>,
    pub callback_token: Option<String>,
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    calls: VecDeque<RecordedCall>,
    used_tokens: UsedTokens,
    script: VecDeque<Forced>,
}

/// Callback tokens already used, the latest [`KEPT_TOKENS`]: a token is
/// refused a second time, as Kakao does, and a long dev session or a load
/// run does not grow the set without bound (400,000 tokens were 15 MiB of
/// the process measured by the load harness).
#[derive(Default)]
struct UsedTokens {
    set: HashSet<String>,
    order: VecDeque<String>,
}

const KEPT_TOKENS: usize = 10_000;

impl UsedTokens {
    fn contains(&self, token: &str) -> bool {
        self.set.contains(token)
    }

    fn insert(&mut self, token: &str) {
        if self.set.insert(token.to_owned()) {
            self.order.push_back(token.to_owned());
            if self.order.len() > KEPT_TOKENS
                && let Some(oldest) = self.order.pop_front()
            {
                self.set.remove(&oldest);
            }
        }
    }
}

#[derive(Clone, Default)]
pub struct BotPlatform {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

impl BotPlatform {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next calls get these answers, in order, then the normal ones.
    pub fn script(&self, answers: impl IntoIterator<Item = Forced>) {
        self.lock().script.extend(answers);
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.iter().cloned().collect()
    }

    /// Calls to `path` that Kakao would have accepted (2xx).
    pub fn delivered(&self, path: &str) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.path == path && (200..300).contains(&c.status))
            .collect()
    }

    /// Waits until `count` calls to `path` were answered 2xx, or `limit` passes.
    pub async fn wait_for_delivered(
        &self,
        path: &str,
        count: usize,
        limit: Duration,
    ) -> Option<Vec<RecordedCall>> {
        tokio::time::timeout(limit, async {
            loop {
                let arrived = self.arrived.notified();
                let delivered = self.delivered(path);
                if delivered.len() >= count {
                    return delivered;
                }
                arrived.await;
            }
        })
        .await
        .ok()
    }

    /// The API's routes under [`PREFIX`], and `GET /dev/bot/calls`.
    pub fn router(&self) -> Routes {
        Routes::new()
            .route(&format!("{PREFIX}/v1/bot/callback"), post(callback))
            .route(&format!("{PREFIX}/v1/bot/send_message"), post(send_message))
            .route(
                &format!("{PREFIX}/v1/bot/commands/update"),
                post(update_commands),
            )
            .route(
                &format!("{PREFIX}/calls"),
                get(|State(platform): State<BotPlatform>| async move { Json(platform.calls()) }),
            )
            .with_state(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the call and answers it: a scripted answer first, else `normal`.
    async fn answer(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: Value,
        normal: impl FnOnce(&mut Inner, Option<&str>, &Value) -> (StatusCode, Value),
    ) -> Response {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let authorization = header("authorization");
        let callback_token = header("x-bot-callback-token");
        let (status, answer, hang) = {
            let mut inner = self.lock();
            let (status, answer, hang) = match inner.script.pop_front() {
                Some(Forced::Status(code)) => (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    Value::Null,
                    false,
                ),
                Some(Forced::KakaoError(code)) => (
                    StatusCode::BAD_REQUEST,
                    json!({"code": code, "msg": "scripted error"}),
                    false,
                ),
                Some(Forced::Hang) => (StatusCode::GATEWAY_TIMEOUT, Value::Null, true),
                None if !authorization
                    .as_deref()
                    .is_some_and(|a| a.starts_with("KakaoAK ") && a.len() > 8) =>
                {
                    (
                        StatusCode::UNAUTHORIZED,
                        json!({"code": -401, "msg": "wrong appKey"}),
                        false,
                    )
                }
                None => {
                    let (status, answer) = normal(&mut inner, callback_token.as_deref(), &body);
                    (status, answer, false)
                }
            };
            if inner.calls.len() == KEPT_CALLS {
                inner.calls.pop_front();
            }
            inner.calls.push_back(RecordedCall {
                path: path.to_owned(),
                authorization,
                callback_token,
                body,
                status: status.as_u16(),
            });
            (status, answer, hang)
        };
        self.arrived.notify_waiters();
        if hang {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if answer.is_null() {
            status.into_response()
        } else {
            (status, Json(answer)).into_response()
        }
    }
}

/// Kakao's answer to a bubble it accepted.
fn sent(body: &Value) -> (StatusCode, Value) {
    let outputs = body
        .pointer("/skillResponse/template/outputs")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if outputs == 0 {
        return (
            StatusCode::BAD_REQUEST,
            json!({"code": -878, "msg": "유효하지 않은 말풍선입니다."}),
        );
    }
    (
        StatusCode::OK,
        json!({"totalCount": outputs, "sendCount": outputs, "errorCount": 0}),
    )
}

async fn callback(
    State(platform): State<BotPlatform>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    platform
        .answer("/v1/bot/callback", &headers, body, |inner, token, body| {
            let Some(token) = token.filter(|t| !t.is_empty()) else {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"code": -2, "msg": "X-Bot-Callback-Token is required"}),
                );
            };
            if inner.used_tokens.contains(token) {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"code": -881, "msg": "콜백 토큰이 만료되었거나 이미 사용되었습니다."}),
                );
            }
            let answer = sent(body);
            if answer.0.is_success() {
                inner.used_tokens.insert(token);
            }
            answer
        })
        .await
}

async fn send_message(
    State(platform): State<BotPlatform>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    platform
        .answer("/v1/bot/send_message", &headers, body, |_, _, body| {
            let keyed = ["botGroupKey", "botUserKey"]
                .iter()
                .filter(|key| body.get(**key).and_then(Value::as_str).is_some())
                .count();
            if keyed != 1 {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"code": -876, "msg": "유효하지 않은 키입니다."}),
                );
            }
            sent(body)
        })
        .await
}

async fn update_commands(
    State(platform): State<BotPlatform>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    platform
        .answer(
            "/v1/bot/commands/update",
            &headers,
            body,
            |_, _, body| match body.get("utterances").and_then(Value::as_array) {
                Some(list) if list.len() <= 30 => (StatusCode::OK, json!({})),
                Some(_) => (
                    StatusCode::BAD_REQUEST,
                    json!({"code": -874, "msg": "명령어 최대 등록 개수(30개)를 초과하였습니다."}),
                ),
                None => (
                    StatusCode::BAD_REQUEST,
                    json!({"code": -2, "msg": "요청 본문이 형식에 맞지 않습니다."}),
                ),
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::{KEPT_TOKENS, UsedTokens};

    #[test]
    fn used_tokens_are_refused_and_only_the_latest_are_kept() {
        let mut used = UsedTokens::default();
        used.insert("first");
        assert!(used.contains("first"), "a used token is remembered");
        for n in 0..KEPT_TOKENS {
            used.insert(&format!("token-{n}"));
        }
        assert!(
            !used.contains("first"),
            "the oldest is forgotten past the cap"
        );
        assert!(used.contains(&format!("token-{}", KEPT_TOKENS - 1)));
        assert_eq!(used.set.len(), KEPT_TOKENS);
        assert_eq!(used.order.len(), KEPT_TOKENS);
    }
}
