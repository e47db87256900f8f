//! Logging (tracing) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

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
            handle
        })
        .clone()
}

/// Longest piece of an attacker-chosen string written to a log line.
const MAX_LOGGED_CHARS: usize = 96;

/// A string someone outside chose (a token's `alg` or `kid`, a content type,
/// an id), for a log field: control characters and quotes escaped, so one
/// value cannot forge a line, and cut to [`MAX_LOGGED_CHARS`] with its length.
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
