//! The application's API: sessions, users, the events feed.

use serde_json::{Value, json};

use crate::helpers::{API_TOKEN, TestApp};

#[tokio::test]
async fn without_a_token_setting_the_api_does_not_exist() {
    let app = TestApp::builder().spawn().await;
    let response = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401() {
    let app = TestApp::kakao().spawn().await;
    for token in [None, Some("wrong"), Some(&API_TOKEN[..5])] {
        let mut request = app.client.get(app.url("/api/events"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::kakao().spawn().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .client
            .get(app.url("/api/events"))
            .header("authorization", format!("{scheme} {API_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_session_lives_until_logout() {
    let app = TestApp::kakao().spawn().await;
    let created = app
        .client
        .post(app.url("/api/sessions"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"user_id": "42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["session_id"].as_str().unwrap();
    assert_eq!(created["user_id"], "42");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, session) = app.api_get(&format!("/api/sessions/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(session["active"], true);
    assert_eq!(session["revoked_at"], Value::Null);

    let logout = app
        .client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let (_, session) = app.api_get(&format!("/api/sessions/{id}")).await;
    assert_eq!(session["active"], false);
    assert_eq!(session["revoked_reason"], "logout");

    let (_, user) = app.api_get("/api/users/42").await;
    assert_eq!(user["status"], "linked");
    assert_eq!(user["scopes"], json!([]));
}

#[tokio::test]
async fn unknown_ids_get_404_and_bad_bodies_400() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(app.api_get("/api/sessions/nope").await.0, 404);
    assert_eq!(app.api_get("/api/users/nope").await.0, 404);
    let logout = app
        .client
        .delete(app.url("/api/sessions/nope"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 404);
    for body in ["", "{}", r#"{"user_id": 5}"#, r#"{"user_id": ""}"#] {
        let response = app
            .client
            .post(app.url("/api/sessions"))
            .bearer_auth(API_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
    }
    assert_eq!(app.api_get("/api/events?after=x").await.0, 400);
}

#[tokio::test]
async fn the_events_feed_pages_with_a_cursor() {
    let app = TestApp::kakao().spawn().await;
    for n in 0..5 {
        let response = app
            .kakao_request(
                reqwest::Method::GET,
                &format!("/kakao/share?CHAT_TYPE=MemoChat&HASH_CHAT_ID=h&n={n}"),
            )
            .header("x-kakao-resource-id", format!("r{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let (_, page) = app.api_get("/api/events?limit=2").await;
    let numbers = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"]["n"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(numbers(&page), ["0", "1"]);
    let (_, rest) = app
        .api_get(&format!("/api/events?after={}", page["next_after"]))
        .await;
    assert_eq!(numbers(&rest), ["2", "3", "4"]);
    let (_, empty) = app
        .api_get(&format!("/api/events?after={}", rest["next_after"]))
        .await;
    assert_eq!(empty["events"], json!([]));
    assert_eq!(
        empty["next_after"], rest["next_after"],
        "the cursor stays put"
    );
}
