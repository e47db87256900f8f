//! Past `MAX_REQUESTS_IN_FLIGHT`, a request is answered 503 at once instead
//! of taking one more request's memory; the ones in flight finish.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use kakao_webhooks::skill::{SkillRequest, SkillResponse};
use tokio::sync::Notify;

use crate::helpers::{TestApp, skill_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_requests_in_flight_the_answer_is_503_at_once() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(AtomicBool::new(false));
    let (held, inside) = (Arc::clone(&release), Arc::clone(&entered));
    let app = TestApp::builder()
        .var("MAX_REQUESTS_IN_FLIGHT", 1)
        // As long as a handler may hold its request: the check below has all of it.
        .var("SKILL_SYNC_BUDGET_MS", 4700)
        .handler(move |_: SkillRequest| {
            let (held, inside) = (Arc::clone(&held), Arc::clone(&inside));
            async move {
                inside.store(true, Ordering::SeqCst);
                held.notified().await;
                Ok(SkillResponse::text("done"))
            }
        })
        .spawn()
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let unavailable_before = unavailable_unlinks(&metrics);
    // The first request takes the one slot and waits in its handler. (It
    // is sent again if it met the slot taken by a probe of this test.)
    let first = {
        let client = app.client.clone();
        let url = app.url("/kakao/skill");
        tokio::spawn(async move {
            loop {
                let status = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(skill_request("first", None))
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status != 503 {
                    return status;
                }
            }
        })
    };
    let started = std::time::Instant::now();
    while !entered.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first request never got in"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // It is in flight until released: every other request is refused.
    let refused = app.get("/health").await;
    assert_eq!(refused.status(), 503);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("\"error\":\"overloaded\""), "{refused}");
    // A delivery from Kakao refused so is counted as its family's failure.
    let unlink = app
        .kakao_request(reqwest::Method::GET, "/kakao/unlink?app_id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 503);
    release.notify_one();
    assert_eq!(first.await.unwrap(), 200, "the request in flight finishes");
    assert_eq!(app.get("/health").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("kakao_http_overloaded_total"), "{metrics}");
    // The recorder is shared by this binary's tests: count the rise.
    assert!(
        unavailable_unlinks(&metrics) > unavailable_before,
        "{metrics}"
    );
}

/// `kakao_webhooks_received_total{family="unlink",outcome="unavailable"}`.
fn unavailable_unlinks(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|line| {
            line.starts_with(
                r#"kakao_webhooks_received_total{family="unlink",outcome="unavailable"}"#,
            )
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}
