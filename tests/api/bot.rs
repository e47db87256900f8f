//! The KakaoTalk Bot API webhook over HTTP: stored before its empty 204,
//! deduplicated, ids above 2^53 exact, the custom header checked.

use serde_json::{Value, json};

use crate::helpers::{API_TOKEN, TestApp};

const SECRET: &str = "test-bot-secret";
/// Above 2^53: a double would turn it into 869509512613945300.
const MESSAGE_ID: &str = "869509512613945331";

fn message(id: &str) -> String {
    format!(
        r#"{{"op":0,"t":"MESSAGE_CREATE","d":{{"id":{id},"content":"안녕","isChannelChatroom":false,"botGroupKey":"g1","botUserKey":"u1","timestamp":"2026-07-27T09:20:22.512392989Z","callbackToken":"cb-1","type":"MESSAGE_CREATE"}}}}"#
    )
}

async fn bot_app() -> TestApp {
    TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", "test-bot-token")
        .var("KAKAO_BOT_WEBHOOK_SECRET", SECRET)
        .spawn()
        .await
}

async fn post(app: &TestApp, path: &str, secret: Option<&str>, body: String) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header("x-bot-secret", secret);
    }
    request.send().await.unwrap()
}

async fn bot_events(app: &TestApp) -> Vec<Value> {
    app.events()
        .await
        .into_iter()
        .filter(|e| e["source"] == "bot")
        .collect()
}

#[tokio::test]
async fn a_message_is_stored_then_answered_204_with_its_id_exact() {
    let app = bot_app().await;
    let response = post(&app, "/kakao/bot", Some(SECRET), message(MESSAGE_ID)).await;
    assert_eq!(response.status(), 204);
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "the body must be empty"
    );

    let events = bot_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "MESSAGE_CREATE");
    assert_eq!(events[0]["payload"]["content"], "안녕");
    // The API's raw text carries every digit.
    let raw = app
        .client
        .get(app.url("/api/events"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(&format!(r#""id":{MESSAGE_ID}"#)), "{raw}");
}

#[tokio::test]
async fn a_repeated_delivery_is_acknowledged_and_stored_once() {
    let app = bot_app().await;
    for path in ["/kakao/bot", "/kakao/bot/"] {
        let response = post(&app, path, Some(SECRET), message(MESSAGE_ID)).await;
        assert_eq!(response.status(), 204, "{path}");
    }
    let leave = json!({"op":0,"t":"LEAVE","d":{"botGroupKey":"g1","timestamp":"2026-07-27T09:21:00Z","type":"LEAVE"}});
    for _ in 0..2 {
        let response = post(&app, "/kakao/bot", Some(SECRET), leave.to_string()).await;
        assert_eq!(response.status(), 204);
    }
    let types: Vec<Value> = bot_events(&app)
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(types, [json!("MESSAGE_CREATE"), json!("LEAVE")]);
}

#[tokio::test]
async fn without_the_custom_header_nothing_is_stored() {
    let app = bot_app().await;
    for secret in [None, Some("wrong"), Some("test-bot-secreT")] {
        let response = post(&app, "/kakao/bot", secret, message(MESSAGE_ID)).await;
        assert_eq!(response.status(), 401, "{secret:?}");
    }
    assert!(bot_events(&app).await.is_empty());
}

#[tokio::test]
async fn a_malformed_frame_gets_a_400_and_changes_nothing() {
    let app = bot_app().await;
    for body in [
        "not json".to_owned(),
        r#"{"op":0,"d":{}}"#.to_owned(),
        r#"{"op":0,"t":"MESSAGE_CREATE"}"#.to_owned(),
    ] {
        let response = post(&app, "/kakao/bot", Some(SECRET), body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{body}");
    }
    assert!(bot_events(&app).await.is_empty());
}

#[tokio::test]
async fn unknown_event_types_are_acknowledged_and_kept() {
    let app = bot_app().await;
    let frame = json!({"op":0,"s":7,"t":"SOMETHING_NEW","d":{"botGroupKey":"g2","timestamp":"t1"}});
    let response = post(&app, "/kakao/bot", Some(SECRET), frame.to_string()).await;
    assert_eq!(response.status(), 204);
    let events = bot_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "SOMETHING_NEW");
}

#[tokio::test]
async fn without_a_bot_token_the_webhook_answers_503_naming_it() {
    let app = TestApp::kakao().spawn().await;
    let response = post(&app, "/kakao/bot", None, message(MESSAGE_ID)).await;
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("KAKAO_BOT_TOKEN"),
        "{error}"
    );
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["families"]["bot"], "unconfigured");
    let configured = bot_app().await;
    let ready: Value = configured.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["families"]["bot"], "ready");
}

#[tokio::test]
async fn an_event_time_far_ahead_is_clamped_to_a_few_minutes() {
    let app = bot_app().await;
    let before = time::OffsetDateTime::now_utc();
    let forged = json!({"op":0,"t":"LEAVE","d":{"botGroupKey":"g9","timestamp":"9999-01-01T00:00:00Z","type":"LEAVE"}});
    let response = post(&app, "/kakao/bot", Some(SECRET), forged.to_string()).await;
    assert_eq!(response.status(), 204);
    let events = bot_events(&app).await;
    let stored = events[0]["event_time"].as_str().unwrap();
    let stored =
        time::OffsetDateTime::parse(stored, &time::format_description::well_known::Rfc3339)
            .unwrap();
    // A LEAVE dated 9999 would keep the room left whatever came after it;
    // clamped, a real ENTRANCE a few minutes later wins.
    assert!(stored > before, "{stored}");
    assert!(
        stored <= time::OffsetDateTime::now_utc() + time::Duration::minutes(5),
        "{stored}"
    );
}
