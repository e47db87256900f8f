//! Kakao i OpenBuilder skill server: `GET|POST /kakao/skill`.
//!
//! OpenBuilder waits 5 seconds for an answer, network included. The handler
//! runs in its own task under a sync budget; when it overruns, a request with
//! a callback URL is answered `useCallback` at once and the final response is
//! POSTed later, and a request without one gets the fallback text in time.
//! Whatever is sent has passed [`SkillResponse::validate`].

pub mod callback;
pub mod demo;
pub mod handler;
pub mod upstream;

// Kakao's skill protocol, as pure types, lives in its own crate.
pub use kakao_protocol::skill::{
    VERIFICATION_BODY, components, lazy_json, limits, request, response, text,
};

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{
    extract::{FromRef, State},
    http::{HeaderMap, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures_util::FutureExt;
use metrics::Histogram;
use secrecy::{ExposeSecret, SecretString};
use tokio::{sync::Semaphore, task::JoinHandle, time::Instant};
use tokio_util::task::TaskTracker;

use self::limits::CheckedJson;
pub use self::{
    callback::CallbackPolicy,
    handler::{SkillHandler, SkillRouter},
    request::SkillRequest,
    response::SkillResponse,
};
use crate::{
    config::Settings,
    delivery::log::Fallback,
    http::{error::ApiError, matches_any, routes::Routes},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<SkillService>: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/skill", get(verify).post(receive))
}

async fn verify() -> Response {
    crate::http::json_response(VERIFICATION_BODY)
}

async fn receive(
    State(skill): State<Arc<SkillService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<SkillAnswer, ApiError> {
    skill.authorize(&headers)?;
    let request = SkillRequest::from_bytes(body)
        .map_err(|err| ApiError::bad_request("invalid_skill_request", err.to_string()))?;
    Ok(skill.answer(request).await)
}

/// Everything the skill endpoint needs, built once from the settings.
pub struct SkillService {
    handler: Arc<dyn SkillHandler>,
    /// The header and the values it may carry: the secret and, during a
    /// rotation, the previous one (neither: unchecked).
    secret: (HeaderName, [Option<SecretString>; 2]),
    sync_budget: Duration,
    fallback_text: String,
    waiting_text: String,
    callbacks: CallbackPolicy,
    callback_deadline: Duration,
    callback_min_delay: Duration,
    callback_timeout: Duration,
    client: reqwest::Client,
    /// Pending callbacks, awaited at shutdown.
    tasks: TaskTracker,
    /// Handlers running at once (and so upstream calls and callbacks in
    /// flight): past `SKILL_MAX_IN_FLIGHT`, a request gets the fallback at
    /// once instead of one more task.
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

impl SkillService {
    pub fn new(
        settings: &Settings,
        handler: Arc<dyn SkillHandler>,
        client: reqwest::Client,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            handler,
            secret: (
                settings.skill_secret_header.clone(),
                [
                    settings.skill_secret.clone(),
                    settings.skill_secret_previous.clone(),
                ],
            ),
            sync_budget: settings.skill_sync_budget_ms,
            fallback_text: settings.skill_fallback_text.clone(),
            waiting_text: settings.skill_callback_waiting_text.clone(),
            callbacks: CallbackPolicy {
                hosts: settings.skill_callback_hosts.clone(),
                allow_http: settings.skill_callback_allow_http,
            },
            callback_deadline: settings.skill_callback_deadline_ms,
            callback_min_delay: settings.skill_callback_min_delay_ms,
            callback_timeout: settings.skill_callback_timeout_ms,
            client,
            tasks,
            in_flight: Arc::new(Semaphore::new(settings.skill_max_in_flight)),
            max_in_flight: settings.skill_max_in_flight,
        }
    }

    /// With a skill secret configured, the request must carry it.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let (name, secrets) = &self.secret;
        if secrets[0].is_none() {
            return Ok(());
        }
        let secrets = secrets.iter().flatten().map(|s| s.expose_secret());
        let provided = headers.get(name).map(|value| value.as_bytes());
        match provided {
            Some(value) if matches_any(value, secrets) => Ok(()),
            _ => Err(ApiError::unauthorized(
                None,
                format!("missing or wrong {name} header"),
            )),
        }
    }

    /// Runs the handler and decides what OpenBuilder gets now.
    pub async fn answer(self: &Arc<Self>, request: SkillRequest) -> SkillAnswer {
        let received = Instant::now();
        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            metrics::counter!("kakao_skill_overloaded_total").increment(1);
            return self.fallback(format!(
                "{} skill handlers were already running (SKILL_MAX_IN_FLIGHT)",
                self.max_in_flight
            ));
        };
        let callback_url = request
            .callback_url()
            .and_then(|raw| match self.callbacks.check(raw) {
                Ok(url) => Some(url),
                Err(refused) => {
                    tracing::warn!(reason = %crate::telemetry::loggable(&refused.to_string()), "skill callback URL refused; answering synchronously");
                    None
                }
            });
        let block = request.block().name;
        let handler = Arc::clone(&self.handler);
        let mut answering: Answering = Box::pin(async move { handler.handle(request).await });
        // Run on the request's own task first: most handlers finish at once,
        // and a task per request cost a spawn, two timers and a second poll
        // of the whole request (BENCHMARKS.md). Only a handler still running
        // at the budget moves to a task of its own, for the callback.
        let within_budget = AssertUnwindSafe(&mut answering).catch_unwind();
        match tokio::time::timeout(self.sync_budget, within_budget).await {
            Ok(ran) => {
                record_handler_time(received, Mode::Sync);
                match self.checked(ran.map_err(|panic| panic_message(&*panic)), &block) {
                    Ok(json) => SkillAnswer::Answered(json),
                    Err(why) => self.fallback(why),
                }
            }
            Err(_) => match callback_url {
                Some(url) => {
                    let service = Arc::clone(self);
                    let task = tokio::spawn(answering);
                    self.tasks.spawn(async move {
                        service.finish_by_callback(task, url, received, block).await;
                        drop(permit);
                    });
                    SkillAnswer::Answered(CheckedJson::unchecked(&SkillResponse::callback_pending(
                        &self.waiting_text,
                    )))
                }
                None => {
                    // Dropped: the handler is cancelled.
                    drop(answering);
                    metrics::counter!("kakao_skill_timeouts_total").increment(1);
                    tracing::warn!(
                        skill.block = %crate::telemetry::loggable(&block),
                        budget_ms = self.sync_budget.as_millis() as u64,
                        "skill handler overran the sync budget without a callback URL; cancelled and answered the fallback text"
                    );
                    self.fallback(format!(
                        "the handler did not answer within SKILL_SYNC_BUDGET_MS ({} ms), and the request has no callback URL",
                        self.sync_budget.as_millis()
                    ))
                }
            },
        }
    }

    async fn finish_by_callback(
        &self,
        mut task: JoinHandle<anyhow::Result<SkillResponse>>,
        url: url::Url,
        received: Instant,
        block: String,
    ) {
        let acknowledged = Instant::now();
        let deadline = received + self.callback_deadline;
        let response = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => {
                record_handler_time(received, Mode::Callback);
                self.checked(joined.map_err(|join| join.to_string()), &block)
                    .unwrap_or_else(|_| self.fallback_json("callback"))
            }
            Err(_) => {
                task.abort();
                tracing::warn!(
                    skill.block = %crate::telemetry::loggable(&block),
                    "skill handler still running at the callback deadline; cancelled and sent the fallback text"
                );
                self.fallback_json("callback")
            }
        };
        // A POST racing the useCallback answer can be refused by Kakao.
        tokio::time::sleep_until(acknowledged + self.callback_min_delay).await;
        let delivery = callback::deliver(&self.client, self.callback_timeout, url, &response).await;
        metrics::counter!("kakao_skill_callbacks_total", "outcome" => delivery.as_str())
            .increment(1);
    }

    /// The handler's response if it is valid; else why the fallback text is
    /// sent instead (`ran`'s `Err`: the handler panicked, with what the panic
    /// said).
    fn checked(
        &self,
        ran: Result<anyhow::Result<SkillResponse>, String>,
        block: &str,
    ) -> Result<CheckedJson, String> {
        let block = crate::telemetry::loggable(block);
        match ran {
            Ok(Ok(response)) => response.to_checked_json().map_err(|violations| {
                metrics::counter!("kakao_skill_invalid_responses_total").increment(1);
                tracing::error!(skill.block = %block, %violations, "skill handler built a response Kakao would drop; answered the fallback text");
                format!("the reply breaks Kakao's limits: {violations}")
            }),
            Ok(Err(err)) => {
                metrics::counter!("kakao_skill_handler_errors_total").increment(1);
                tracing::error!(skill.block = %block, error = format!("{err:#}"), "skill handler failed; answered the fallback text");
                Err(format!("the handler failed: {err:#}"))
            }
            Err(panic) => {
                metrics::counter!("kakao_skill_handler_errors_total").increment(1);
                tracing::error!(skill.block = %block, error = %crate::telemetry::loggable(&panic), "skill handler panicked; answered the fallback text");
                Err(format!("the handler panicked: {panic}"))
            }
        }
    }

    /// The fallback text as OpenBuilder's answer, with why.
    fn fallback(&self, why: String) -> SkillAnswer {
        SkillAnswer::Fallback {
            json: self.fallback_json("sync"),
            why,
        }
    }

    fn fallback_json(&self, mode: &'static str) -> CheckedJson {
        metrics::counter!("kakao_skill_fallbacks_total", "mode" => mode).increment(1);
        CheckedJson::unchecked(&SkillResponse::text(&self.fallback_text))
    }
}

