//! `GET /health` (the process runs), `GET /ready` (its dependencies answer)
//! and `GET /metrics` (Prometheus text).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;

use crate::{error::Chain, state::AppState};

/// A dependency slower than this counts as failing.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Each webhook family: `ready`, `unconfigured` (a setting it needs is unset)
/// or `failing` (configured, but the database does not answer). 503 only
/// when a configured family cannot work.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database_ok = match tokio::time::timeout(CHECK_TIMEOUT, state.storage.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::warn!(error = %Chain(&err), "readiness: database failing");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            false
        }
    };
    let settings = &state.settings;
    let admin_key = settings.kakao_admin_key.is_some();
    // (family, configured, needs the database)
    let families = [
        ("skill", true, false),
        ("unlink", admin_key && settings.kakao_app_id.is_some(), true),
        ("channel", admin_key, true),
        ("share", admin_key, true),
        ("api", settings.internal_api_token.is_some(), true),
        ("events", state.security_events.is_some(), true),
        ("bot", settings.kakao_bot_token.is_some(), true),
    ];
    let mut checks = serde_json::Map::new();
    let mut all_ready = true;
    // The events family also needs Kakao's key set.
    let keys_ok = state
        .security_events
        .as_ref()
        .is_none_or(|events| events.keys_loaded());
    for (family, configured, needs_database) in families {
        let broken = (needs_database && !database_ok) || (family == "events" && !keys_ok);
        let status = match (configured, broken) {
            (false, _) => "unconfigured",
            (true, true) => {
                all_ready = false;
                "failing"
            }
            (true, false) => "ready",
        };
        checks.insert(family.into(), status.into());
    }
    let status = if all_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_ready { "ready" } else { "not_ready" },
        "database": if database_ok { "ok" } else { "failing" },
        "families": checks,
    });
    (status, Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
