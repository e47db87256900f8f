//! Alerts: the failures that hurt, made loud. Every few seconds each
//! instance adds its tally of deliveries to the database and judges each
//! condition from the shared numbers:
//! - a family's failures (refused, unavailable, fallback, deadline missed)
//!   reach `ALERT_FAILURE_RATIO` of at least `ALERT_MIN_DELIVERIES`
//!   deliveries in the last `ALERT_WINDOW_SECONDS` (Kakao pauses a webhook
//!   that fails often, and it stays paused until re-enabled by hand);
//! - app notifications are `failed`, or pending past their retry schedule;
//! - bot replies failed, or are pending past their callback token;
//! - Kakao's key set cannot be refreshed and is past its lifetime;
//! - the Bot API gateway has been disconnected for over a minute;
//! - webhooks have waited in the spool past its grace;
//! - the certificate cannot be obtained or renewed (`tls_certificate`), or
//!   expires within 14 days (`tls_expiry`);
//! - Kakao's list of addresses cannot be refreshed (`kakao_source_ips`);
//! - the SQLite database's disk is running out (`disk_space`).
//!
//! A condition is raised once when it starts and resolved once it has been
//! clear for a whole window (so one that flaps sends nothing more). Each
//! change is made by one instance (`storage::alerts`), which queues it to
//! `ALERT_WEBHOOK_URL` and, as `alert.raised` / `alert.resolved`, to the app.

mod outside;

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    bot::gateway::GatewayState,
    clock::{now_millis, rfc3339},
    delivery::log::{FAMILIES, Outcome},
    state::AppState,
    storage::alerts::{Bodies, DeliveryTally, Judgement, Transition},
    telemetry::Chain,
};

/// Every condition's name, as `kakao_alerts_active{name}` and the API say it.
pub const NAMES: [&str; 11] = [
    "webhook_failures",
    "app_notifications",
    "bot_replies",
    "kakao_keys",
    "bot_gateway",
    "spool",
    "tls_certificate",
    "tls_expiry",
    "kakao_source_ips",
    "event_stream",
    "disk_space",
];

/// How long the gateway may be down before it is an alert.
const GATEWAY_GRACE: Duration = Duration::from_secs(60);
/// Tallies are kept this long (the console's day, and some).
const TALLIES_KEPT_MS: i64 = 2 * 86_400_000;

/// How often conditions are judged: a thirtieth of the window, between a
/// quarter of a second and ten seconds.
pub fn interval(window: Duration) -> Duration {
    (window / 30).clamp(Duration::from_millis(250), Duration::from_secs(10))
}

/// Judges the conditions until `shutdown`, then writes the last tally.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let window = Duration::from_secs(state.settings.alert_window_seconds);
    let mut tick = tokio::time::interval(interval(window));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = 0;
    while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
        flush_tally(&state).await;
        judge_all(&state).await;
        if now_millis() - last_prune > 3_600_000 {
            last_prune = now_millis();
            if let Err(err) = state
                .storage
                .delete_old_tallies(last_prune - TALLIES_KEPT_MS)
                .await
            {
                tracing::warn!(error = %Chain(&err), "alerts: cannot delete old tallies");
            }
        }
    }
    flush_tally(&state).await;
}

/// Adds this instance's tally to the shared one; kept for the next try
/// when the database fails.
async fn flush_tally(state: &AppState) {
    let tally = state.deliveries.take_tally();
    let rows: Vec<DeliveryTally> = tally
        .iter()
        .map(|t| DeliveryTally {
            bucket: t.bucket,
            family: t.family.to_owned(),
            outcome: t.outcome.as_str().to_owned(),
            deliveries: t.deliveries,
            late: t.late,
        })
        .collect();
    if let Err(err) = state.storage.add_delivery_tallies(&rows).await {
        tracing::warn!(error = %Chain(&err), "alerts: cannot write the tally of deliveries; will retry");
        state.deliveries.restore_tally(tally);
    }
}

