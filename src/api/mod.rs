//! The application's API under `/api`: the service's own application asks
//! whether a login session is still valid and what became of a user, and
//! follows every accepted event. `Authorization: Bearer <INTERNAL_API_TOKEN>`;
//! without that setting `/api` does not exist (404). The bot's messages
//! ([`bot_messages`]) and the notifications sent to the app
//! ([`notifications`]) have their own files.

pub mod bot_messages;
pub mod notifications;

use axum::{
    Json,
    extract::{Path, Query, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    clock::rfc3339,
    http::auth_limit::{Surface, peer, too_many_guesses},
    http::{error::ApiError, matches_any, routes::Routes},
    ids::{InvalidId, SessionId, UserId},
    state::AppState,
    storage::{
        ChannelRelation, Dedupe, Effect, NewEvent, Session, SessionStart, Source, StorageError,
        StoredEvent, User,
    },
};

/// Page sizes of every listing under `/api` (events, bot rooms).
pub(crate) const DEFAULT_PAGE: i64 = 100;
pub(crate) const MAX_PAGE: i64 = 1000;

pub fn router(state: AppState) -> Routes<AppState> {
    Routes::new()
        .route("/api/sessions", post(start_session))
        .route("/api/sessions/{id}", get(session).delete(end_session))
        .route("/api/users/{id}", get(user).delete(erase_user))
        .route("/api/events", get(events))
        .route("/api/alerts", get(alerts))
        .merge(crate::api::bot_messages::routes())
        .merge(crate::api::notifications::routes())
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let tokens = state.settings.api_tokens();
    if tokens.is_empty() {
        return ApiError::not_found("no such route").into_response();
    }
    let limiter = &state.auth_limiter;
    let client = limiter.client(peer(request.extensions()), request.headers());
    if let Some(wait) = limiter.locked_out(client, Surface::Api) {
        return too_many_guesses(wait);
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map_or("", |(_, token)| token.trim());
    if matches_any(presented.as_bytes(), tokens) {
        next.run(request).await
    } else {
        limiter.failed(client, Surface::Api);
        ApiError::unauthorized(Some("Bearer"), "missing or wrong bearer token").into_response()
    }
}

fn storage_error(err: StorageError) -> ApiError {
    ApiError::storage(&err)
}

fn checked_id<T>(id: Result<T, InvalidId>) -> Result<T, ApiError> {
    id.map_err(|err| ApiError::bad_request("invalid_request", err.to_string()))
}

#[derive(Deserialize)]
struct NewSession {
    user_id: String,
}

async fn start_session(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: NewSession = serde_json::from_slice(&body).map_err(|err| {
        ApiError::bad_request(
            "invalid_request",
            format!("expected {{\"user_id\": \"…\"}}: {err}"),
        )
    })?;
    let user_id = checked_id(UserId::parse(&request.user_id))?;
    match state
        .storage
        .start_session(&user_id)
        .await
        .map_err(storage_error)?
    {
        SessionStart::Started(session) => Ok((
            StatusCode::CREATED,
            Json(json!({
                "session_id": session.session_id,
                "user_id": session.user_id,
                "created_at": rfc3339(session.created_at),
            })),
        )
            .into_response()),
        SessionStart::UserInactive { status } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_inactive",
            format!("user {user_id} is {status}; Kakao reported the account unusable"),
        )),
    }
}

async fn session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = checked_id(SessionId::parse(&id))?;
    let session = state.storage.session(&id).await.map_err(storage_error)?;
    session
        .map(|s| Json(session_view(&s)))
        .ok_or_else(|| ApiError::not_found("no such session"))
}

async fn end_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = checked_id(SessionId::parse(&id))?;
    match state
        .storage
        .end_session(&id, "logout")
        .await
        .map_err(storage_error)?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found("no such session")),
    }
}

async fn user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = checked_id(UserId::parse(&id))?;
    let user = state.storage.user(&id).await.map_err(storage_error)?;
    let Some(user) = user else {
        return Err(ApiError::not_found("no such user"));
    };
    let channels = state
        .storage
        .channel_relations(&id)
        .await
        .map_err(storage_error)?;
    Ok(Json(user_view(&user, &channels)))
}

