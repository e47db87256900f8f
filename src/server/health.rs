//! `GET /health` (the process runs), `GET /ready` (its dependencies answer)
//! and `GET /metrics` (Prometheus text).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;

use crate::{
    bot::gateway::GatewayState, http::routes::Routes, state::AppState, storage::DatabaseHealth,
};

pub fn router() -> Routes<AppState> {
    Routes::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

/// `/metrics`: internal, beside the API when `INTERNAL_BIND_ADDR` is set.
pub fn metrics_router() -> Routes<AppState> {
    Routes::new().route("/metrics", get(metrics))
}

async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Each webhook family: `ready`, `unconfigured` (a setting it needs is unset)
/// or `failing` (configured, but the database does not answer). 503 only
/// when a configured family cannot work.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.storage.health().await;
    if database != DatabaseHealth::Failing {
        let writable = database != DatabaseHealth::ReadOnly;
        metrics::gauge!("kakao_database_writable").set(if writable { 1.0 } else { 0.0 });
    }
    let writer_running = state.storage.writer_running();
    if !writer_running {
        tracing::error!("readiness: the event writer has stopped; every webhook is refused");
    }
    let database_ok = database == DatabaseHealth::Ok && writer_running;
    // Deliveries spooled while storage failed, still waiting a while after.
    let (spooled, oldest) = state.spool.waiting();
    let spool_stuck = oldest.is_some_and(|at| {
        crate::clock::now_millis().saturating_sub(at)
            > crate::delivery::spool::GRACE.as_millis() as i64
    });
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
    let mut all_ready = !spool_stuck;
    // The events family also needs Kakao's key set.
    let keys_ok = state
        .security_events
        .as_ref()
        .is_none_or(|events| events.keys_loaded());
    let gateway = state.gateway.as_ref().map(|status| status.get());
    let gateway_stopped = matches!(gateway, Some(GatewayState::Stopped(_)));
    for (family, configured, needs_database) in families {
        let broken = (needs_database && !database_ok)
            || (family == "events" && !keys_ok)
            || (family == "bot" && gateway_stopped);
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
        "database": database.as_str(),
        "writer": if writer_running { "running" } else { "stopped" },
        "spool": {
            "entries": spooled,
            "oldest_seconds": oldest.map(|at| crate::clock::now_millis().saturating_sub(at) / 1000),
        },
        "families": checks,
        "warnings": warnings(settings),
        // With HTTPS on: the certificate served, or that none is yet.
        "tls": state.tls.as_ref().map(|served| match served.get() {
            Some(certificate) => json!({
                "certificate": "served",
                "names": certificate.names,
                "not_after": crate::clock::rfc3339(certificate.not_after),
            }),
            None => json!({"certificate": "waiting"}),
        }),
        "source_ips": state.source_filter.as_ref().map(|filter| json!({
            "networks": filter.allowed().len(),
            "refresh_error": filter.refresh_error().map(|(_, why)| why),
        })),
        "gateway": gateway.map(|state| match state {
            GatewayState::Standby => json!({"state": "standby"}),
            GatewayState::Connecting => json!({"state": "connecting"}),
            GatewayState::Connected => json!({"state": "connected"}),
            GatewayState::Stopped(reason) => json!({"state": "stopped", "reason": reason}),
        }),
    });
    (status, Json(body))
}

/// Something configured so that anyone can reach what should be guarded:
/// logged at start-up and listed by `/ready` until fixed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub family: &'static str,
    pub setting: &'static str,
    pub message: &'static str,
}

pub fn warnings(settings: &crate::config::Settings) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if settings.skill_secret.is_none() {
        warnings.push(Warning {
            family: "skill",
            setting: "SKILL_SECRET",
            message: "unset: POST /kakao/skill answers any caller; set it and send it from the skill's headers in OpenBuilder",
        });
    }
    if settings.kakao_bot_token.is_some()
        && !settings.kakao_bot_gateway
        && settings.kakao_bot_webhook_secret.is_none()
    {
        warnings.push(Warning {
            family: "bot",
            setting: "KAKAO_BOT_WEBHOOK_SECRET",
            message: "unset: POST /kakao/bot accepts events from any caller",
        });
    }
    let public = !settings.bind_addr.ip().is_loopback();
    if public && settings.internal_bind_addr.is_none() && settings.internal_api_token.is_some() {
        warnings.push(Warning {
            family: "api",
            setting: "INTERNAL_BIND_ADDR",
            message: "unset: /api and /metrics are served on the public BIND_ADDR",
        });
    }
    warnings
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