/// What OpenBuilder gets now: the handler's answer, or the fallback text
/// with why, which the delivery log counts as a failure and the
/// `Kakao-Webhooks-Fallback` header tells the caller (`simulate` prints it).
pub enum SkillAnswer {
    Answered(CheckedJson),
    Fallback { json: CheckedJson, why: String },
}

/// The header that says an answer is the fallback text, and why.
pub const FALLBACK_HEADER: &str = "kakao-webhooks-fallback";

impl IntoResponse for SkillAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Answered(json) => crate::http::json_response(json.into_bytes()),
            Self::Fallback { json, why } => {
                let mut response = crate::http::json_response(json.into_bytes());
                // A header carries visible ASCII only, and not much of it.
                let shown: String = why
                    .chars()
                    .map(|c| {
                        if c.is_ascii_graphic() || c == ' ' {
                            c
                        } else {
                            '?'
                        }
                    })
                    .take(300)
                    .collect();
                if let Ok(value) = HeaderValue::from_str(&shown) {
                    response.headers_mut().insert(FALLBACK_HEADER, value);
                }
                response.extensions_mut().insert(Fallback(why));
                response
            }
        }
    }
}

/// A handler's answer, owned so that it can move to a task of its own.
type Answering = Pin<Box<dyn Future<Output = anyhow::Result<SkillResponse>> + Send>>;

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// How a handler's answer reached OpenBuilder, as the histogram's label.
#[derive(Clone, Copy)]
enum Mode {
    Sync,
    Callback,
}

/// The handle is looked up once per mode: a lookup per request was 1.2% of
/// a skill POST.
fn record_handler_time(started: Instant, mode: Mode) {
    static SYNC: OnceLock<Histogram> = OnceLock::new();
    static CALLBACK: OnceLock<Histogram> = OnceLock::new();
    let (handle, label) = match mode {
        Mode::Sync => (&SYNC, "sync"),
        Mode::Callback => (&CALLBACK, "callback"),
    };
    handle
        .get_or_init(
            || metrics::histogram!("kakao_skill_handler_duration_seconds", "mode" => label),
        )
        .record(started.elapsed().as_secs_f64());
}
