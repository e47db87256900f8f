//! `/api/notifications` (behind the API token): what was sent to the app,
//! how each attempt went, a retry for a failed one, a bulk replay by
//! filter, the destination's state (paused after failing for long, and
//! resumed here), and `POST /api/events/renotify` for the changes applied
//! while `APP_NOTIFY_URL` was unset.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::outbound::notifier::webhook_id;
use crate::{
    api::{DEFAULT_PAGE, MAX_PAGE, maybe_time},
    clock::rfc3339,
    http::{error::ApiError, routes::Routes},
    state::AppState,
    storage::{
        destinations::{DestinationState, RenotifyFilter, ReplayFilter},
        notifications::{Destination, Notification, NotificationStatus},
    },
};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/{id}", get(one))
        .route("/api/notifications/{id}/retry", post(retry))
        .route("/api/notifications/replay", post(replay))
        .route("/api/notifications/destination", get(destination))
        .route("/api/notifications/resume", post(resume))
        .route("/api/events/renotify", post(renotify))
}

/// `POST /api/events/renotify`: which changes to tell the app of now.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenotifyRequest {
    since: String,
    until: Option<String>,
    #[serde(default, rename = "type")]
    types: Vec<String>,
}

/// The notifications applied changes produced while `APP_NOTIFY_URL` was
/// unset, queued now; `already` counts the matching ones queued before.
async fn renotify(
    State(state): State<AppState>,
    body: Result<Json<RenotifyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body.map_err(|err| {
        invalid(format!(
            "the body is JSON {{\"since\": \"<RFC 3339>\", \"until\"?, \"type\"?: [...]}}: {err}"
        ))
    })?;
    if request.types.len() > MAX_REPLAY_TYPES {
        return Err(invalid(format!("at most {MAX_REPLAY_TYPES} types")));
    }
    let filter = RenotifyFilter {
        since: parse_time("since", &request.since)?,
        until: request
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        types: request.types,
    };
    let (queued, already) = state
        .storage
        .renotify(&filter, crate::clock::now_millis())
        .await
        .map_err(|err| ApiError::storage(&err))?;
    tracing::info!(queued, already, "held notifications queued (renotify)");
    Ok(Json(json!({ "queued": queued, "already": already })))
}

/// `POST /api/notifications/replay`: which notifications to queue again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// `delivered` and/or `failed` (default: failed).
    #[serde(default)]
    status: Vec<String>,
    /// Notification types; empty: every type.
    #[serde(default, rename = "type")]
    types: Vec<String>,
    user_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Most types one replay names.
const MAX_REPLAY_TYPES: usize = 64;

async fn replay(
    State(state): State<AppState>,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body.map_err(|err| {
        invalid(format!(
            "the body is JSON {{\"status\": [\"failed\", \"delivered\"], \"type\": [...], \"user_id\", \"since\", \"until\"}}: {err}"
        ))
    })?;
    let mut statuses = Vec::new();
    for text in &request.status {
        match NotificationStatus::parse(text) {
            Some(NotificationStatus::Pending) => {
                return Err(invalid(
                    "pending notifications are queued already: replay delivered or failed ones",
                ));
            }
            Some(status) => statuses.push(status.as_str()),
            None => {
                return Err(invalid(format!(
                    "status {text:?} is not one of delivered, failed"
                )));
            }
        }
    }
    if statuses.is_empty() {
        statuses.push(NotificationStatus::Failed.as_str());
    }
    if request.types.len() > MAX_REPLAY_TYPES {
        return Err(invalid(format!("at most {MAX_REPLAY_TYPES} types")));
    }
    let user_id = request
        .user_id
        .map(|id| {
            crate::ids::UserId::parse(&id)
                .map(|id| id.as_str().to_owned())
                .map_err(|err| invalid(format!("user_id: {err}")))
        })
        .transpose()?;
    let filter = ReplayFilter {
        statuses,
        types: request.types,
        user_id,
        since: request
            .since
            .as_deref()
            .map(|t| parse_time("since", t))
            .transpose()?,
        until: request
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
    };
    let queued = state
        .storage
        .replay_notifications(&filter, crate::clock::now_millis())
        .await
        .map_err(|err| ApiError::storage(&err))?;
    tracing::info!(queued, "notifications queued again (replay)");
    Ok(Json(json!({ "queued": queued })))
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    crate::clock::parse_rfc3339(text).ok_or_else(|| {
        invalid(format!(
            "{field} {text:?} is not an RFC 3339 time like 2026-12-07T09:00:00+09:00"
        ))
    })
}

