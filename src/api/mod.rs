//! The application's API under `/api`: the service's own application asks
//! whether a login session is still valid and what became of a user, and
//! follows every accepted event. `Authorization: Bearer <INTERNAL_API_TOKEN>`;
//! without that setting `/api` does not exist (404). The bot's messages
//! ([`bot_messages`]) and the notifications sent to the app
//! ([`notifications`]) have their own files; the answers' types are in
//! [`views`], and the OpenAPI document derived from them in [`openapi`].

pub mod bot_messages;
pub mod notifications;
pub mod openapi;
pub mod views;

use axum::{
    Json,
    extract::{Path, Query, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use self::views::{
    AlertView, AlertsPage, ErrorView, EventView, EventsPage, NewSession, SessionStarted,
    SessionView, UserView,
};

use crate::{
    clock::rfc3339,
    http::auth_limit::{Surface, peer, too_many_guesses},
    http::{error::ApiError, matches_any, routes::Routes},
    ids::{InvalidId, SessionId, UserId},
    state::AppState,
    storage::{Dedupe, Effect, NewEvent, SessionStart, Source, StorageError},
};

/// Page sizes of every listing under `/api` (events, bot rooms).
pub(crate) const DEFAULT_PAGE: i64 = 100;
pub(crate) const MAX_PAGE: i64 = 1000;

pub fn router(state: AppState) -> Routes<AppState> {
    routes().route_layer(middleware::from_fn_with_state(state, require_token))
}

/// Every route under `/api`, before the token check goes around them.
fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/api/sessions", post(start_session))
        .route("/api/sessions/{id}", get(session).delete(end_session))
        .route("/api/users/{id}", get(user).delete(erase_user))
        .route("/api/events", get(events))
        .route("/api/alerts", get(alerts))
        .merge(crate::api::bot_messages::routes())
        .merge(crate::api::notifications::routes())
        .route("/api/openapi.json", get(openapi::document))
}

/// The route templates of `/api`, for the OpenAPI document's test.
#[cfg(test)]
fn router_templates() -> Vec<String> {
    routes().into_parts().1
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

/// Starts a login session for a user who signed in with Kakao. A user
/// Kakao reported unusable (unlinked, disabled) gets 409.
#[utoipa::path(
    post, path = "/api/sessions", tag = "sessions",
    request_body = NewSession,
    responses(
        (status = 201, description = "Started", body = SessionStarted),
        (status = 400, description = "Not `{\"user_id\"}`, or not a valid id", body = ErrorView),
        (status = 409, description = "The user is unlinked, disabled or purged (`user_inactive`)", body = ErrorView),
    ),
)]
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
            Json(SessionStarted {
                session_id: session.session_id.to_string(),
                user_id: session.user_id.to_string(),
                created_at: rfc3339(session.created_at),
            }),
        )
            .into_response()),
        SessionStart::UserInactive { status } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "user_inactive",
            format!("user {user_id} is {status}; Kakao reported the account unusable"),
        )),
    }
}

/// Whether a session is still valid: Kakao's unlink and security events
/// revoke sessions here.
#[utoipa::path(
    get, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, pattern = r"^[!-~]{1,128}$", description = "The session id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 400, description = "Not a valid session id", body = ErrorView),
        (status = 404, description = "No such session", body = ErrorView),
    ),
)]
async fn session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = checked_id(SessionId::parse(&id))?;
    let session = state.storage.session(&id).await.map_err(storage_error)?;
    session
        .map(|s| Json(SessionView::from(&s)))
        .ok_or_else(|| ApiError::not_found("no such session"))
}

/// Ends a session (logout).
#[utoipa::path(
    delete, path = "/api/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, pattern = r"^[!-~]{1,128}$", description = "The session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "Not a valid session id", body = ErrorView),
        (status = 404, description = "No such session", body = ErrorView),
    ),
)]
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

/// A user as Kakao last described them: status, scopes, profile, risk,
/// channel relations.
#[utoipa::path(
    get, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path, pattern = r"^[!-~]{1,128}$", description = "The Kakao user id (회원번호)")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 400, description = "Not a valid user id", body = ErrorView),
        (status = 404, description = "No such user", body = ErrorView),
    ),
)]
async fn user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
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
    Ok(Json(UserView::new(&user, &channels)))
}

/// The user left the service: their personal data is erased everywhere it is
/// stored (the users row becomes a tombstone, sessions are revoked, stored
/// event payloads erased), through the events log like a Kakao unlink.
/// Repeating it changes nothing.
#[utoipa::path(
    delete, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path, pattern = r"^[!-~]{1,128}$", description = "The Kakao user id (회원번호)")),
    responses(
        (status = 200, description = "Erased; the user's tombstone", body = UserView),
        (status = 400, description = "Not a valid user id", body = ErrorView),
        (status = 404, description = "No such user", body = ErrorView),
    ),
)]
async fn erase_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// The `next_after` of the page before (0: from the start).
    #[serde(default)]
    after: i64,
    /// Events per page, 1 to 1000 (default 100; others are clamped).
    limit: Option<i64>,
}

/// Every accepted event, oldest first, a page at a time.
#[utoipa::path(
    get, path = "/api/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventsPage),
        (status = 400, description = "`after` or `limit` is not a number", body = ErrorView),
    ),
)]
async fn events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
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
    Ok(Json(EventsPage {
        events: events.iter().map(EventView::from).collect(),
        next_after: next,
    }))
}

/// Active alerts first, then the recently resolved: the same rows every
/// instance judges from.
#[utoipa::path(
    get, path = "/api/alerts", tag = "alerts",
    responses((status = 200, description = "Active and recent alerts", body = AlertsPage)),
)]
async fn alerts(State(state): State<AppState>) -> Result<Json<AlertsPage>, ApiError> {
    let alerts = state.storage.alerts(100).await.map_err(storage_error)?;
    Ok(Json(AlertsPage {
        active: alerts
            .iter()
            .filter(|a| a.state == "raised")
            .map(AlertView::from)
            .collect(),
        alerts: alerts.iter().map(AlertView::from).collect(),
    }))
}
