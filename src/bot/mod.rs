//! KakaoTalk Bot API chatroom event webhook: `POST /kakao/bot`.
//!
//! Kakao POSTs `{"op","t","d"}` (an `s` is tolerated) and wants a 2xx with an
//! empty body within 1 second. The event is stored (the same store, then
//! acknowledge as every family, deduplicated) and answered `204`; the reply
//! to the room goes out afterwards through the callback API. Message ids are
//! 64-bit numbers above 2^53: they stay exact because they are kept as JSON
//! integers, never as doubles.
//!
//! Kakao's only authenticity check is a custom header registered with the
//! webhook URL (`KAKAO_BOT_WEBHOOK_HEADER`, `KAKAO_BOT_WEBHOOK_SECRET`).

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{
    delivery::Family,
    error::ApiError,
    http::secret_matches,
    state::AppState,
    storage::{Dedupe, NewEvent, Source},
};

pub fn router() -> Router<AppState> {
    crate::http::route_both_slashes(Router::new(), "/kakao/bot", post(receive))
}

/// The frame Kakao sends; `d`'s shape depends on `t`.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(default)]
    op: Option<i64>,
    t: Option<String>,
    d: Option<Map<String, Value>>,
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let settings = &state.settings;
    if settings.kakao_bot_token.is_none() {
        return Err(ApiError::not_configured("KAKAO_BOT_TOKEN"));
    }
    if let Some(secret) = &settings.kakao_bot_webhook_secret {
        let name = &settings.kakao_bot_webhook_header;
        let presented = headers.get(name).map(|value| value.as_bytes());
        if !presented.is_some_and(|value| secret_matches(value, secret.expose_secret())) {
            return Err(ApiError::unauthorized(
                None,
                format!("missing or wrong {name} header"),
            ));
        }
    }
    let event = event_of(&body)?;
    Family::BOT.store(&state.storage, &[event]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The event to store, or a 400 saying what is wrong with the frame.
fn event_of(body: &[u8]) -> Result<NewEvent, ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_request", message);
    let frame: Frame = serde_json::from_slice(body)
        .map_err(|err| invalid(format!("the body is not a bot event frame: {err}")))?;
    let t = frame
        .t
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("the frame has no t (event type)".into()))?;
    let d = frame
        .d
        .ok_or_else(|| invalid("the frame has no d (event payload) object".into()))?;
    if frame.op.is_some_and(|op| op != 0) {
        tracing::info!(
            bot.op = frame.op,
            "bot frame with an op other than DISPATCH; stored"
        );
    }
    Ok(NewEvent {
        source: Source::Bot,
        dedupe: Dedupe::Key(dedupe_key(&t, &d)?),
        event_type: t,
        user_id: None,
        event_time: None,
        payload: Value::Object(d),
        effects: Vec::new(),
    })
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
