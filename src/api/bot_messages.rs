//! The app's side of the bot, under `/api/bot` (behind the API token):
//! messages it sends to rooms, and the rooms the bot is in.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::bot::{
    handler::{Room, check_reply},
    outbox::MESSAGE_RETRY_WINDOW,
};
use crate::{
    api::{DEFAULT_PAGE, MAX_PAGE, maybe_time},
    clock::millis_from_now,
    http::{error::ApiError, routes::Routes},
    skill::SkillResponse,
    state::AppState,
    storage::bot::{BotRoom, MessageQueued},
};

/// Kakao's keys are 66 hex characters; anything far longer is not one.
const MAX_KEY_CHARS: usize = 128;

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/api/bot/messages", post(send_message))
        .route("/api/bot/messages/{id}", get(message))
        .route("/api/bot/rooms", get(rooms))
        .route("/api/bot/rooms/{bot_group_key}", get(room))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    bot_group_key: Option<String>,
    bot_user_key: Option<String>,
    skill_response: Value,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

async fn send_message(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(outbox) = &state.bot else {
        return Err(ApiError::not_configured("KAKAO_BOT_TOKEN"));
    };
    let request: NewMessage = serde_json::from_slice(&body).map_err(|err| {
        invalid(format!(
            "expected {{\"bot_group_key\" or \"bot_user_key\", \"skill_response\"}}: {err}"
        ))
    })?;
    let (target_kind, target, room) = match (request.bot_group_key, request.bot_user_key) {
        (Some(key), None) => ("botGroupKey", key, Room::Group),
        (None, Some(key)) => ("botUserKey", key, Room::Channel),
        _ => {
            return Err(invalid(
                "give exactly one of bot_group_key (group, open, team chat) and bot_user_key (channel chat)",
            ));
        }
    };
    checked_key(&target)?;
    let response: SkillResponse = serde_json::from_value(request.skill_response)
        .map_err(|err| invalid(format!("skill_response is not a SkillResponse v2.0: {err}")))?;
    if let Err(violations) = check_reply(&response, room).0 {
        let listed: Vec<Value> = violations
            .0
            .iter()
            .map(|v| json!({"path": format!("skill_response.{}", v.path), "rule": v.rule.to_string()}))
            .collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_skill_response",
            violations.to_string(),
        )
        .with_details("violations", Value::Array(listed)));
    }
    let json = serde_json::to_string(&response).unwrap_or_default();
    let queued = state
        .storage
        .queue_bot_message(
            target_kind,
            &target,
            &json,
            millis_from_now(MESSAGE_RETRY_WINDOW),
        )
        .await
        .map_err(|err| ApiError::storage(&err))?;
    match queued {
        MessageQueued::Queued { message_id } => {
            outbox.wake();
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "message_id": message_id })),
            ))
        }
        MessageQueued::NotInRoom => Err(ApiError::new(
            StatusCode::CONFLICT,
            "bot_not_in_room",
            format!("the bot left room {target}; nothing was sent"),
        )),
    }
}

fn checked_key(key: &str) -> Result<(), ApiError> {
    let valid = !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "a bot key is 1 to {MAX_KEY_CHARS} printable ASCII characters"
        )))
    }
}

async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| invalid("a message id is a number"))?;
    let message = state
        .storage
        .bot_message(id)
        .await
        .map_err(|err| ApiError::storage(&err))?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    // Replies end as skipped or expired too; a message is only ever these three.
    let status = match message.status.as_str() {
        "pending" => "pending",
        "sent" => "sent",
        _ => "failed",
    };
    let last_error = match (message.last_error_code, &message.last_error_msg) {
        (None, None) => Value::Null,
        (code, msg) => json!({"code": code, "msg": msg}),
    };
    let result = message
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .filter(Value::is_object)
        .map(|r| {
            json!({
                "totalCount": r.get("totalCount"),
                "sendCount": r.get("sendCount"),
                "errorCount": r.get("errorCount"),
            })
        });
    Ok(Json(json!({
        "message_id": message.outbox_id,
        "status": status,
        "attempts": message.attempts,
        "last_error": last_error,
        "result": result,
    })))
}

#[derive(Deserialize)]
struct RoomsQuery {
    #[serde(default)]
    after: String,
    limit: Option<i64>,
}

async fn rooms(
    State(state): State<AppState>,
    query: Result<Query<RoomsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|err| invalid(format!("after is a room key and limit a number: {err}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let rooms = state
        .storage
        .bot_rooms(&query.after, limit)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    let next = rooms.last().map(|r| r.bot_group_key.clone());
    Ok(Json(json!({
        "rooms": rooms.iter().map(room_view).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

async fn room(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    checked_key(&key)?;
    let room = state
        .storage
        .bot_room(&key)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    room.map(|r| Json(room_view(&r)))
        .ok_or_else(|| ApiError::not_found("no such room"))
}

fn room_view(room: &BotRoom) -> Value {
    json!({
        "bot_group_key": room.bot_group_key,
        "present": room.present,
        "joined_at": maybe_time(room.joined_at),
        "left_at": maybe_time(room.left_at),
    })
}