async fn judge_all(state: &AppState) {
    let now = now_millis();
    let settings = &state.settings;
    let window_ms = (settings.alert_window_seconds * 1000) as i64;
    let mut judged = Vec::new();
    match state.storage.delivery_totals(now - window_ms).await {
        Ok(totals) => judged.extend(failure_judgements(state, &totals)),
        Err(err) => tracing::warn!(error = %Chain(&err), "alerts: cannot read the tally"),
    }
    if settings.app_notify_url.is_some() {
        judged.extend(app_notifications(state, now).await);
    }
    if state.bot.is_some() {
        match state
            .storage
            .bot_replies_in_trouble(now - window_ms, now)
            .await
        {
            Ok(n) => judged.push(judgement(
                "bot_replies",
                None,
                n > 0,
                (
                    format!("봇 답장 {n}건이 실패했거나 콜백 토큰 만료 후에도 대기 중"),
                    format!("{n} bot replies failed or are pending past their callback token"),
                ),
                n as f64,
                0.0,
            )),
            Err(err) => tracing::warn!(error = %Chain(&err), "alerts: cannot count bot replies"),
        }
    }
    let (spooled, oldest) = state.spool.waiting();
    let waited = oldest.map_or(0, |at| now.saturating_sub(at) / 1000);
    let grace = crate::delivery::spool::GRACE.as_secs() as i64;
    judged.push(judgement(
        "spool",
        None,
        waited > grace,
        (
            format!("저장소가 받지 못한 웹훅 {spooled}건이 {waited}초째 스풀에서 대기 중"),
            format!(
                "{spooled} webhooks storage could not take have waited in the spool for {waited} s"
            ),
        ),
        waited as f64,
        grace as f64,
    ));
    if let Some(events) = &state.security_events {
        let stale = events.keys_stale();
        judged.push(judgement(
            "kakao_keys",
            None,
            stale,
            (
                "카카오 공개키(JWKS)를 갱신하지 못했고 유효 기간이 지남: 계정 상태 변경 웹훅이 거부됨".into(),
                "Kakao's key set cannot be refreshed and is past its lifetime: account status change webhooks are refused".into(),
            ),
            events.key_set_age().map_or(0.0, |age| age.as_secs_f64()),
            0.0,
        ));
    }
    if let Some(gateway) = &state.gateway
        && gateway.get() != GatewayState::Standby
    {
        let down = gateway.disconnected_for().unwrap_or_default();
        judged.push(judgement(
            "bot_gateway",
            None,
            down > GATEWAY_GRACE,
            (
                format!("봇 게이트웨이 연결이 {}초째 끊김", down.as_secs()),
                format!(
                    "the Bot API gateway has been disconnected for {} s",
                    down.as_secs()
                ),
            ),
            down.as_secs_f64(),
            GATEWAY_GRACE.as_secs_f64(),
        ));
    }
    judged.extend(outside::https_judgements(state, now).await);
    judged.extend(outside::stream_judgement(state, now).await);
    judged.extend(outside::disk_judgement(state));
    outside::gauge_writable(state).await;
    // A clear condition with no alert raised has nothing to change: no
    // write transaction for it, every round, on every instance.
    let raised: Vec<String> = match state.storage.alerts(1000).await {
        Ok(alerts) => alerts
            .into_iter()
            .filter(|a| a.state == "raised")
            .map(|a| key(&a.name, a.family.as_deref()))
            .collect(),
        Err(err) => {
            tracing::warn!(error = %Chain(&err), "alerts: cannot read their state");
            return;
        }
    };
    for judged in judged {
        if judged.active || raised.contains(&judged.key) {
            judge(state, &judged, now, window_ms).await;
        }
    }
    set_gauge(state).await;
}

/// An alert's key: its name, and its family for per-family ones.
fn key(name: &str, family: Option<&str>) -> String {
    match family {
        Some(family) => format!("{name}:{family}"),
        None => name.to_owned(),
    }
}

/// A condition's judgement; `summary` in Korean and English.
fn judgement(
    name: &'static str,
    family: Option<&'static str>,
    active: bool,
    (korean, english): (String, String),
    value: f64,
    threshold: f64,
) -> Judgement {
    Judgement {
        key: key(name, family),
        name,
        family,
        active,
        summary: format!("{korean} / {english}"),
        value,
        threshold,
    }
}

/// Each family with enough deliveries in the window, judged by its share of
/// failures. A family with too few is not judged: an alert raised stays
/// raised (Kakao may have paused the webhook), one not raised stays so.
fn failure_judgements(state: &AppState, totals: &[DeliveryTally]) -> Vec<Judgement> {
    let settings = &state.settings;
    let mut by_family: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for row in totals {
        let failing = Outcome::parse(&row.outcome).is_some_and(Outcome::is_failure);
        let entry = by_family.entry(row.family.as_str()).or_default();
        entry.0 += row.deliveries;
        entry.1 += if failing { row.deliveries } else { row.late };
    }
    FAMILIES
        .into_iter()
        .filter_map(|family| {
            let (deliveries, failed) = by_family.get(family).copied().unwrap_or_default();
            if deliveries < settings.alert_min_deliveries as i64 {
                return None;
            }
            let ratio = failed as f64 / deliveries as f64;
            let percent = (ratio * 100.0).round();
            let threshold = (settings.alert_failure_ratio * 100.0).round();
            let window = settings.alert_window_seconds;
            Some(judgement(
                "webhook_failures",
                Some(family),
                ratio >= settings.alert_failure_ratio,
                (
                    format!(
                        "{family} 웹훅: 최근 {window}초 동안 {deliveries}건 중 {failed}건 실패 ({percent}%, 기준 {threshold}%)"
                    ),
                    format!(
                        "{family} webhook: {failed} of {deliveries} deliveries failed in the last {window} s ({percent}%, threshold {threshold}%)"
                    ),
                ),
                ratio,
                settings.alert_failure_ratio,
            ))
        })
        .collect()
}

