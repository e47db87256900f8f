//! The loops that run beside the server until shutdown: the families'
//! workers, the outboxes' notifiers, alerts, the spool's replay, retention
//! and the metrics' upkeep.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    bot::kakao_api::{BotApi, CallOutcome},
    state::AppState,
    storage::{jobs::PROFILE_REFRESH, notifications::Destination},
    telemetry::Chain,
    workers::profile_refresh::ProfileRefresher,
};

/// The loops that run beside the server until `shutdown`, all on the
/// state's one task tracker.
pub fn start(state: &AppState, shutdown: &CancellationToken) {
    if let Some(events) = &state.security_events {
        events.start(&state.tasks, shutdown.clone());
    }
    let settings = &state.settings;
    if let (true, Some(admin_key)) = (settings.kakao_profile_refresh, &settings.kakao_admin_key) {
        let refresher = ProfileRefresher::new(
            state.storage.clone(),
            state.http.clone(),
            settings.kakao_api_base_url.clone(),
            admin_key.clone(),
        );
        state.tasks.spawn(refresher.run(shutdown.clone()));
    }
    if let Some(outbox) = &state.bot {
        state
            .tasks
            .spawn(outbox.clone().run(state.tasks.clone(), shutdown.clone()));
        if !settings.kakao_bot_commands.is_empty() {
            let api = outbox.api().clone();
            let commands = settings.kakao_bot_commands.clone();
            state.tasks.spawn(
                shutdown
                    .clone()
                    .run_until_cancelled_owned(update_commands(api, commands)),
            );
        }
    }
    if let (Some(url), Some(secret)) = (&settings.app_notify_url, &settings.app_signing_secret) {
        let notifier = crate::outbound::notifier::Notifier::new(
            state.storage.clone(),
            state.http.clone(),
            (Destination::App, url.clone()),
            Some(secret.clone()),
            settings.app_notify_timeout_ms,
            settings.app_notify_retry_schedule_ms.clone(),
        )
        .pacing(pacing(settings));
        state
            .tasks
            .spawn(Arc::new(notifier).run(state.tasks.clone(), shutdown.clone()));
    }
    if let Some(publisher) = &state.stream {
        let notifier = crate::outbound::notifier::Notifier::to_stream(
            state.storage.clone(),
            state.http.clone(),
            Arc::clone(publisher),
            settings.app_notify_timeout_ms,
            settings.app_notify_retry_schedule_ms.clone(),
        )
        .pacing(pacing(settings));
        state
            .tasks
            .spawn(Arc::new(notifier).run(state.tasks.clone(), shutdown.clone()));
    }
    if let Some(url) = &settings.alert_webhook_url {
        let notifier = crate::outbound::notifier::Notifier::new(
            state.storage.clone(),
            state.http.clone(),
            (Destination::Alert, url.clone()),
            settings.app_signing_secret.clone(),
            settings.app_notify_timeout_ms,
            settings.app_notify_retry_schedule_ms.clone(),
        );
        state
            .tasks
            .spawn(Arc::new(notifier).run(state.tasks.clone(), shutdown.clone()));
    }
    state
        .tasks
        .spawn(crate::workers::alerts::run(state.clone(), shutdown.clone()));
    state
        .tasks
        .spawn(crate::workers::charts::run(state.clone(), shutdown.clone()));
    state.tasks.spawn(crate::admin_key::replay::run(
        state.spool.clone(),
        state.storage.clone(),
        shutdown.clone(),
    ));
    state.tasks.spawn(crate::workers::retention::run(
        state.storage.clone(),
        crate::workers::retention::Retention {
            payloads: settings.event_retention(),
            rows: settings.event_row_retention(),
        },
        shutdown.clone(),
    ));
    state.tasks.spawn(crate::workers::planner_statistics::run(
        state.storage.clone(),
        shutdown.clone(),
    ));
    state
        .tasks
        .spawn(metrics_upkeep(state.clone(), shutdown.clone()));
}

/// How the app's destination and the broker's are paced: both pause after
/// `APP_NOTIFY_PAUSE_AFTER_SECONDS` of failures and send at most
/// `APP_NOTIFY_MAX_PER_SECOND` per instance.
fn pacing(settings: &crate::config::Settings) -> crate::outbound::notifier::Pacing {
    crate::outbound::notifier::Pacing::new(
        Duration::from_secs(settings.app_notify_pause_after_seconds),
        settings.app_notify_max_per_second,
    )
}

/// Replaces the bot's command menu with `KAKAO_BOT_COMMANDS`, retrying a
/// transient failure a few times.
async fn update_commands(api: BotApi, commands: Vec<crate::config::BotCommand>) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=5 {
        match api.update_commands(&commands).await {
            CallOutcome::Sent(_) => {
                tracing::info!(commands = commands.len(), "bot command menu replaced");
                return;
            }
            CallOutcome::Refused(error) => {
                tracing::error!(kakao.code = error.code, kakao.msg = %crate::telemetry::loggable(&error.msg), "Kakao refused KAKAO_BOT_COMMANDS");
                return;
            }
            CallOutcome::Transient(error) => {
                tracing::warn!(attempt, kakao.code = error.code, kakao.msg = %crate::telemetry::loggable(&error.msg), "cannot replace the bot command menu yet");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
}

/// Every few seconds: keeps the recorder's histogram buffers from growing,
/// and sets the gauges that are read, not counted.
async fn metrics_upkeep(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
        state.metrics.run_upkeep();
        if let Some(events) = &state.security_events {
            if let Some(age) = events.key_set_age() {
                metrics::gauge!("kakao_jwks_key_set_age_seconds").set(age.as_secs_f64());
            }
            let stale = if events.keys_stale() { 1.0 } else { 0.0 };
            metrics::gauge!("kakao_jwks_key_set_stale").set(stale);
        }
        if state.bot.is_some() {
            match state.storage.pending_bot_outbox().await {
                Ok(pending) => metrics::gauge!("kakao_bot_outbox_pending").set(pending as f64),
                Err(err) => {
                    tracing::debug!(error = %Chain(&err), "metrics: cannot count the bot outbox")
                }
            }
        }
        match state.storage.pending_jobs(PROFILE_REFRESH).await {
            Ok(pending) => {
                metrics::gauge!("kakao_jobs_pending", "kind" => PROFILE_REFRESH).set(pending as f64)
            }
            Err(err) => tracing::debug!(error = %Chain(&err), "metrics: cannot count pending jobs"),
        }
    }
}
