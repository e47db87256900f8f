//! Logging (tracing) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// `LOG_FORMAT`: lines for people, or JSON for a log pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; level from `RUST_LOG` (default `info`).
/// Colours only on a terminal: a log file or collector gets plain text.
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stdout().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_ansi(ansi)).try_init(),
    };
}

/// Latency buckets in seconds: webhook answers live between 1 ms and Kakao's 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use. The `metrics` facade has
/// one global recorder, so every server in a process shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is already installed; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}

/// Every metric's `# HELP` line. A metric recorded anywhere must be named
/// here: the test `every_metric_has_its_help_line` scrapes `/metrics`.
const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "kakao_spooled_total",
        "Admin-key webhooks spooled (storage could not take them in time) and answered 200, by family.",
    ),
    (
        "kakao_spool_replayed_total",
        "Spooled deliveries stored in the database.",
    ),
    ("kakao_spool_entries", "Deliveries waiting in the spool."),
    (
        "kakao_retention_rows_deleted_total",
        "Rows deleted past their retention, by table.",
    ),
    (
        "kakao_http_overloaded_total",
        "Requests answered 503 at once because MAX_REQUESTS_IN_FLIGHT were being answered.",
    ),
    (
        "kakao_skill_overloaded_total",
        "Skill requests answered the fallback at once because SKILL_MAX_IN_FLIGHT handlers were running.",
    ),
    (
        "kakao_auth_failures_total",
        "Failed bearer checks and console sign-ins, by surface (api, console).",
    ),
    (
        "kakao_auth_rate_limited_total",
        "Requests refused 429 because their client address failed too many token checks, by surface.",
    ),
    (
        "http_requests_total",
        "Requests answered, by method, route template and status.",
    ),
    (
        "http_request_duration_seconds",
        "Time to answer a request, by method, route template and status.",
    ),
    (
        "kakao_webhooks_received_total",
        "Deliveries from Kakao by family and outcome (accepted, duplicate, answered, fallback, refused, unavailable, error).",
    ),
    (
        "kakao_webhooks_deadline_missed_total",
        "Deliveries from Kakao answered after Kakao's deadline for the family, by family and outcome.",
    ),
    (
        "kakao_jwks_key_set_stale",
        "1 while Kakao's key set cannot be refreshed and is past its lifetime.",
    ),
    (
        "kakao_alerts_active",
        "Alerts raised and not yet resolved, by name (shared by every instance on one database).",
    ),
    (
        "kakao_app_notification_delay_seconds",
        "From a notification being queued to the app taking it.",
    ),
    (
        "kakao_app_notifications_oldest_pending_seconds",
        "Age of the oldest notification still pending.",
    ),
    (
        "kakao_database_disk_free_bytes",
        "Free bytes on the SQLite database's file system (the disk_space alert; /ready says full under 256 KiB).",
    ),
    (
        "kakao_database_writable",
        "1 while the database takes writes; 0 when it is read-only (a replica, a read-only mount, a file system the kernel made read-only): every webhook gets 503.",
    ),
    (
        "kakao_outbox_rows",
        "Outbox rows pending or failed, by outbox (app, stream, alert, bot) and status; shared by every instance on one database.",
    ),
    (
        "kakao_app_notifications_total",
        "Notification attempts, by outcome (delivered, retried, failed).",
    ),
    (
        "kakao_alert_notifications_total",
        "Alert webhook attempts, by outcome (delivered, retried, failed).",
    ),
    (
        "kakao_bot_api_errors_total",
        "Errors answered by Kakao's Bot API, by code.",
    ),
    (
        "kakao_bot_gateway_connected",
        "1 while this instance holds a connected Bot API gateway.",
    ),
    (
        "kakao_bot_gateway_event_lag_seconds",
        "From a gateway event's own time to it being stored.",
    ),
    (
        "kakao_bot_gateway_last_sequence",
        "The last sequence number stored from the gateway.",
    ),
    (
        "kakao_bot_gateway_reconnects_total",
        "Gateway reconnections, by reason.",
    ),
    (
        "kakao_bot_outbox_pending",
        "Bot replies and messages waiting to be sent.",
    ),
    ("kakao_bot_replies_total", "Bot replies ended, by outcome."),
    (
        "kakao_bot_messages_total",
        "Bot messages the app sent, ended by outcome.",
    ),
    (
        "kakao_bot_send_latency_seconds",
        "From an outbox row being queued to Kakao taking it, by kind.",
    ),
    (
        "kakao_event_apply_lag_seconds",
        "From a security event's own time to its effect.",
    ),
    (
        "kakao_event_payloads_expired_total",
        "Stored payloads erased past EVENT_RETENTION_DAYS.",
    ),
    (
        "kakao_http_connections_cut_total",
        "Connections cut, by reason (slow headers, too many).",
    ),
    (
        "kakao_http_connections_open",
        "Connections open, by listener.",
    ),
    ("kakao_jobs_pending", "Background jobs waiting, by kind."),
    (
        "kakao_jwks_fetches_total",
        "Fetches of Kakao's key set, by trigger and outcome.",
    ),
    (
        "kakao_jwks_key_set_age_seconds",
        "Age of the key set in use.",
    ),
    (
        "kakao_profile_refresh_paused",
        "1 while profile refresh waits out Kakao's quota.",
    ),
    (
        "kakao_profile_refreshes_total",
        "Profile refresh jobs, by outcome.",
    ),
    (
        "kakao_set_events_unapplied_total",
        "Correctly signed SETs stored but not applied, by reason.",
    ),
    (
        "kakao_set_our_fault_total",
        "SETs answered 503 because our own state may be wrong (clock_behind, unknown_kid).",
    ),
    (
        "kakao_set_rejections_total",
        "Security Event Tokens refused, by err.",
    ),
    (
        "kakao_skill_callbacks_total",
        "Skill callback POSTs, by outcome.",
    ),
    (
        "kakao_skill_fallbacks_total",
        "Skill answers that were the fallback text, by mode (sync, callback).",
    ),
    (
        "kakao_skill_handler_duration_seconds",
        "Skill handler time, by mode (sync, callback).",
    ),
    (
        "kakao_skill_handler_errors_total",
        "Skill handlers that failed or panicked.",
    ),
    (
        "kakao_skill_invalid_responses_total",
        "Skill replies that broke Kakao's limits.",
    ),
    (
        "kakao_skill_timeouts_total",
        "Skill handlers past the sync budget without a callback URL.",
    ),
    (
        "kakao_storage_batch_size",
        "Events per group commit of the event writer.",
    ),
    (
        "kakao_storage_batch_seconds",
        "Time of one group commit of the event writer, from BEGIN to COMMIT.",
    ),
    (
        "kakao_storage_batches_rewritten_total",
        "Group commits that failed whole and were written again an event at a time.",
    ),
    (
        "kakao_storage_errors_total",
        "Stores that failed and were answered 503, by family.",
    ),
    (
        "kakao_stream_notifications_total",
        "Notifications published to EVENT_STREAM_URL, by outcome.",
    ),
    (
        "kakao_app_notifications_paused",
        "1 while APP_NOTIFY_URL is paused (it failed for APP_NOTIFY_PAUSE_AFTER_SECONDS, or answered 410).",
    ),
    (
        "kakao_app_notification_pauses_total",
        "Times this instance paused APP_NOTIFY_URL.",
    ),
    (
        "kakao_source_ips_refresh_failures_total",
        "Failed refreshes of Kakao's list of addresses (KAKAO_SOURCE_IPS=auto).",
    ),
    (
        "kakao_tls_certificate_expiry_timestamp_seconds",
        "When the certificate served expires (Unix time).",
    ),
    (
        "kakao_tls_certificates_issued_total",
        "Certificates obtained from the ACME CA by this instance.",
    ),
    (
        "kakao_tls_renewal_failures_total",
        "Attempts to obtain or renew the certificate that failed.",
    ),
    (
        "kakao_tls_reload_failures_total",
        "Reloads of TLS_CERT_FILE / TLS_KEY_FILE that failed (the previous certificate stays).",
    ),
    (
        "kakao_upstream_calls_total",
        "Requests forwarded to the app, by target and outcome.",
    ),
    (
        "kakao_upstream_latency_seconds",
        "Time the app took to answer a forwarded request, by target.",
    ),
];

