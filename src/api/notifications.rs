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
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{
        DEFAULT_PAGE, MAX_PAGE,
        views::{
            DestinationView, ErrorView, NotificationView, NotificationsPage, Renotified, Replayed,
            Resumed,
        },
    },
    http::{error::ApiError, routes::Routes},
    state::AppState,
    storage::{
        destinations::{RenotifyFilter, ReplayFilter},
        notifications::{Destination, NotificationStatus},
    },
};

/// A notification's id in a path.
const ID: &str = "The notification_id";

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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RenotifyRequest {
    /// RFC 3339, like `2026-12-07T09:00:00+09:00`.
    #[schema(format = DateTime, example = "2026-12-07T09:00:00+09:00")]
    since: String,
    #[schema(format = DateTime)]
    until: Option<String>,
    /// Notification types; empty: every type.
    #[serde(default, rename = "type")]
    #[schema(max_items = 64)]
    types: Vec<String>,
}

/// The notifications applied changes produced while `APP_NOTIFY_URL` was
/// unset, queued now; `already` counts the matching ones queued before.
#[utoipa::path(
    post, path = "/api/events/renotify", tag = "notifications",
    request_body = RenotifyRequest,
    responses(
        (status = 200, description = "Queued", body = Renotified),
        (status = 400, description = "Not the body described, or a time not RFC 3339", body = ErrorView),
    ),
)]
async fn renotify(
    State(state): State<AppState>,
    body: Result<Json<RenotifyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Renotified>, ApiError> {
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
    Ok(Json(Renotified { queued, already }))
}

/// `POST /api/notifications/replay`: which notifications to queue again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// `delivered` and/or `failed` (default: failed).
    #[serde(default)]
    #[schema(inline, value_type = Vec<ReplayStatus>)]
    status: Vec<String>,
    /// Notification types; empty: every type.
    #[serde(default, rename = "type")]
    #[schema(max_items = 64)]
    types: Vec<String>,
    #[schema(pattern = r"^[!-~]{1,128}$")]
    user_id: Option<String>,
    #[schema(format = DateTime)]
    since: Option<String>,
    #[schema(format = DateTime)]
    until: Option<String>,
}

// Documentation only: the handler parses the text.
/// The statuses a replay takes.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ReplayStatus {
    Delivered,
    Failed,
}

/// Most types one replay names.
const MAX_REPLAY_TYPES: usize = 64;

/// Queues delivered or failed notifications again, by filter.
#[utoipa::path(
    post, path = "/api/notifications/replay", tag = "notifications",
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "Queued", body = Replayed),
        (status = 400, description = "Not the body described", body = ErrorView),
    ),
)]
async fn replay(
    State(state): State<AppState>,
    body: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Replayed>, ApiError> {
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
    Ok(Json(Replayed { queued }))
}

fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    crate::clock::parse_rfc3339(text).ok_or_else(|| {
        invalid(format!(
            "{field} {text:?} is not an RFC 3339 time like 2026-12-07T09:00:00+09:00"
        ))
    })
}

/// `?destination=app|stream` (default app).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DestinationQuery {
    /// `app` (default) or `stream`.
    #[param(inline, value_type = Option<DestinationName>)]
    destination: Option<String>,
}

// Documentation only: the handler parses the text.
/// Where notifications go.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum DestinationName {
    App,
    Stream,
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
#[utoipa::path(
    get, path = "/api/notifications/destination", tag = "notifications",
    params(DestinationQuery),
    responses(
        (status = 200, description = "The destination's state", body = DestinationView),
        (status = 400, description = "Not app or stream", body = ErrorView),
    ),
)]
async fn destination(
    State(state): State<AppState>,
    query: Result<Query<DestinationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<DestinationView>, ApiError> {
    let destination = destination_query(query)?;
    let row = state
        .storage
        .destination_state(destination)
        .await
        .map_err(|err| ApiError::storage(&err))?;
    Ok(Json(DestinationView::from(&row)))
}

/// `POST /api/notifications/resume`: the backlog goes out, oldest first.
#[utoipa::path(
    post, path = "/api/notifications/resume", tag = "notifications",
    params(DestinationQuery),
    responses(
        (status = 200, description = "The destination, active", body = Resumed),
        (status = 400, description = "Not app or stream", body = ErrorView),
    ),
)]
async fn resume(
    State(state): State<AppState>,
    query: Result<Query<DestinationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Resumed>, ApiError> {
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
    Ok(Json(Resumed {
        destination: DestinationView::from(&row),
        resumed,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only notifications in this state.
    #[param(inline, value_type = Option<ListedStatus>)]
    status: Option<String>,
    /// `app` (default) or `stream`.
    #[param(inline, value_type = Option<DestinationName>)]
    destination: Option<String>,
    /// The `next_after` of the page before (0: from the start).
    #[serde(default)]
    after: i64,
    /// Notifications per page, 1 to 1000 (default 100; others are clamped).
    limit: Option<i64>,
}

// Documentation only: the handler parses the text.
/// The states a listing filters by.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ListedStatus {
    Pending,
    Delivered,
    Failed,
    Held,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_request", message)
}

/// What was sent to the app (or the stream), oldest first, a page at a time.
#[utoipa::path(
    get, path = "/api/notifications", tag = "notifications",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationsPage),
        (status = 400, description = "A parameter not as described", body = ErrorView),
    ),
)]
async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<NotificationsPage>, ApiError> {
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
    Ok(Json(NotificationsPage {
        notifications: rows.iter().map(NotificationView::from).collect(),
        next_after: next,
    }))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .ok()
        .filter(|&id| id > 0)
        .ok_or_else(|| invalid(format!("{id:?} is not a notification id")))
}

/// One notification, with its body and how its last attempt went.
#[utoipa::path(
    get, path = "/api/notifications/{id}", tag = "notifications",
    params(("id" = i64, Path, minimum = 1, description = ID)),
    responses(
        (status = 200, description = "The notification", body = NotificationView),
        (status = 400, description = "Not a notification id", body = ErrorView),
        (status = 404, description = "No such notification", body = ErrorView),
    ),
)]
async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<NotificationView>, ApiError> {
    let id = parse_id(&id)?;
    match state.storage.notification(id).await {
        Ok(Some(row)) => Ok(Json(NotificationView::from(&row))),
        Ok(None) => Err(ApiError::not_found(format!("no notification {id}"))),
        Err(err) => Err(ApiError::storage(&err)),
    }
}

/// Queues a failed notification again.
#[utoipa::path(
    post, path = "/api/notifications/{id}/retry", tag = "notifications",
    params(("id" = i64, Path, minimum = 1, description = ID)),
    responses(
        (status = 202, description = "Queued again", body = NotificationView),
        (status = 400, description = "Not a notification id", body = ErrorView),
        (status = 404, description = "No such notification", body = ErrorView),
        (status = 409, description = "It has not failed (`not_failed`)", body = ErrorView),
    ),
)]
async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<NotificationView>), ApiError> {
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
        return Ok((StatusCode::ACCEPTED, Json(NotificationView::from(&row))));
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
