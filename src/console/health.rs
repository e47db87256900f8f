//! The console's health page: charts of every instance's deliveries, answer
//! times and outboxes over the last hour or day (from the database), and
//! this instance's recent deliveries, Kakao's keys and the spool.

use askama::Template;
use axum::{
    Extension,
    extract::{Query, State},
    response::Response,
};
use serde::Deserialize;

use super::{
    Labels, Page,
    charts::Chart,
    health_charts::{FamilyCharts, Range, charts},
    pages::{FAMILIES, render},
};
use crate::{delivery::log::Delivery, state::AppState, storage::DatabaseHealth};

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
    /// `ok` or `bad`, and what it means.
    database_class: &'static str,
    database: &'static str,
    day: bool,
    charts: Vec<FamilyCharts>,
    outbox_chart: Option<Chart>,
}

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    range: Option<String>,
}

/// `n` deliveries by outcome: `12 accepted, 1 refused`.
fn counts(t: &Labels, deliveries: &[&Delivery]) -> String {
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
        .map(|(o, n)| format!("{n} {}", t.word(o)))
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

pub async fn health(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let now = crate::clock::now_millis();
    let range = Range::new(query.range.as_deref() == Some("day"), now);
    let (family_charts, outbox_chart) = charts(&state, &page, &range).await;
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
    // From this instance's own checks: a database that takes no writes
    // cannot hold the alert row the banner would list.
    let health = state.storage.health().await;
    let database = match health {
        DatabaseHealth::Ok => page.t.database_ok,
        DatabaseHealth::Failing => page.t.database_failing,
        DatabaseHealth::ReadOnly => page.t.database_read_only,
        DatabaseHealth::Full => page.t.database_full,
    };
    let database_class = if health == DatabaseHealth::Ok {
        "ok"
    } else {
        warnings.push(format!("{}: {database}", page.t.database));
        "bad"
    };
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
                hour: counts(page.t, &hour),
                day: counts(page.t, &day),
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
        database_class,
        database,
        day: range.day,
        charts: family_charts,
        outbox_chart,
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
        assert_eq!(
            counts(&super::super::labels::EN, &[&a, &b, &c]),
            "2 accepted, 1 refused"
        );
        assert_eq!(
            counts(&super::super::labels::KO, &[&a, &c]),
            "1 저장함, 1 거부함"
        );
        assert_eq!(counts(&super::super::labels::EN, &[]), "0");
        let times: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&times, 0.5), 51);
        assert_eq!(percentile(&times, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
