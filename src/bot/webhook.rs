//! The chatroom event webhook: `POST /kakao/bot`.
//!
//! Kakao POSTs `{"op","t","d"}` (an `s` is tolerated) and wants a 2xx with an
//! empty body within 1 second. The event is stored with its reply job (and,
//! for ENTRANCE and LEAVE, the room's state) in one transaction, the same
//! store-then-acknowledge as every family, and answered `204`; the outbox
//! sends the reply afterwards. Message ids are 64-bit numbers above 2^53:
//! they stay exact because they are kept as JSON integers, never as doubles.
//! The callback token is kept with the reply job only, not in the events log.
//!
//! Kakao's only authenticity check is a custom header registered with the
//! webhook URL (`KAKAO_BOT_WEBHOOK_HEADER`, `KAKAO_BOT_WEBHOOK_SECRET`).

use std::sync::Arc;

use axum::{
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::outbox::{BotOutbox, TOKEN_USABLE_FOR};
use crate::{
    clock::{millis_from_now, now_millis},
    config::Settings,
    delivery::Family,
    http::{error::ApiError, matches_any, routes::Routes},
    storage::{Dedupe, Effect, NewEvent, Recorded, Source, Storage},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    BotWebhookState: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/bot", post(receive))
}

/// What the bot's webhook uses of the server's state.
#[derive(Clone)]
pub struct BotWebhookState {
    pub settings: Arc<Settings>,
    pub storage: Storage,
    /// Present when `KAKAO_BOT_TOKEN` is set.
    pub outbox: Option<Arc<BotOutbox>>,
}

/// The key the app's proactive messages and rooms use.
const ROOM_KEY: &str = "botGroupKey";

/// How far ahead of our clock an event's own time may be, as for a SET's
/// `iat`; later times are clamped to it.
const MAX_AHEAD: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// The frame Kakao sends; `d`'s shape depends on `t`.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(default)]
    op: Option<i64>,
    t: Option<String>,
    d: Option<Map<String, Value>>,
}

async fn receive(
    State(state): State<BotWebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let settings = &state.settings;
    if settings.kakao_bot_token.is_none() {
        return Err(ApiError::not_configured("KAKAO_BOT_TOKEN"));
    }
    // Kakao sends nothing here while the gateway is used; anything that does
    // is not Kakao.
    if settings.kakao_bot_gateway {
        return Err(ApiError::not_found(
            "the bot receives its events over the gateway (KAKAO_BOT_GATEWAY)",
        ));
    }
    let secrets = settings.bot_webhook_secrets();
    if !secrets.is_empty() {
        let name = &settings.kakao_bot_webhook_header;
        let presented = headers.get(name).map(|value| value.as_bytes());
        if !presented.is_some_and(|value| matches_any(value, secrets)) {
            return Err(ApiError::unauthorized(
                None,
                format!("missing or wrong {name} header"),
            ));
        }
    }
    let event = event_of(&body)?;
    let recorded = Family::BOT.store(&state.storage, &[event]).await?;
    if recorded
        .iter()
        .any(|r| matches!(r, Recorded::Stored { .. }))
        && let Some(outbox) = &state.outbox
    {
        outbox.wake();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The event to store, or a 400 saying what is wrong with the frame.
pub(crate) fn event_of(body: &[u8]) -> Result<NewEvent, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let frame: Frame = serde_json::from_slice(body)
        .map_err(|err| invalid(format!("the body is not a bot event frame: {err}")))?;
    let t = frame
        .t
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("the frame has no t (event type)".into()))?;
    let mut d = frame
        .d
        .ok_or_else(|| invalid("the frame has no d (event payload) object".into()))?;
    if frame.op.is_some_and(|op| op != 0) {
        tracing::info!(
            bot.op = frame.op,
            "bot frame with an op other than DISPATCH; stored"
        );
    }
    let dedupe_key = dedupe_key(&t, &d)?;
    let callback_token = match d.remove("callbackToken") {
        Some(Value::String(token)) if !token.is_empty() => Some(token),
        _ => None,
    };
    let text = |name: &str| d.get(name).and_then(Value::as_str).map(str::to_owned);
    // The caller's clock, clamped: a LEAVE dated 9999 would otherwise win
    // every later comparison and keep the room left for good.
    let event_time = text("timestamp")
        .and_then(|ts| crate::clock::parse_rfc3339(&ts))
        .map(|at| at.min(now_millis() + MAX_AHEAD.as_millis() as i64));
    let mut effects = vec![Effect::QueueBotReply {
        dedupe_key: dedupe_key.clone(),
        callback_token,
        expires_at: millis_from_now(TOKEN_USABLE_FOR),
    }];
    if let (Some(present), Some(bot_group_key)) = (room_change(&t), text(ROOM_KEY)) {
        effects.push(Effect::BotRoom {
            bot_group_key,
            present,
        });
    }
    Ok(NewEvent {
        source: Source::Bot,
        dedupe: Dedupe::Key(dedupe_key),
        event_type: t,
        user_id: None,
        event_time,
        payload: Value::Object(d).into(),
        effects,
        unapplied_reason: None,
    })
}

