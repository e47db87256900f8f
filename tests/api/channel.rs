//! `POST /kakao/channel`: Kakao Talk Channel add/block.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

fn notice(event: &str, updated_at: &str) -> Value {
    json!({
        "event": event,
        "id": "1111",
        "id_type": "app_user_id",
        "channel_public_id": "_FLX",
        "channel_uuid": "@ad",
        "plus_friend_public_id": "_FLX",
        "plus_friend_uuid": "@ad",
        "updated_at": updated_at,
    })
}

async fn send(app: &TestApp, resource_id: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.kakao_request(Method::POST, "/kakao/channel").json(body);
    if let Some(id) = resource_id {
        request = request.header("x-kakao-resource-id", id);
    }
    request.send().await.unwrap()
}

async fn relation(app: &TestApp) -> Value {
    app.login("1111").await;
    let (_, user) = app.api_get("/api/users/1111").await;
    user["channels"][0].clone()
}

#[tokio::test]
async fn an_added_notice_records_the_relation() {
    let app = TestApp::kakao().spawn().await;
    let response = send(
        &app,
        Some("Rvy1c2dkzBAZ5hGD3rqYbxvr"),
        &notice("added", "2020-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let relation = relation(&app).await;
    assert_eq!(relation["relation"], "added");
    assert_eq!(relation["channel_public_id"], "_FLX");
    assert_eq!(relation["changed_at"], "2020-01-01T00:00:00Z");
    let events = app.events().await;
    assert_eq!(events[0]["type"], "channel.added");
    assert_eq!(events[0]["payload"]["channel_uuid"], "@ad");
}

#[tokio::test]
async fn the_deprecated_field_names_alone_are_enough() {
    let app = TestApp::kakao().spawn().await;
    let body = json!({
        "event": "blocked", "id": "1111", "id_type": "open_id",
        "plus_friend_public_id": "_OLD", "plus_friend_uuid": "@old",
        "updated_at": "2021-05-24T09:00:00+09:00",
    });
    assert_eq!(send(&app, Some("r1"), &body).await.status(), 200);
    let relation = relation(&app).await;
    assert_eq!(relation["channel_public_id"], "_OLD");
    assert_eq!(relation["relation"], "blocked");
}

#[tokio::test]
async fn an_older_notice_never_overwrites_a_newer_one() {
    let app = TestApp::kakao().spawn().await;
    send(
        &app,
        Some("r-new"),
        &notice("blocked", "2024-03-01T00:00:00Z"),
    )
    .await;
    let late = send(
        &app,
        Some("r-old"),
        &notice("added", "2024-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(late.status(), 200, "still stored and acknowledged");
    assert_eq!(relation(&app).await["relation"], "blocked");
    assert_eq!(app.events().await.len(), 2);
}

#[tokio::test]
async fn a_repeated_resource_id_is_acknowledged_once() {
    let app = TestApp::kakao().spawn().await;
    for _ in 0..3 {
        assert_eq!(
            send(&app, Some("same"), &notice("added", "2024-01-01T00:00:00Z"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn bad_notices_get_400_or_401_and_store_nothing() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(
        send(&app, None, &notice("added", "2024-01-01T00:00:00Z"))
            .await
            .status(),
        400
    );
    assert_eq!(
        send(&app, Some("r"), &notice("muted", "2024-01-01T00:00:00Z"))
            .await
            .status(),
        400
    );
    assert_eq!(
        send(&app, Some("r"), &notice("added", "yesterday"))
            .await
            .status(),
        400
    );
    let mut no_channel = notice("added", "2024-01-01T00:00:00Z");
    no_channel
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.contains("public_id"));
    assert_eq!(send(&app, Some("r"), &no_channel).await.status(), 400);
    let not_json = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", "r")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let unauthenticated = app
        .client
        .post(app.url("/kakao/channel"))
        .header("x-kakao-resource-id", "r")
        .json(&notice("added", "2024-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(app.events().await.is_empty());
}
