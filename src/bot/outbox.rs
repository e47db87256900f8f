//! The worker that sends what the bot says: a reply to each event through
//! the callback API, and the messages the app asked for through the send API.
//!
//! Each row is claimed with a short lease that is renewed while its work
//! runs, so a crashed instance's rows are taken over within seconds and a
//! slow handler keeps its row. Replies are retried while their callback token
//! is valid; Kakao's single-use token makes a second send after a lost claim
//! fail (-881) rather than post twice.

use std::{sync::Arc, time::Duration};

use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    event::BotEvent,
    handler::{BotHandler, Room, check_reply},
    kakao_api::{BotApi, CallOutcome},
};
use crate::{
    clock::{millis_from_now, now_millis},
    skill::SkillResponse,
    storage::{
        Storage,
        bot::{Finish, KakaoErrorCode, OutboxEnd, OutboxItem, OutboxKind},
        coalesce::Coalescer,
    },
    telemetry::{Chain, loggable},
};

/// A callback token is valid for 5 minutes from the event; we stop using it
/// a little earlier, as Kakao issued it before we received it.
pub const TOKEN_USABLE_FOR: Duration = Duration::from_secs(290);
/// How long the app's messages are retried.
pub const MESSAGE_RETRY_WINDOW: Duration = Duration::from_secs(600);
/// Left for the callback itself when the handler's time is cut to the token.
const SEND_RESERVE: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// Rows worked on at once by one instance (handlers may be slow).
const CONCURRENCY: usize = 32;
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Most rows ended by one statement.
const FINISH_BATCH: usize = 256;

pub struct BotOutbox {
    storage: Storage,
    api: BotApi,
    handler: Arc<dyn BotHandler>,
    fallback_text: String,
    handler_deadline: Duration,
    wake: Notify,
    /// Ends rows together: under load, one commit for many.
    finisher: Coalescer<Finish, bool>,
}

/// Why a row's work stopped early.
enum Stop {
    /// Another worker holds the row now.
    ClaimLost,
    Storage(crate::storage::StorageError),
}

impl From<crate::storage::StorageError> for Stop {
    fn from(err: crate::storage::StorageError) -> Self {
        Stop::Storage(err)
    }
}

