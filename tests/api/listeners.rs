//! `INTERNAL_BIND_ADDR`: the app's API and `/metrics` on their own listener,
//! and the public one serving only what Kakao and probes call.

use reqwest::Method;

use crate::helpers::{API_TOKEN, APP_ID, TestApp};

async fn status(app: &TestApp, url: String) -> u16 {
    app.client
        .get(url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn with_an_internal_listener_the_public_one_serves_only_kakao_and_probes() {
    let app = TestApp::kakao()
        .var("INTERNAL_BIND_ADDR", "127.0.0.1:0")
        .spawn()
        .await;
    let internal = app.internal_addr.expect("an internal listener");
    assert_ne!(internal, app.addr);

    // Kakao's webhook on the public listener is stored...
    let unlink = format!("/kakao/unlink?app_id={APP_ID}&user_id=42&referrer_type=UNLINK_FROM_APPS");
    let response = app
        .kakao_request(Method::GET, &unlink)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // ...and read through the internal one.
    let events = app.events().await;
    assert_eq!(events[0]["type"], "unlink");

    // The public listener knows no API and no metrics, even with the token.
    for path in [
        "/api/events",
        "/api/users/42",
        "/metrics",
        "/console",
        "/console/login",
    ] {
        assert_eq!(status(&app, app.public_url(path)).await, 404, "{path}");
    }
    for path in ["/health", "/ready"] {
        assert_eq!(status(&app, app.public_url(path)).await, 200, "{path}");
    }
    // The internal listener serves no webhook.
    let skill = format!("http://{internal}/kakao/skill");
    assert_eq!(status(&app, skill).await, 404);
    assert_eq!(
        status(&app, format!("http://{internal}/metrics")).await,
        200
    );
    // The console is beside the API.
    assert_eq!(
        status(&app, format!("http://{internal}/console/login")).await,
        200
    );
}

#[tokio::test]
async fn without_an_internal_listener_everything_stays_on_bind_addr() {
    let app = TestApp::kakao().spawn().await;
    assert!(app.internal_addr.is_none());
    for path in ["/api/events", "/metrics", "/health"] {
        assert_eq!(status(&app, app.public_url(path)).await, 200, "{path}");
    }
}

async fn warned_settings(app: &TestApp) -> Vec<String> {
    let ready: serde_json::Value = app.get("/ready").await.json().await.unwrap();
    ready["warnings"]
        .as_array()
        .expect("a warnings list")
        .iter()
        .map(|warning| warning["setting"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn ready_warns_of_endpoints_open_to_anyone_until_their_secret_is_set() {
    let open = TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", "bot-token")
        .spawn()
        .await;
    assert_eq!(
        warned_settings(&open).await,
        ["SKILL_SECRET", "KAKAO_BOT_WEBHOOK_SECRET"]
    );
    let guarded = TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", "bot-token")
        .var("SKILL_SECRET", "skill-secret")
        .var("KAKAO_BOT_WEBHOOK_SECRET", "bot-secret")
        .spawn()
        .await;
    assert!(warned_settings(&guarded).await.is_empty());
}