fn describe_metrics() {
    for (name, help) in DESCRIPTIONS {
        let (name, help) = (*name, *help);
        if name.ends_with("_total") {
            metrics::describe_counter!(name, help);
        } else if name.ends_with("_seconds") || name == "kakao_storage_batch_size" {
            metrics::describe_histogram!(name, help);
        } else {
            metrics::describe_gauge!(name, help);
        }
    }
}

/// Longest piece of an attacker-chosen string written to a log line.
const MAX_LOGGED_CHARS: usize = 96;

/// A string someone outside chose (a token's `alg` or `kid`, a content type,
/// an id), for a log field: control characters and quotes escaped, so one
/// value cannot forge a line, and cut to `MAX_LOGGED_CHARS` with its length.
pub fn loggable(value: &str) -> Loggable<'_> {
    Loggable(value)
}

pub struct Loggable<'a>(&'a str);

impl std::fmt::Display for Loggable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_LOGGED_CHARS) {
            write!(f, "{}", c.escape_debug())?;
        }
        if chars.next().is_some() {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Loggable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// An error and its sources, `outer: inner: innermost`, each printed once.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod chain_tests {
    use super::Chain;

    #[test]
    fn a_chain_names_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot start the SQLite writer thread")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(std::io::Error::other("disk full"));
        assert_eq!(
            Chain(&outer).to_string(),
            "cannot start the SQLite writer thread: disk full"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn a_loggable_string_is_escaped_and_cut() {
        assert_eq!(loggable("RS256").to_string(), "RS256");
        let forged = "x\n2026-12-01T00:00:00Z  INFO forged line\u{1b}[31m\"";
        let shown = loggable(forged).to_string();
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        assert!(shown.starts_with(r"x\n2026"), "{shown}");
        let long = "k".repeat(1000);
        let shown = loggable(&long).to_string();
        assert_eq!(shown, format!("{}…(1000 bytes)", "k".repeat(96)));
    }
}