impl BotOutbox {
    pub fn new(
        storage: Storage,
        api: BotApi,
        handler: Arc<dyn BotHandler>,
        fallback_text: String,
        handler_deadline: Duration,
    ) -> Self {
        let finisher = {
            let storage = storage.clone();
            Coalescer::spawn("bot outbox", FINISH_BATCH, move |rows: Vec<Finish>| {
                let storage = storage.clone();
                async move { storage.finish_bot_outboxes(&rows).await }
            })
        };
        Self {
            finisher,
            storage,
            api,
            handler,
            fallback_text,
            handler_deadline,
            wake: Notify::new(),
        }
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    /// Something was queued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims and works due rows until `shutdown`; each row runs as one of
    /// `tasks`.
    pub async fn run(self: Arc<Self>, tasks: TaskTracker, shutdown: CancellationToken) {
        let claim = |limit| self.storage.claim_bot_outbox(millis_from_now(LEASE), limit);
        let work = |item| {
            let outbox = self.clone();
            async move { outbox.work(item).await }
        };
        crate::outbound::claim_loop::run(
            "bot outbox",
            CONCURRENCY,
            &self.wake,
            &tasks,
            &shutdown,
            claim,
            work,
        )
        .await;
    }

    /// Works one row, renewing its lease meanwhile.
    async fn work(&self, item: OutboxItem) {
        let renew = async {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match self
                    .storage
                    .extend_bot_lease(&item, millis_from_now(LEASE))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    // The lease may still hold; try again at the next renewal.
                    Err(err) => {
                        metrics::counter!("kakao_bot_outbox_storage_errors_total").increment(1);
                        tracing::warn!(error = %Chain(&err), "bot outbox: cannot renew a lease")
                    }
                }
            }
        };
        let result = tokio::select! {
            result = self.process(&item) => result,
            () = renew => Err(Stop::ClaimLost),
        };
        match result {
            Ok(()) => {}
            Err(Stop::ClaimLost) => tracing::warn!(
                outbox.id = item.outbox_id,
                "bot outbox: another worker took this row over; leaving it"
            ),
            // The lease runs out and the row is claimed again.
            Err(Stop::Storage(err)) => {
                metrics::counter!("kakao_bot_outbox_storage_errors_total").increment(1);
                tracing::warn!(
                    outbox.id = item.outbox_id,
                    error = %Chain(&err),
                    "bot outbox: cannot update the row; it will be retried"
                )
            }
        }
    }

    async fn process(&self, item: &OutboxItem) -> Result<(), Stop> {
        let kind = item.kind();
        if now_millis() >= item.expires_at {
            return self.end(item, OutboxEnd::Expired, None, None).await;
        }
        let response = match (&item.skill_response, kind) {
            (Some(saved), _) => serde_json::from_str(saved).unwrap_or(Value::Null),
            (None, OutboxKind::Message) => Value::Null,
            // Saved only if the send must be retried: on the usual path that
            // is one write less, and a crash in between runs the handler again.
            (None, OutboxKind::Reply) => match self.run_handler(item).await? {
                Some(response) => serde_json::to_value(&response).unwrap_or(Value::Null),
                None => return self.end(item, OutboxEnd::Skipped, None, None).await,
            },
        };
        let outcome = match (kind, &item.callback_token) {
            (OutboxKind::Reply, Some(token)) => self.api.callback(token, &response).await,
            (OutboxKind::Reply, None) => {
                tracing::warn!(
                    outbox.id = item.outbox_id,
                    "bot handler replied to an event without a callback token; nothing sent (POST /api/bot/messages can post to the room)"
                );
                return self.end(item, OutboxEnd::Skipped, None, None).await;
            }
            (OutboxKind::Message, _) => {
                let target_kind = item.target_kind.as_deref().unwrap_or("botGroupKey");
                let target = item.target.as_deref().unwrap_or_default();
                self.api.send_message(target_kind, target, &response).await
            }
        };
        match outcome {
            CallOutcome::Sent(result) => {
                let result = result.to_string();
                self.end(item, OutboxEnd::Sent, None, Some(&result)).await
            }
            CallOutcome::Refused(error) => {
                self.end(item, OutboxEnd::Failed, Some(&error), None).await
            }
            CallOutcome::Transient(error) => {
                let delay = backoff(item.attempts);
                let run_at = millis_from_now(delay);
                if run_at >= item.expires_at {
                    let end = match kind {
                        OutboxKind::Reply => OutboxEnd::Expired,
                        OutboxKind::Message => OutboxEnd::Failed,
                    };
                    return self.end(item, end, Some(&error), None).await;
                }
                count_kakao_error(&error);
                tracing::warn!(
                    outbox.id = item.outbox_id,
                    kakao.code = error.code,
                    kakao.msg = %loggable(&error.msg),
                    retry_ms = delay.as_millis() as u64,
                    "bot API call failed; will retry"
                );
                metrics::counter!(outcome_metric(kind), "outcome" => "retry").increment(1);
                let saved = response.to_string();
                if self
                    .storage
                    .retry_bot_outbox(item, run_at, &error, &saved)
                    .await?
                {
                    Ok(())
                } else {
                    Err(Stop::ClaimLost)
                }
            }
        }
    }

    /// The handler's reply to the row's event, or the fallback text when
    /// the handler fails, panics, overruns or breaks the rules.
    async fn run_handler(&self, item: &OutboxItem) -> Result<Option<SkillResponse>, Stop> {
        let fallback = || Some(SkillResponse::text(self.fallback_text.clone()));
        let (Some(t), Some(payload)) = (&item.event_type, &item.event_payload) else {
            tracing::error!(outbox.id = item.outbox_id, "bot reply without its event");
            return Ok(None);
        };
        let d = match serde_json::from_str::<Value>(payload) {
            Ok(Value::Object(d)) => d,
            _ => Map::new(),
        };
        let frame = d.clone();
        let event = match BotEvent::from_parts(t, d, item.callback_token.clone()) {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "bot event unreadable; sending the fallback");
                return Ok(fallback());
            }
        };
        let room = if event.is_channel_chatroom() {
            Room::Channel
        } else {
            Room::Group
        };
        let left = Duration::from_millis(
            u64::try_from(item.expires_at - now_millis()).unwrap_or_default(),
        );
        let budget = self.handler_deadline.min(left.saturating_sub(SEND_RESERVE));
        let handler = self.handler.clone();
        let kind = t.clone();
        let mut task =
            tokio::spawn(async move { handler.handle_frame(&kind, &frame, event).await });
        let outcome = tokio::time::timeout(budget, &mut task).await;
        let response = match outcome {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(err))) => {
                tracing::warn!(error = %format!("{err:#}"), t = %loggable(t), "bot handler failed; sending the fallback");
                return Ok(fallback());
            }
            Ok(Err(join)) => {
                tracing::error!(error = %join, t = %loggable(t), "bot handler panicked; sending the fallback");
                return Ok(fallback());
            }
            Err(_) => {
                task.abort();
                tracing::warn!(
                    t = %loggable(t),
                    budget_ms = budget.as_millis() as u64,
                    "bot handler still running at its deadline; sending the fallback"
                );
                return Ok(fallback());
            }
        };
        let Some(response) = response else {
            return Ok(None);
        };
        let (checked, warnings) = check_reply(&response, room);
        for warning in warnings {
            tracing::warn!(t = %loggable(t), "bot reply: {warning}");
        }
        match checked {
            Ok(()) => Ok(Some(response)),
            Err(violations) => {
                for violation in &violations.0 {
                    tracing::warn!(path = %violation.path, rule = %violation.rule, "bot reply breaks Kakao's rules");
                }
                Ok(fallback())
            }
        }
    }

    /// Ends the row, logged and counted.
    async fn end(
        &self,
        item: &OutboxItem,
        end: OutboxEnd,
        error: Option<&KakaoErrorCode>,
        result: Option<&str>,
    ) -> Result<(), Stop> {
        let kind = item.kind();
        let finish = Finish::new(item, end, error.cloned(), result.map(str::to_owned));
        if !self.finisher.write(finish).await? {
            return Err(Stop::ClaimLost);
        }
        let latency = (now_millis() - item.created_at).max(0) as f64 / 1000.0;
        metrics::counter!(outcome_metric(kind), "outcome" => end.as_str()).increment(1);
        match (end, error) {
            (OutboxEnd::Sent, _) => {
                metrics::histogram!("kakao_bot_send_latency_seconds", "kind" => kind_label(kind))
                    .record(latency);
                tracing::info!(
                    outbox.id = item.outbox_id,
                    kind = kind_label(kind),
                    latency_s = latency,
                    "bot message sent"
                );
            }
            (_, Some(error)) => {
                count_kakao_error(error);
                tracing::warn!(outbox.id = item.outbox_id, kind = kind_label(kind), outcome = end.as_str(), kakao.code = error.code, kakao.msg = %loggable(&error.msg), "bot message not sent");
            }
            (OutboxEnd::Expired, None) => tracing::warn!(
                outbox.id = item.outbox_id,
                "bot reply not sent: its callback token expired first"
            ),
            _ => tracing::debug!(
                outbox.id = item.outbox_id,
                outcome = end.as_str(),
                "bot outbox row ended"
            ),
        }
        Ok(())
    }
}

fn kind_label(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::Reply => "reply",
        OutboxKind::Message => "message",
    }
}

fn outcome_metric(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::Reply => "kakao_bot_replies_total",
        OutboxKind::Message => "kakao_bot_messages_total",
    }
}

/// Kakao's error codes, counted by code (`none`: the call never got one).
fn count_kakao_error(error: &KakaoErrorCode) {
    let code = error
        .code
        .map_or_else(|| "none".to_owned(), |c| c.to_string());
    metrics::counter!("kakao_bot_api_errors_total", "code" => code).increment(1);
}

fn backoff(attempts: i64) -> Duration {
    crate::clock::doubling_backoff(attempts, RETRY_FIRST, RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_thirty_seconds() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(9), RETRY_MAX);
    }
}
