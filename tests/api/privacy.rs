//! Personal data through the running service: erased when the user leaves
//! (Kakao's unlink, or the app's `DELETE /api/users/{id}`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{APP_ID, TestApp};

const USER: &str = "5550001";

async fn channel_added(app: &TestApp, user: &str, resource: &str) {
    let response = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", resource)
        .json(&json!({
            "event": "added", "id": user, "id_type": "app_user_id",
            "channel_public_id": "_FLX", "channel_uuid": "@ad",
            "updated_at": "2020-01-01T00:00:00Z",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn delete_user(app: &TestApp, user: &str) -> (u16, Value) {
    app.api_call(Method::DELETE, &format!("/api/users/{user}"))
        .await
}

fn of_user<'a>(events: &'a [Value], user: &'a str) -> impl Iterator<Item = &'a Value> {
    events.iter().filter(move |e| e["user_id"] == user)
}

#[tokio::test]
async fn an_unlink_erases_every_stored_payload_of_that_user_and_no_other() {
    let app = TestApp::kakao().spawn().await;
    channel_added(&app, USER, "r-1").await;
    channel_added(&app, "777", "r-2").await;
    let response = app
        .kakao_request(Method::POST, "/kakao/unlink")
        .form(&[
            ("app_id", APP_ID),
            ("user_id", USER),
            ("referrer_type", "UNLINK_FROM_APPS"),
            ("group_user_token", "gut-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let events = app.events().await;
    assert_eq!(events.len(), 3, "the rows stay");
    for event in of_user(&events, USER) {
        assert_eq!(event["payload"], Value::Null, "{event}");
        assert!(event["payload_erased_at"].is_string(), "{event}");
        assert!(event["type"].is_string() && event["received_at"].is_string());
    }
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("gut-secret")
    );
    let other = of_user(&events, "777").next().unwrap();
    assert_eq!(
        other["payload"]["channel_uuid"], "@ad",
        "another user's event is kept"
    );
    assert_eq!(other["payload_erased_at"], Value::Null);
}

#[tokio::test]
async fn delete_api_users_erases_the_user_revokes_sessions_and_keeps_a_tombstone() {
    let app = TestApp::kakao().spawn().await;
    let session = app.login(USER).await;
    channel_added(&app, USER, "r-1").await;

    let (status, user) = delete_user(&app, USER).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["status"], "unlinked");
    assert_eq!(user["unlink_reason"], "erased_by_app");
    assert_eq!(user["email"], Value::Null);
    let (_, session) = app.api_get(&format!("/api/sessions/{session}")).await;
    assert_eq!(session["active"], false);
    assert_eq!(session["revoked_reason"], "erased: erased_by_app");
    let events = app.events().await;
    let erasure: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user-erased")
        .collect();
    assert_eq!(erasure.len(), 1);
    assert_eq!(erasure[0]["source"], "app");
    assert!(of_user(&events, USER).all(|e| e["payload"].is_null()));

    // Asked again: the same answer, nothing new stored.
    let (again, _) = delete_user(&app, USER).await;
    assert_eq!(again, 200);
    assert_eq!(app.events().await.len(), events.len());
    // Logging in again starts afresh.
    app.login(USER).await;
    let (_, user) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(user["status"], "linked");
}

#[tokio::test]
async fn delete_api_users_refuses_unknown_users_bad_ids_and_wrong_tokens() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(delete_user(&app, "424242").await.0, 404);
    assert_eq!(delete_user(&app, "bad%0Aid").await.0, 400);
    assert!(app.events().await.is_empty(), "nothing stored");
    app.login(USER).await;
    let response = app
        .client
        .delete(app.url(&format!("/api/users/{USER}")))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (_, user) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(user["status"], "linked");
}
