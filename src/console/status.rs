//! The console's status pages: the outboxes (with a retry for failed
//! notifications) and the settings.

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};

use super::{CsrfForm, Labels, Page, csrf_refused, pages::render};
use crate::state::AppState;

struct NotificationRow {
    id: i64,
    /// The delivery whose change it tells of.
    event_id: Option<i64>,
    kind: String,
    status: String,
    attempts: i64,
    last_error: String,
    failed: bool,
}

struct BotRow {
    id: i64,
    event_id: Option<i64>,
    kind: String,
    status: String,
    attempts: i64,
    last_error: String,
}

#[derive(Template)]
#[template(path = "console/outboxes.html")]
struct OutboxesPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    notifications: Vec<NotificationRow>,
    /// Failed notifications to the app shown ("retry all failed").
    failed_to_app: usize,
    /// The app's destination, when paused: since when, and why.
    paused: Option<(super::time::Shown, String)>,
    bot: Vec<BotRow>,
}

pub async fn outboxes(State(state): State<AppState>, Extension(page): Extension<Page>) -> Response {
    use crate::storage::notifications::{Destination as D, NotificationStatus as S};
    // The app's notifications and the alert webhook's (kind "alert").
    let mut notifications = Vec::new();
    for (destination, status) in [
        (D::App, S::Failed),
        (D::Alert, S::Failed),
        (D::App, S::Pending),
        (D::Alert, S::Pending),
    ] {
        notifications.extend(
            state
                .storage
                .notifications_to(destination, Some(status), 0, 100)
                .await
                .unwrap_or_default(),
        );
    }
    let bot = state
        .storage
        .unfinished_bot_outbox(100)
        .await
        .unwrap_or_default();
    let failed_to_app = notifications
        .iter()
        .filter(|n| n.status == "failed" && !n.notification_type.starts_with("alert"))
        .count();
    let paused = state
        .storage
        .destination_state(D::App)
        .await
        .ok()
        .filter(|d| d.paused())
        .map(|d| (page.at(d.since), d.reason.unwrap_or_default()));
    render(&OutboxesPage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        failed_to_app,
        paused,
        notifications: notifications
            .into_iter()
            .map(|n| NotificationRow {
                id: n.notification_id,
                event_id: n.event_id,
                failed: n.status == "failed",
                kind: n.notification_type,
                status: page.t.word(&n.status).to_owned(),
                attempts: n.attempts,
                last_error: n.last_error.unwrap_or_default(),
            })
            .collect(),
        bot: bot
            .into_iter()
            .map(|b| BotRow {
                id: b.outbox_id,
                event_id: b.event_id,
                kind: b.kind,
                status: page.t.word(&b.status).to_owned(),
                attempts: b.attempts,
                last_error: match (b.last_error_code, b.last_error_msg) {
                    (Some(code), Some(msg)) => format!("{code}: {msg}"),
                    (None, Some(msg)) => msg,
                    _ => String::new(),
                },
            })
            .collect(),
    })
}

pub async fn retry_notification(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&page, &form.csrf) {
        return refused;
    }
    if let Err(err) = state.storage.retry_notification(id).await {
        return crate::http::error::ApiError::storage(&err).into_response();
    }
    Redirect::to("/console/outboxes").into_response()
}

/// Every failed notification to the app, queued again (their own ids).
pub async fn retry_failed_notifications(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&page, &form.csrf) {
        return refused;
    }
    let filter = crate::storage::destinations::ReplayFilter {
        statuses: vec!["failed"],
        ..Default::default()
    };
    match state
        .storage
        .replay_notifications(&filter, crate::clock::now_millis())
        .await
    {
        Ok(queued) => {
            tracing::info!(queued, "console: failed notifications queued again");
            Redirect::to("/console/outboxes").into_response()
        }
        Err(err) => crate::http::error::ApiError::storage(&err).into_response(),
    }
}

/// Resumes the app's paused destination.
pub async fn resume_notifications(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = csrf_refused(&page, &form.csrf) {
        return refused;
    }
    let destination = crate::storage::notifications::Destination::App;
    match state
        .storage
        .resume_destination(destination, crate::clock::now_millis())
        .await
    {
        Ok(_) => Redirect::to("/console/outboxes").into_response(),
        Err(err) => crate::http::error::ApiError::storage(&err).into_response(),
    }
}

struct SettingRow {
    family: &'static str,
    name: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    settings: Vec<SettingRow>,
}

pub async fn settings(State(state): State<AppState>, Extension(page): Extension<Page>) -> Response {
    let s = &state.settings;
    let host = |url: &Option<url::Url>| url.as_ref().and_then(|u| u.host_str()).map(str::to_owned);
    let secrets = [
        ("skill", "SKILL_SECRET", s.skill_secret.is_some()),
        (
            "unlink, channel, share",
            "KAKAO_ADMIN_KEY",
            s.kakao_admin_key.is_some(),
        ),
        (
            "events",
            "KAKAO_REST_API_KEY",
            s.kakao_rest_api_key.is_some(),
        ),
        ("bot", "KAKAO_BOT_TOKEN", s.kakao_bot_token.is_some()),
        (
            "bot",
            "KAKAO_BOT_WEBHOOK_SECRET",
            s.kakao_bot_webhook_secret.is_some(),
        ),
        ("app", "APP_SIGNING_SECRET", s.app_signing_secret.is_some()),
        ("api", "INTERNAL_API_TOKEN", s.internal_api_token.is_some()),
    ];
    let values = [
        ("skill", "SKILL_UPSTREAM_URL", host(&s.skill_upstream_url)),
        (
            "unlink, channel, share",
            "KAKAO_APP_ID",
            s.kakao_app_id.clone(),
        ),
        ("events", "KAKAO_ISSUER", Some(s.kakao_issuer.to_string())),
        (
            "bot",
            "KAKAO_BOT_GATEWAY",
            Some(s.kakao_bot_gateway.to_string()),
        ),
        ("app", "APP_NOTIFY_URL", host(&s.app_notify_url)),
        (
            "api",
            "INTERNAL_BIND_ADDR",
            s.internal_bind_addr.map(|a| a.to_string()),
        ),
        (
            "storage",
            "DATABASE_URL",
            Some(format!("{:?}", s.database_url.kind())),
        ),
    ];
    let settings = secrets
        .into_iter()
        .map(|(family, name, set)| (family, name, if set { "set" } else { "unset" }.to_owned()))
        .chain(values.into_iter().map(|(family, name, value)| {
            (family, name, value.unwrap_or_else(|| "unset".to_owned()))
        }))
        .map(|(family, name, value)| SettingRow {
            family,
            name,
            value,
        })
        .collect();
    render(&SettingsPage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        settings,
    })
}