/// `?destination=app|stream` (default app).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationQuery {
    destination: Option<String>,
}

fn parse_destination(text: Option<&str>) -> Result<Destination, ApiError> {
    match text {
        None => Ok(Destination::App),
        Some(text) => Destination::parse(text)
            .ok_or_else(|| invalid(format!("destination {text:?} is not one of app, stream"))),
    }
}

fn destination_query(
    query: Result<Query<DestinationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Destination, ApiError> {
    let Query(query) = query.map_err(|err| invalid(format!("?destination=app|stream: {err}")))?;
    parse_destination(query.destination.as_deref())
}

/// `GET /api/notifications/destination`: active or paused, since when, why.
async fn destination(
    State(state): State<AppState>,
    query: Result<Query<DestinationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let destination = destination_query(query)?;
    let row = state
        .storage
        .destination_state(destination)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    Ok(Json(destination_view(&row)))
}

/// `POST /api/notifications/resume`: the backlog goes out, oldest first.
async fn resume(
    State(state): State<AppState>,
    query: Result<Query<DestinationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let destination = destination_query(query)?;
    let storage = &state.storage;
    let resumed = storage
        .resume_destination(destination, crate::clock::now_millis())
        .await
        .map_err(|err| ApiError::storage(&err))?;
    if resumed {
        tracing::info!(
            destination = destination.as_str(),
            "notifications resumed: the backlog goes out, oldest first"
        );
    }
    let row = storage
        .destination_state(destination)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    let mut view = destination_view(&row);
    view["resumed"] = resumed.into();
    Ok(Json(view))
}

fn destination_view(row: &DestinationState) -> Value {
    json!({
        "destination": row.destination,
        "state": row.state,
        "since": (row.since > 0).then(|| rfc3339(row.since)),
        "reason": row.reason,
        "failing_since": maybe_time(row.failing_since),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    destination: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|err| {
        invalid(format!(
            "status is pending, delivered, failed or held; after and limit are numbers: {err}"
        ))
    })?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            NotificationStatus::parse(text).ok_or_else(|| {
                invalid(format!(
                    "status {text:?} is not one of pending, delivered, failed, held"
                ))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = query.after.max(0);
    let destination = parse_destination(query.destination.as_deref())?;
    let rows = state
        .storage
        .notifications_to(destination, status, after, limit)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    let next = rows.last().map_or(after, |n| n.notification_id);
    Ok(Json(json!({
        "notifications": rows.iter().map(view).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| invalid(format!("{id:?} is not a notification id")))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    match state.storage.notification(id).await {
        Ok(Some(row)) => Ok(Json(view(&row))),
        Ok(None) => Err(ApiError::not_found(format!("no notification {id}"))),
        Err(err) => Err(ApiError::storage(&err)),
    }
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let storage = &state.storage;
    if storage
        .retry_notification(id)
        .await
        .map_err(|err| ApiError::storage(&err))?
    {
        let row = storage
            .notification(id)
            .await
            .map_err(|err| ApiError::storage(&err))?
            .ok_or_else(|| ApiError::not_found(format!("no notification {id}")))?;
        return Ok((StatusCode::ACCEPTED, Json(view(&row))));
    }
    match storage
        .notification(id)
        .await
        .map_err(|err| ApiError::storage(&err))?
    {
        None => Err(ApiError::not_found(format!("no notification {id}"))),
        Some(row) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!(
                "notification {id} is {}: only a failed one is retried",
                row.status
            ),
        )),
    }
}

fn view(row: &Notification) -> Value {
    let body: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
    json!({
        "notification_id": row.notification_id,
        "webhook_id": webhook_id(row.notification_id, row.created_at),
        "type": row.notification_type,
        "event_id": row.event_id,
        "status": row.status,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": rfc3339(row.created_at),
        "next_attempt_at": (row.status == "pending").then(|| rfc3339(row.run_at)),
        "finished_at": maybe_time(row.finished_at),
        "body": body,
    })
}
