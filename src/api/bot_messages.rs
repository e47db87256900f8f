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
use utoipa::{IntoParams, ToSchema};

use crate::bot::{
    handler::{Room, check_reply},
    outbox::MESSAGE_RETRY_WINDOW,
};
use crate::{
    api::{
        DEFAULT_PAGE, MAX_PAGE,
        views::{ErrorView, MessageQueuedView, MessageView, RoomView, RoomsPage},
    },
    clock::millis_from_now,
    http::{error::ApiError, routes::Routes},
    skill::SkillResponse,
    state::AppState,
    storage::bot::MessageQueued,
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

/// A message to a room: exactly one of the two keys.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    /// A group, open or team chat.
    #[schema(pattern = r"^[!-~]{1,128}$")]
    bot_group_key: Option<String>,
    /// A channel chat.
    #[schema(pattern = r"^[!-~]{1,128}$")]
    bot_user_key: Option<String>,
    /// A SkillResponse v2.0 (`{"version":"2.0","template":{...}}`), within
    /// the limits of the room's kind.
    #[schema(example = json!({"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "공지"}}]}}))]
    skill_response: Value,
}

/// A bot key in a path.
const KEY: &str = "The room's botGroupKey";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

/// Sends a message to a room the bot is in, through the durable bot outbox.
#[utoipa::path(
    post, path = "/api/bot/messages", tag = "bot",
    request_body = NewMessage,
    responses(
        (status = 202, description = "Queued", body = MessageQueuedView),
        (status = 400, description = "Not the body described", body = ErrorView),
        (status = 409, description = "The bot left the room (`bot_not_in_room`)", body = ErrorView),
        (status = 422, description = "The SkillResponse breaks a limit (`invalid_skill_response`, with `violations`)", body = ErrorView),
    ),
)]
async fn send_message(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<MessageQueuedView>), ApiError> {
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
            Ok((StatusCode::ACCEPTED, Json(MessageQueuedView { message_id })))
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

/// How a message the app sent went.
#[utoipa::path(
    get, path = "/api/bot/messages/{id}", tag = "bot",
    params(("id" = i64, Path, description = "The message_id")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 400, description = "Not a number", body = ErrorView),
        (status = 404, description = "No such message", body = ErrorView),
    ),
)]
async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| invalid("a message id is a number"))?;
    let message = state
        .storage
        .bot_message(id)
        .await
        .map_err(|err| ApiError::storage(&err))?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    Ok(Json(MessageView::from(&message)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RoomsQuery {
    /// The `next_after` of the page before (empty: from the start).
    #[serde(default)]
    after: String,
    /// Rooms per page, 1 to 1000 (default 100; others are clamped).
    limit: Option<i64>,
}

/// The rooms the bot is in or was in, by key, a page at a time.
#[utoipa::path(
    get, path = "/api/bot/rooms", tag = "bot",
    params(RoomsQuery),
    responses(
        (status = 200, description = "A page of rooms", body = RoomsPage),
        (status = 400, description = "`limit` is not a number", body = ErrorView),
    ),
)]
async fn rooms(
    State(state): State<AppState>,
    query: Result<Query<RoomsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RoomsPage>, ApiError> {
    let Query(query) =
        query.map_err(|err| invalid(format!("after is a room key and limit a number: {err}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let rooms = state
        .storage
        .bot_rooms(&query.after, limit)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    let next = rooms.last().map(|r| r.bot_group_key.clone());
    Ok(Json(RoomsPage {
        rooms: rooms.iter().map(RoomView::from).collect(),
        next_after: next,
    }))
}

/// One room: is the bot in it, since when.
#[utoipa::path(
    get, path = "/api/bot/rooms/{bot_group_key}", tag = "bot",
    params(("bot_group_key" = String, Path, pattern = r"^[!-~]{1,128}$", description = KEY)),
    responses(
        (status = 200, description = "The room", body = RoomView),
        (status = 400, description = "Not a bot key", body = ErrorView),
        (status = 404, description = "No such room", body = ErrorView),
    ),
)]
async fn room(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<RoomView>, ApiError> {
    checked_key(&key)?;
    let room = state
        .storage
        .bot_room(&key)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    room.map(|r| Json(RoomView::from(&r)))
        .ok_or_else(|| ApiError::not_found("no such room"))
}
