//! `deploy/grafana/kakao-webhooks.json`: valid JSON, a Grafana dashboard,
//! and every metric its panels query is one a running server exports.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{APP_ID, TestApp, free_addr};

/// The metric names in a PromQL expression: identifiers followed by `{`,
/// `[` or `)` that are not functions, keywords or labels.
fn metric_names(expr: &str) -> Vec<String> {
    const NOT_METRICS: [&str; 8] = [
        "sum",
        "by",
        "rate",
        "max",
        "histogram_quantile",
        "le",
        "outbox",
        "status",
    ];
    let mut names = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        let is_name = word.contains('_')
            && !word.starts_with("__")
            && matches!(c, '{' | '[' | ')' | ' ')
            && !NOT_METRICS.contains(&word.as_str());
        if is_name && (word.starts_with("kakao_") || word.starts_with("http_")) {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

fn dashboard_metrics() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/kakao-webhooks.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the dashboard is valid JSON");
    assert_eq!(dashboard["title"], "kakao-webhooks");
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let mut names: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .flat_map(|target| metric_names(target["expr"].as_str().unwrap()))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{route="/kakao/$family"}[5m])))"#
        ),
        ["http_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metric_names("max by (outbox, status) (kakao_outbox_rows)"),
        ["kakao_outbox_rows"]
    );
}

#[tokio::test]
async fn every_metric_the_grafana_dashboard_queries_is_exported() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 5, "{wanted:?}");
    // The app is down: its notifications wait (the outbox and oldest-pending gauges).
    let app = TestApp::kakao()
        .var("APP_NOTIFY_URL", format!("http://{}/hook", free_addr()))
        .var("APP_SIGNING_SECRET", crate::app_receiver::SIGNING_SECRET)
        .var("ALERT_WINDOW_SECONDS", "30")
        .spawn()
        .await;
    let unlink = app
        .kakao_request(
            Method::GET,
            &format!("/kakao/unlink?app_id={APP_ID}&user_id=7301&referrer_type=UNLINK_FROM_APPS"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 200);
    let mut missing = wanted.clone();
    for _ in 0..300 {
        let exported = app.get("/metrics").await.text().await.unwrap();
        missing.retain(|name| !exported.lines().any(|line| line.starts_with(name.as_str())));
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the dashboard queries metrics the server does not export: {missing:?}");
}
