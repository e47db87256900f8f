//! The conditions about what is outside the service: the certificate
//! (`TLS_DOMAINS`), Kakao's list of addresses (`KAKAO_SOURCE_IPS=auto`)
//! and the broker (`EVENT_STREAM_URL`).

use super::judgement;
use crate::{state::AppState, storage::alerts::Judgement, telemetry::Chain};

/// A certificate this close to expiry is an alert, whatever renews it.
const EXPIRY_WARNING_MS: i64 = 14 * 86_400_000;
/// How long publishing to the broker may fail before it is an alert.
const STREAM_GRACE_MS: i64 = 60_000;

/// The certificate: obtaining or renewing it fails (shared by every
/// instance through the database), or the one served expires soon; and
/// Kakao's list of addresses cannot be refreshed.
pub(super) async fn https_judgements(state: &AppState, now: i64) -> Vec<Judgement> {
    let mut judged = Vec::new();
    let settings = &state.settings;
    if !settings.tls_domains.is_empty() {
        let key = crate::tls::acme::domains_key(&settings.tls_domains);
        match state.storage.certificate(&key).await {
            Ok(row) => {
                let failing = row
                    .as_ref()
                    .and_then(|row| row.failed_since.zip(row.last_error.clone()));
                let minutes = failing
                    .as_ref()
                    .map_or(0, |(since, _)| (now - since) / 60_000);
                let why = failing
                    .as_ref()
                    .map_or(String::new(), |(_, why)| why.clone());
                judged.push(judgement(
                    "tls_certificate",
                    None,
                    failing.is_some(),
                    (
                        format!("{key} 인증서를 {minutes}분째 받거나 갱신하지 못함: {why}"),
                        format!("the certificate for {key} cannot be obtained or renewed for {minutes} min: {why}"),
                    ),
                    minutes as f64,
                    0.0,
                ));
            }
            Err(err) => tracing::warn!(error = %Chain(&err), "alerts: cannot read the certificate"),
        }
    }
    if let Some(served) = &state.tls {
        let left = served.not_after().map(|at| at - now);
        let days = left.map_or(0, |ms| ms / 86_400_000);
        judged.push(judgement(
            "tls_expiry",
            None,
            left.is_some_and(|ms| ms < EXPIRY_WARNING_MS),
            (
                format!("제공 중인 인증서가 {days}일 안에 만료됨"),
                format!("the certificate served expires in {days} days"),
            ),
            left.unwrap_or(0) as f64 / 86_400_000.0,
            14.0,
        ));
    }
    if let Some(filter) = &state.source_filter {
        let failing = filter.refresh_error();
        let hours = failing
            .as_ref()
            .map_or(0, |(since, _)| (now - since) / 3_600_000);
        judged.push(judgement(
            "kakao_source_ips",
            None,
            failing.is_some(),
            (
                format!("카카오 IP 목록을 {hours}시간째 갱신하지 못해 마지막 목록을 씀"),
                format!("Kakao's list of addresses cannot be refreshed for {hours} h; the last good one is used"),
            ),
            hours as f64,
            0.0,
        ));
    }
    judged
}

/// Publishing to the broker (`EVENT_STREAM_URL`) has failed for a minute,
/// or the stream's destination is paused.
pub(super) async fn stream_judgement(state: &AppState, now: i64) -> Option<Judgement> {
    let publisher = state.stream.as_ref()?;
    let destination = crate::storage::notifications::Destination::Stream;
    match state.storage.destination_state(destination).await {
        Ok(stream) => {
            let failing = stream.failing_since.map_or(0, |since| now - since);
            let broker = publisher.kind();
            // A minute, or the alerts' whole window when that is shorter.
            let grace = STREAM_GRACE_MS.min(state.settings.alert_window_seconds as i64 * 1000);
            Some(judgement(
                "event_stream",
                None,
                stream.paused() || failing > grace,
                (
                    format!(
                        "EVENT_STREAM_URL({broker})에 {}초째 발행하지 못함: 알림은 아웃박스에서 대기 중",
                        failing / 1000
                    ),
                    format!(
                        "publishing to EVENT_STREAM_URL ({broker}) has failed for {} s: notifications wait in the outbox",
                        failing / 1000
                    ),
                ),
                (failing / 1000) as f64,
                (grace / 1000) as f64,
            ))
        }
        Err(err) => {
            tracing::warn!(error = %Chain(&err), "alerts: cannot read the stream's state");
            None
        }
    }
}

/// The SQLite database's disk running out: raised while writes still
/// succeed, so it reaches the alert webhook before webhooks get 503.
pub(super) fn disk_judgement(state: &AppState) -> Option<Judgement> {
    let space = state.storage.disk_space()?;
    metrics::gauge!("kakao_database_disk_free_bytes").set(space.free as f64);
    let (free_mib, total_mib) = (space.free / (1024 * 1024), space.total / (1024 * 1024));
    Some(judgement(
        "disk_space",
        None,
        space.low(),
        (
            format!(
                "데이터베이스 디스크 여유 공간 {free_mib} MiB / {total_mib} MiB: 가득 차면 모든 웹훅이 503을 받습니다. 공간을 비우거나 늘리세요"
            ),
            format!(
                "the database's disk has {free_mib} MiB of {total_mib} MiB free: when it is full every webhook gets 503; free or add space"
            ),
        ),
        space.free as f64,
        space.total as f64 / 10.0,
    ))
}

/// `kakao_database_writable`, every round: a database that stopped taking
/// writes cannot record an alert about itself, so this gauge (and the
/// `KakaoDatabaseReadOnly` rule on it) is how it reaches someone; `/ready`
/// says `read_only` too.
pub(super) async fn gauge_writable(state: &AppState) {
    match state.storage.writable().await {
        Ok(writable) => {
            metrics::gauge!("kakao_database_writable").set(if writable { 1.0 } else { 0.0 });
        }
        Err(err) => {
            tracing::warn!(error = %Chain(&err), "alerts: cannot tell whether the database takes writes")
        }
    }
}