/// Failed notifications, or the oldest pending one older than its whole
/// retry schedule allows.
async fn app_notifications(state: &AppState, now: i64) -> Option<Judgement> {
    let settings = &state.settings;
    let storage = &state.storage;
    let failed = storage.failed_notifications().await;
    let oldest = storage
        .oldest_pending_notification(crate::storage::notifications::Destination::App)
        .await;
    let (failed, oldest) = match (failed, oldest) {
        (Ok(failed), Ok(oldest)) => (failed, oldest),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!(error = %Chain(&err), "alerts: cannot read the notification outbox");
            return None;
        }
    };
    if let Ok(destination) = storage
        .destination_state(crate::storage::notifications::Destination::App)
        .await
        && destination.paused()
    {
        let why = destination.reason.unwrap_or_default();
        return Some(judgement(
            "app_notifications",
            None,
            true,
            (
                format!(
                    "APP_NOTIFY_URL 일시 중지됨: {why}. 알림은 pending으로 대기 중 (POST /api/notifications/resume)"
                ),
                format!(
                    "APP_NOTIFY_URL is paused: {why}. Notifications wait as pending (POST /api/notifications/resume)"
                ),
            ),
            failed as f64,
            0.0,
        ));
    }
    let schedule: Duration = settings.app_notify_retry_schedule_ms.iter().sum();
    let attempts = settings.app_notify_retry_schedule_ms.len() as u32 + 1;
    // Each wait may run 20% long (jitter), and each attempt takes its timeout.
    let allowed = schedule.mul_f64(1.2) + settings.app_notify_timeout_ms * attempts;
    let age = oldest.map_or(0, |at| now - at);
    let overdue = age > allowed.as_millis() as i64;
    Some(judgement(
        "app_notifications",
        None,
        failed > 0 || overdue,
        (
            format!(
                "앱 알림 {failed}건 실패, 가장 오래된 대기 알림 {}초 (재시도 허용 {}초)",
                age / 1000,
                allowed.as_secs()
            ),
            format!(
                "{failed} app notifications failed; the oldest pending is {} s old (the schedule allows {} s)",
                age / 1000,
                allowed.as_secs()
            ),
        ),
        failed as f64,
        0.0,
    ))
}

async fn judge(state: &AppState, judged: &Judgement, now: i64, window_ms: i64) {
    let settings = &state.settings;
    let bodies = |transition: Transition, since: i64| {
        let mut alert = json!({
            "name": judged.name,
            "state": transition.state(),
            "summary": judged.summary,
            "value": judged.value,
            "threshold": judged.threshold,
            "since": rfc3339(since),
        });
        if let Some(family) = judged.family {
            alert["family"] = json!(family);
        }
        let (ko, en) = match transition {
            Transition::Raised => ("경보 발생", "Alert raised"),
            Transition::Resolved => ("경보 해제", "Alert resolved"),
        };
        let text = format!("[kakao-webhooks] {ko} · {en}: {}", judged.summary);
        Bodies {
            alert: settings
                .alert_webhook_url
                .as_ref()
                .map(|_| json!({"text": text, "alert": alert}).to_string()),
            app: settings.app_notify_url.as_ref().map(|_| {
                let kind = match transition {
                    Transition::Raised => "alert.raised",
                    Transition::Resolved => "alert.resolved",
                };
                json!({"type": kind, "timestamp": rfc3339(now), "data": alert}).to_string()
            }),
        }
    };
    match state
        .storage
        .judge_alert(judged, now, window_ms, bodies)
        .await
    {
        Ok(Some(Transition::Raised)) => {
            tracing::error!(alert = judged.name, family = judged.family, summary = %judged.summary, "alert raised");
        }
        Ok(Some(Transition::Resolved)) => {
            tracing::info!(alert = judged.name, family = judged.family, summary = %judged.summary, "alert resolved");
        }
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %Chain(&err), alert = judged.name, "alerts: cannot record a judgement")
        }
    }
}

async fn set_gauge(state: &AppState) {
    let Ok(alerts) = state.storage.alerts(1000).await else {
        return;
    };
    for name in NAMES {
        let active = alerts
            .iter()
            .filter(|a| a.name == name && a.state == "raised")
            .count();
        metrics::gauge!("kakao_alerts_active", "name" => name).set(active as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_judged_thirty_times_a_window_within_bounds() {
        assert_eq!(interval(Duration::from_secs(300)), Duration::from_secs(10));
        assert_eq!(interval(Duration::from_secs(3)), Duration::from_millis(250));
        assert_eq!(interval(Duration::from_secs(30)), Duration::from_secs(1));
    }
}