/// ENTRANCE lets the bot into a room, LEAVE takes it out.
fn room_change(t: &str) -> Option<bool> {
    match t {
        "ENTRANCE" => Some(true),
        "LEAVE" => Some(false),
        _ => None,
    }
}

/// A message by its id; an event without one (ENTRANCE, LEAVE, …) by its
/// type, room and time, as Kakao sends no id for those.
fn dedupe_key(t: &str, d: &Map<String, Value>) -> Result<String, ApiError> {
    let text = |name: &str| d.get(name).and_then(Value::as_str).unwrap_or_default();
    match d.get("id") {
        // A JSON integer keeps all its digits (serde_json holds it as u64/i64).
        Some(Value::Number(id)) if id.is_u64() || id.is_i64() => Ok(format!("message:{id}")),
        Some(Value::String(id)) if !id.is_empty() => Ok(format!("message:{id}")),
        Some(other) => Err(ApiError::bad_request(
            "invalid_request",
            format!("d.id must be an integer, not {other}"),
        )),
        None => Ok(format!("{t}:{}:{}", text("botGroupKey"), text("timestamp"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_stay_exact() {
        let event =
            event_of(br#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":869509512613945331}}"#).unwrap();
        assert_eq!(
            event.dedupe,
            Dedupe::Key("message:869509512613945331".into())
        );
        assert_eq!(event.payload.to_string(), r#"{"id":869509512613945331}"#);
    }

    #[test]
    fn the_callback_token_goes_to_the_reply_job_not_the_events_log() {
        let event = event_of(
            br#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":1,"callbackToken":"tok","timestamp":"2026-07-27T09:20:22.512392989Z"}}"#,
        )
        .unwrap();
        assert!(!event.payload.to_string().contains("tok"));
        assert!(matches!(
            &event.effects[0],
            Effect::QueueBotReply { callback_token: Some(token), .. } if token == "tok"
        ));
        assert_eq!(event.event_time, Some(1_785_144_022_512));
    }

    #[test]
    fn events_without_an_id_are_keyed_by_type_room_and_time() {
        let event = event_of(
            br#"{"op":0,"t":"LEAVE","d":{"botGroupKey":"g1","timestamp":"2026-07-27T09:20:22.5Z"}}"#,
        )
        .unwrap();
        assert_eq!(
            event.dedupe,
            Dedupe::Key("LEAVE:g1:2026-07-27T09:20:22.5Z".into())
        );
    }

    #[test]
    fn a_frame_without_t_or_d_is_refused() {
        for body in [
            &br#"{"op":0,"d":{}}"#[..],
            br#"{"op":0,"t":"MESSAGE_CREATE"}"#,
            br#"not json"#,
            br#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":1.5}}"#,
        ] {
            let err = event_of(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
    }
}
