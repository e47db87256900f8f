//! `GET|POST /kakao/unlink`: Kakao Login's unlink callback.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, APP_ID, TestApp};

const USER: &str = "1234567890";

fn query(user: &str, referrer: &str) -> String {
    format!("/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type={referrer}")
}

async fn unlink_get(app: &TestApp, user: &str, referrer: &str) -> u16 {
    let response = app
        .kakao_request(Method::GET, &query(user, referrer))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn an_accepted_unlink_ends_sessions_and_erases_the_user() {
    let app = TestApp::kakao().spawn().await;
    let session = app.login(USER).await;
    let other = app.login("555").await;

    assert_eq!(unlink_get(&app, USER, "UNLINK_FROM_APPS").await, 200);

    let (_, user) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(user["status"], "unlinked");
    assert_eq!(user["email"], Value::Null);
    assert_eq!(user["unlink_reason"], "UNLINK_FROM_APPS");
    assert!(user["unlinked_at"].is_string(), "a tombstone remains");
    let (_, session) = app.api_get(&format!("/api/sessions/{session}")).await;
    assert_eq!(session["active"], false);
    assert_eq!(session["revoked_reason"], "unlinked: UNLINK_FROM_APPS");
    let (_, other) = app.api_get(&format!("/api/sessions/{other}")).await;
    assert_eq!(other["active"], true);

    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["source"], "unlink");
    assert_eq!(events[0]["user_id"], USER);
    // What the notice carried is personal data of a user who left: erased.
    assert_eq!(events[0]["payload"], Value::Null);
    assert!(events[0]["payload_erased_at"].is_string());
}

#[tokio::test]
async fn a_post_form_with_a_group_token_is_accepted_on_either_path() {
    let app = TestApp::kakao().spawn().await;
    for (path, user) in [("/kakao/unlink", "1"), ("/kakao/unlink/", "2")] {
        let response = app
            .kakao_request(Method::POST, path)
            .form(&[
                ("app_id", APP_ID),
                ("user_id", user),
                ("referrer_type", "ACCOUNT_DELETE"),
                ("group_user_token", "gut-1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let events = app.events().await;
    assert_eq!(events.len(), 2);
    assert!(
        !serde_json::to_string(&events).unwrap().contains("gut-1"),
        "the group user token is not kept"
    );
    let (_, user) = app.api_get("/api/users/2").await;
    assert_eq!(
        user["status"], "unlinked",
        "a never-seen user gets a tombstone"
    );
}

#[tokio::test]
async fn a_repeat_is_acknowledged_and_changes_nothing() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(unlink_get(&app, USER, "UNLINK_FROM_APPS").await, 200);
    let (_, first) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(unlink_get(&app, USER, "UNLINK_FROM_APPS").await, 200);
    let (_, second) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(first, second);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn unknown_referrer_types_are_kept() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(unlink_get(&app, USER, "SOME_NEW_REASON").await, 200);
    let (_, user) = app.api_get(&format!("/api/users/{USER}")).await;
    assert_eq!(user["unlink_reason"], "SOME_NEW_REASON");
}

#[tokio::test]
async fn a_wrong_or_missing_admin_key_gets_401_and_stores_nothing() {
    let app = TestApp::kakao().spawn().await;
    let url = app.url(&query(USER, "UNLINK_FROM_APPS"));
    let cases = [
        None,
        Some(format!("KakaoAK {ADMIN_KEY}x")),
        Some(format!("Bearer {ADMIN_KEY}")),
        Some("KakaoAK".to_owned()),
    ];
    for authorization in cases {
        let mut request = app.client.get(&url);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "KakaoAK");
    }
    assert!(app.events().await.is_empty());
    assert_eq!(app.api_get(&format!("/api/users/{USER}")).await.0, 404);
}

#[tokio::test]
async fn the_previous_admin_key_is_accepted_during_a_rotation() {
    let app = TestApp::kakao()
        .var("KAKAO_ADMIN_KEY", "new-key")
        .var("KAKAO_ADMIN_KEY_PREVIOUS", ADMIN_KEY)
        .spawn()
        .await;
    assert_eq!(unlink_get(&app, USER, "UNLINK_FROM_APPS").await, 200);
    let with_new = app
        .client
        .get(app.url(&query("2", "UNLINK_FROM_APPS")))
        .header("authorization", "KakaoAK new-key")
        .send()
        .await
        .unwrap();
    assert_eq!(with_new.status(), 200);
}

#[tokio::test]
async fn bad_requests_get_a_400_json_error_and_store_nothing() {
    let app = TestApp::kakao().spawn().await;
    let cases = [
        (
            format!("/kakao/unlink?app_id={APP_ID}&referrer_type=X"),
            "missing user_id",
        ),
        (
            "/kakao/unlink?user_id=1&referrer_type=X".to_owned(),
            "missing app_id",
        ),
        (
            format!("/kakao/unlink?app_id={APP_ID}&user_id=1"),
            "missing referrer_type",
        ),
        (
            "/kakao/unlink?app_id=999&user_id=1&referrer_type=X".to_owned(),
            "not this service's app",
        ),
        (
            format!("/kakao/unlink?app_id={APP_ID}&user_id=a%20b&referrer_type=X"),
            "printable",
        ),
    ];
    for (path, says) in cases {
        let response = app.kakao_request(Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    assert!(app.events().await.is_empty());
}

#[tokio::test]
async fn an_unconfigured_service_answers_503_naming_the_setting() {
    // Nothing set is valid (half set is refused at start-up: startup.rs).
    let unconfigured = TestApp::builder().spawn().await;
    let response = unconfigured
        .kakao_request(Method::GET, &query(USER, "X"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_configured");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KAKAO_ADMIN_KEY")
    );
    // Unconfigured is not failing: /ready stays 200 and says so.
    let ready = unconfigured.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["families"]["unlink"], "unconfigured");
    assert_eq!(ready["families"]["channel"], "unconfigured");
}