/// The user left the service: their personal data is erased everywhere it is
/// stored (the users row becomes a tombstone, sessions are revoked, stored
/// event payloads erased), through the events log like a Kakao unlink.
/// Repeating it changes nothing.
async fn erase_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = checked_id(UserId::parse(&id))?;
    if state
        .storage
        .user(&id)
        .await
        .map_err(storage_error)?
        .is_none()
    {
        return Err(ApiError::not_found("no such user"));
    }
    let event = NewEvent {
        source: Source::App,
        dedupe: Dedupe::UntilRelinked {
            base: format!("erase {id}"),
            user_id: id.clone(),
        },
        event_type: "user-erased".into(),
        user_id: Some(id.clone()),
        event_time: None,
        payload: json!({}).into(),
        effects: vec![Effect::Erase {
            user_id: id.clone(),
            reason: "erased_by_app".into(),
        }],
        unapplied_reason: None,
    };
    state.storage.record(&event).await.map_err(storage_error)?;
    user(State(state), Path(id.to_string())).await
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|err| {
        ApiError::bad_request(
            "invalid_request",
            format!("after and limit are numbers: {err}"),
        )
    })?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let events = state
        .storage
        .events_after(query.after.max(0), limit)
        .await
        .map_err(storage_error)?;
    let next = events.last().map_or(query.after.max(0), |e| e.event_id);
    Ok(Json(json!({
        "events": events.iter().map(event_view).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

/// Active alerts first, then the recently resolved: the same rows every
/// instance judges from.
async fn alerts(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let alerts = state.storage.alerts(100).await.map_err(storage_error)?;
    let view = |a: &crate::storage::alerts::AlertRow| {
        json!({
            "name": a.name, "family": a.family, "state": a.state, "summary": a.summary,
            "value": a.value, "threshold": a.threshold,
            "since": rfc3339(a.since), "updated_at": rfc3339(a.updated_at),
        })
    };
    Ok(Json(json!({
        "active": alerts.iter().filter(|a| a.state == "raised").map(view).collect::<Vec<_>>(),
        "alerts": alerts.iter().map(view).collect::<Vec<_>>(),
    })))
}

pub(crate) fn maybe_time(millis: Option<i64>) -> Value {
    millis.map_or(Value::Null, |m| Value::String(rfc3339(m)))
}

fn session_view(session: &Session) -> Value {
    json!({
        "session_id": session.session_id,
        "user_id": session.user_id,
        "active": session.is_active(),
        "created_at": rfc3339(session.created_at),
        "revoked_at": maybe_time(session.revoked_at),
        "revoked_reason": session.revoked_reason,
    })
}

fn user_view(user: &User, channels: &[ChannelRelation]) -> Value {
    json!({
        "user_id": user.user_id,
        "status": user.status,
        "scopes": user.scopes,
        "email": user.email,
        "phone_number": user.phone_number,
        "assurance_level": user.assurance_level,
        "profile_stale": user.profile_stale,
        "risk": {
            "credential_change_required_at": maybe_time(user.credential_change_required_at),
            "credential_compromised_at": maybe_time(user.credential_compromised_at),
            "credential_changed_at": maybe_time(user.credential_changed_at),
        },
        "linked_at": maybe_time(user.linked_at),
        "unlinked_at": maybe_time(user.unlinked_at),
        "unlink_reason": user.unlink_reason,
        "channels": channels.iter().map(|c| json!({
            "channel_public_id": c.channel_public_id,
            "channel_uuid": c.channel_uuid,
            "relation": c.relation,
            "id_type": c.id_type,
            "changed_at": rfc3339(c.changed_at),
        })).collect::<Vec<_>>(),
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.updated_at),
    })
}

fn event_view(event: &StoredEvent) -> Value {
    json!({
        "event_id": event.event_id,
        "source": event.source,
        "type": event.event_type,
        "user_id": event.user_id,
        "event_time": maybe_time(event.event_time),
        "received_at": rfc3339(event.received_at),
        "applied_at": maybe_time(event.applied_at),
        "unapplied_reason": event.unapplied_reason,
        "changed_nothing": event.changed_nothing.unwrap_or(false),
        "payload": serde_json::from_str::<Value>(&event.payload).unwrap_or(Value::Null),
        "payload_erased_at": maybe_time(event.payload_erased_at),
    })
}
