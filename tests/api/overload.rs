//! Past `MAX_REQUESTS_IN_FLIGHT`, a request is answered 503 at once instead
//! of taking one more request's memory; the ones in flight finish.

use std::{sync::Arc, time::Duration};

use kakao_webhooks::skill::{SkillRequest, SkillResponse};
use tokio::sync::Notify;

use crate::helpers::{TestApp, skill_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_requests_in_flight_the_answer_is_503_at_once() {
    let release = Arc::new(Notify::new());
    let held = Arc::clone(&release);
    let app = TestApp::builder()
        .var("MAX_REQUESTS_IN_FLIGHT", 1)
        .var("SKILL_SYNC_BUDGET_MS", 4000)
        .handler(move |_: SkillRequest| {
            let held = Arc::clone(&held);
            async move {
                held.notified().await;
                Ok(SkillResponse::text("done"))
            }
        })
        .spawn()
        .await;
    let first = {
        let client = app.client.clone();
        let url = app.url("/kakao/skill");
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(skill_request("first", None))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // Once the first is in flight, every other request is refused.
    let started = std::time::Instant::now();
    let refused = loop {
        let response = app.get("/health").await;
        if response.status() == 503 {
            break response.text().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refused.contains("\"error\":\"overloaded\""), "{refused}");
    release.notify_one();
    assert_eq!(first.await.unwrap(), 200, "the request in flight finishes");
    assert_eq!(app.get("/health").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("kakao_http_overloaded_total"), "{metrics}");
}
