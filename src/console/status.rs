//! The console's status pages: health (from this instance's deliveries),
//! the outboxes (with a retry for failed notifications) and the settings.

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};

use super::{
    CsrfForm, Labels, Page, csrf_refused,
    pages::{FAMILIES, render},
};
use crate::{delivery::log::Delivery, state::AppState};

struct FamilyHealth {
    family: &'static str,
    /// "bad" while the family's failure alert is raised (the same rule, and
    /// the same shared numbers, as the alert).
    class: &'static str,
    hour: String,
    day: String,
    p50: u64,
    p99: u64,
    deadline_ms: u64,
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct HealthPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    warnings: Vec<String>,
    families: Vec<FamilyHealth>,
    keys: String,
    spool: String,
}

/// `n` deliveries by outcome: `12 accepted, 1 refused`.
fn counts(deliveries: &[&Delivery]) -> String {
    let mut by: Vec<(&str, usize)> = Vec::new();
    for d in deliveries {
        match by.iter_mut().find(|(o, _)| *o == d.outcome.as_str()) {
            Some((_, n)) => *n += 1,
            None => by.push((d.outcome.as_str(), 1)),
        }
    }
    if by.is_empty() {
        return "0".into();
    }
    by.iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub async fn health(State(state): State<AppState>, Extension(page): Extension<Page>) -> Response {
    let now = crate::clock::now_millis();
    let recent = state.deliveries.recent();
    let alerting: Vec<String> = state
        .storage
        .alerts(100)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a.state == "raised" && a.name == "webhook_failures")
        .filter_map(|a| a.family)
        .collect();
    let mut warnings = Vec::new();
    let families = FAMILIES
        .iter()
        .map(|&family| {
            let day: Vec<&Delivery> = recent
                .iter()
                .filter(|d| d.family == family && now - d.at < 86_400_000)
                .collect();
            let hour: Vec<&Delivery> = day
                .iter()
                .copied()
                .filter(|d| now - d.at < 3_600_000)
                .collect();
            let failed = hour.iter().filter(|d| d.failed()).count();
            // Kakao pauses webhooks that fail often; warn well before.
            if hour.len() >= 10 && failed * 10 >= hour.len() {
                warnings.push(format!(
                    "{}: {family} ({failed}/{})",
                    page.t.error_rate_warning,
                    hour.len()
                ));
            }
            let mut times: Vec<u64> = day.iter().map(|d| d.answer_ms).collect();
            times.sort_unstable();
            FamilyHealth {
                family,
                class: if alerting.iter().any(|f| f == family) {
                    "bad"
                } else {
                    ""
                },
                hour: counts(&hour),
                day: counts(&day),
                p50: percentile(&times, 0.5),
                p99: percentile(&times, 0.99),
                deadline_ms: day.first().map_or(0, |d| d.deadline_ms),
            }
        })
        .collect();
    let keys = match &state.security_events {
        None => "—".to_owned(),
        Some(events) if !events.keys_loaded() => match events.last_key_fetch() {
            Some(last) => format!(
                "not loaded; last fetch ({}): {}",
                last.trigger, last.outcome
            ),
            None => "not loaded yet".to_owned(),
        },
        Some(events) => match events.key_set_age() {
            Some(age) => {
                let last = events.last_key_fetch().map_or(String::new(), |last| {
                    let ago = last.at.elapsed().unwrap_or_default().as_secs();
                    format!(
                        "; last fetch {ago} s ago ({}): {}",
                        last.trigger, last.outcome
                    )
                });
                format!(
                    "loaded {} s ago; kids: {}{last}",
                    age.as_secs(),
                    events.key_ids().join(", ")
                )
            }
            _ => "not loaded".to_owned(),
        },
    };
    // Admin-key webhooks storage could not take, waiting to be stored.
    let spool = match state.spool.waiting() {
        (0, _) => page.t.spool_empty.to_owned(),
        (entries, oldest) => {
            let waited =
                oldest.map_or(0, |at| crate::clock::now_millis().saturating_sub(at) / 1000);
            format!("{entries} · {waited} s")
        }
    };
    render(&HealthPage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        warnings,
        families,
        keys,
        spool,
    })
}

struct NotificationRow {
    id: i64,
    kind: String,
    status: String,
    attempts: i64,
    last_error: String,
    failed: bool,
}

struct BotRow {
    id: i64,
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
    paused: Option<(String, String)>,
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
        .map(|d| (crate::clock::rfc3339(d.since), d.reason.unwrap_or_default()));
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
                failed: n.status == "failed",
                kind: n.notification_type,
                status: n.status,
                attempts: n.attempts,
                last_error: n.last_error.unwrap_or_default(),
            })
            .collect(),
        bot: bot
            .into_iter()
            .map(|b| BotRow {
                id: b.outbox_id,
                kind: b.kind,
                status: b.status,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::log::{Outcome, sample as delivery};

    #[test]
    fn health_counts_by_outcome_and_takes_percentiles() {
        let (a, b, c) = (
            delivery(Outcome::Accepted, 1),
            delivery(Outcome::Accepted, 2),
            delivery(Outcome::Refused, 3),
        );
        assert_eq!(counts(&[&a, &b, &c]), "2 accepted, 1 refused");
        assert_eq!(counts(&[]), "0");
        let times: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&times, 0.5), 51);
        assert_eq!(percentile(&times, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
