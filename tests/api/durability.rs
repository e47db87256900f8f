//! Nothing acknowledged is lost: across a restart, and while the database is away.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{APP_ID, ScratchDatabase, TestApp};

async fn channel_notice(app: &TestApp, resource_id: &str) -> u16 {
    let body = json!({
        "event": "added", "id": "77", "id_type": "app_user_id",
        "channel_public_id": "_FLX", "updated_at": "2024-01-01T00:00:00Z",
    });
    app.kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", resource_id)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_restart_keeps_users_sessions_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/kept.db", dir.path().display());
    let app = TestApp::kakao()
        .var("DATABASE_URL", &database)
        .spawn()
        .await;
    let session = app.login("31").await;
    let unlink = format!("/kakao/unlink?app_id={APP_ID}&user_id=31&referrer_type=UNLINK_FROM_APPS");
    assert_eq!(
        app.kakao_request(Method::GET, &unlink)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(channel_notice(&app, "kept-1").await, 200);
    let before = app.events().await;
    app.stop().await.unwrap();

    let app = TestApp::kakao()
        .var("DATABASE_URL", &database)
        .spawn()
        .await;
    assert_eq!(app.events().await, before);
    let (_, user) = app.api_get("/api/users/31").await;
    assert_eq!(user["status"], "unlinked");
    let (_, session) = app.api_get(&format!("/api/sessions/{session}")).await;
    assert_eq!(session["active"], false);
    // And the repeat after the restart is still recognised.
    assert_eq!(channel_notice(&app, "kept-1").await, 200);
    assert_eq!(app.events().await.len(), before.len());
}

#[tokio::test]
async fn while_postgres_is_away_webhooks_get_503_and_service_recovers_alone() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let app = TestApp::kakao()
        .var("DATABASE_URL", &database.url)
        .spawn()
        .await;
    assert_eq!(channel_notice(&app, "before").await, 200);

    database.take_away().await;
    for id in ["away-1", "away-2"] {
        assert_eq!(
            channel_notice(&app, id).await,
            503,
            "{id} must not be acknowledged"
        );
    }
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["families"]["channel"], "failing");

    database.bring_back().await;
    let mut recovered = false;
    for _ in 0..20 {
        if channel_notice(&app, "after").await == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the service recovers without a restart");
    let stored: Vec<Value> = app
        .events()
        .await
        .iter()
        .map(|e| e["payload"]["id"].clone())
        .collect();
    let keys: Vec<String> = app
        .events()
        .await
        .iter()
        .map(|e| e["event_id"].to_string())
        .collect();
    assert_eq!(
        stored.len(),
        2,
        "only what was acknowledged is stored: {keys:?}"
    );
    app.stop().await.unwrap();
    database.drop().await;
}
