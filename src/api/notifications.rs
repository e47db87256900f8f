//! `/api/notifications` (behind the API token): what was sent to the app,
//! how each attempt went, and a retry for a failed one.

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
    storage::notifications::{Notification, NotificationStatus},
};

pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/{id}", get(one))
        .route("/api/notifications/{id}/retry", post(retry))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
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
            "status is pending, delivered or failed; after and limit are numbers: {err}"
        ))
    })?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            NotificationStatus::parse(text).ok_or_else(|| {
                invalid(format!(
                    "status {text:?} is not one of pending, delivered, failed"
                ))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after = query.after.max(0);
    let rows = state
        .storage
        .notifications(status, after, limit)
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
