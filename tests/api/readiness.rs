//! `/ready` tells the truth: it fails when webhooks would be refused
//! although the database answers `SELECT 1`: the event writer has stopped,
//! or the database takes no writes.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{ScratchDatabase, TestApp};

async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/ready").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_when_the_event_writer_has_stopped() {
    let app = TestApp::kakao().spawn().await;
    let (status, body) = ready(&app).await;
    assert_eq!(
        (status, body["writer"].as_str()),
        (200, Some("running")),
        "{body}"
    );
    app.storage.stop_writer().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["writer"], "stopped");
    assert_eq!(body["families"]["unlink"], "failing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_when_the_database_is_read_only() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let app = TestApp::kakao().database(&database.url).spawn().await;
    assert_eq!(ready(&app).await.0, 200);
    database
        .set_default("default_transaction_read_only", "on")
        .await;
    let started = std::time::Instant::now();
    let body = loop {
        let (status, body) = ready(&app).await;
        if status == 503 && body["database"] == "read_only" {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["families"]["unlink"], "failing", "{body}");
    database
        .set_default("default_transaction_read_only", "off")
        .await;
    let started = std::time::Instant::now();
    while ready(&app).await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await.unwrap();
    database.drop().await;
}
