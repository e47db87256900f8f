//! Messages the app sends through `POST /api/bot/messages`: checked against
//! Kakao's limits before anything is queued, sent durably with retries, and
//! followed through `GET /api/bot/messages/{id}`.

use std::time::Duration;

use kakao_webhooks::dev::bot_platform::Forced;
use serde_json::{Value, json};

use crate::{
    bot_replies::{bot_app, post_event},
    helpers::{API_TOKEN, KakaoBotApi, TestApp},
};

const SEND: &str = "/v1/bot/send_message";

async fn send(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/bot/messages"))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn text(text: &str) -> Value {
    json!({"version":"2.0","template":{"outputs":[{"simpleText":{"text": text}}]}})
}

/// Polls the message until it is no longer pending.
async fn settled(app: &TestApp, id: &Value) -> Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (status, message) = app.api_get(&format!("/api/bot/messages/{id}")).await;
            assert_eq!(status, 200, "{message}");
            if message["status"] != "pending" {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the message settles")
}

#[tokio::test]
async fn a_message_to_a_room_is_sent_and_reported() {
    let kakao = KakaoBotApi::start().await;
    kakao.platform.script([Forced::Status(502)]);
    let app = bot_app(&kakao).spawn().await;
    let (status, queued) = send(
        &app,
        json!({"bot_group_key": "room-1", "skill_response": text("공지")}),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let message = settled(&app, &queued["message_id"]).await;
    assert_eq!(message["status"], "sent", "{message}");
    assert_eq!(message["attempts"], 2, "a 502, then the send: {message}");
    assert_eq!(
        message["result"],
        json!({"totalCount":1,"sendCount":1,"errorCount":0})
    );
    let sent = kakao.platform.delivered(SEND);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["botGroupKey"], "room-1");
    assert_eq!(sent[0].body["skillResponse"], text("공지"));
    assert!(sent[0].body.get("botUserKey").is_none());
}

#[tokio::test]
async fn a_message_to_a_channel_chat_user_is_keyed_by_bot_user_key() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    let (status, queued) = send(
        &app,
        json!({"bot_user_key": "user-1", "skill_response": text("안녕")}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(settled(&app, &queued["message_id"]).await["status"], "sent");
    assert_eq!(
        kakao.platform.delivered(SEND)[0].body["botUserKey"],
        "user-1"
    );
}

#[tokio::test]
async fn a_message_kakao_refuses_fails_with_its_code() {
    let kakao = KakaoBotApi::start().await;
    kakao.platform.script([Forced::KakaoError(-880)]);
    let app = bot_app(&kakao).spawn().await;
    let (_, queued) = send(
        &app,
        json!({"bot_group_key": "room-x", "skill_response": text("x")}),
    )
    .await;
    let message = settled(&app, &queued["message_id"]).await;
    assert_eq!(message["status"], "failed");
    assert_eq!(message["attempts"], 1, "not retried");
    assert_eq!(message["last_error"]["code"], -880);
    assert_eq!(message["result"], Value::Null);
}

#[tokio::test]
async fn a_message_that_breaks_kakaos_limits_gets_422_listing_each_violation() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    let long = "가".repeat(1001);
    let carousel = json!({"carousel":{"type":"textCard","items":[{"title":"a"}]}});
    let body = json!({"bot_group_key": "room-1", "skill_response": {
        "version": "2.0",
        "template": {"outputs": [{"simpleText": {"text": long}}, carousel]}}});
    let (status, error) = send(&app, body).await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"], "invalid_skill_response");
    let paths: Vec<&str> = error["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"skill_response.template.outputs[0].simpleText.text"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"skill_response.template.outputs[1].carousel"),
        "{paths:?}"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(kakao.platform.calls().is_empty(), "nothing sent");
}

#[tokio::test]
async fn bad_requests_are_refused_clearly() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    for body in [
        json!({"skill_response": text("x")}),
        json!({"bot_group_key": "a", "bot_user_key": "b", "skill_response": text("x")}),
        json!({"bot_group_key": "a", "skill_response": {"template": 1}}),
        json!({"bot_group_key": "", "skill_response": text("x")}),
    ] {
        let (status, error) = send(&app, body.clone()).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"], "invalid_request");
    }
    let (status, _) = app.api_get("/api/bot/messages/999").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_message_to_a_room_the_bot_left_is_refused() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    let leave =
        json!({"op":0,"t":"LEAVE","d":{"botGroupKey":"gone","timestamp":"2026-07-27T10:00:00Z"}});
    post_event(&app, leave.to_string()).await;
    let (status, error) = send(
        &app,
        json!({"bot_group_key": "gone", "skill_response": text("x")}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(error["error"], "bot_not_in_room");
    // A room never seen is tried.
    let (status, _) = send(
        &app,
        json!({"bot_group_key": "unknown", "skill_response": text("x")}),
    )
    .await;
    assert_eq!(status, 202);
    kakao
        .platform
        .wait_for_delivered(SEND, 1, Duration::from_secs(10))
        .await
        .expect("sent");
    assert_eq!(
        kakao.platform.delivered(SEND)[0].body["botGroupKey"],
        "unknown"
    );
}

#[tokio::test]
async fn without_a_bot_token_messages_answer_503_naming_it() {
    let app = TestApp::kakao().spawn().await;
    let (status, error) = send(
        &app,
        json!({"bot_group_key": "a", "skill_response": text("x")}),
    )
    .await;
    assert_eq!(status, 503);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("KAKAO_BOT_TOKEN")
    );
}

#[tokio::test]
async fn the_command_menu_is_replaced_at_start() {
    let kakao = KakaoBotApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.toml");
    std::fs::write(
        &config,
        "kakao_bot_commands = [{ button_name = \"메뉴\", description = \"무엇을 할 수 있는지\" }, { button_name = \"도움말\" }]\n",
    )
    .unwrap();
    let app = bot_app(&kakao).config_file(&config).spawn().await;
    let calls = kakao
        .platform
        .wait_for_delivered("/v1/bot/commands/update", 1, Duration::from_secs(10))
        .await
        .expect("the menu is sent");
    assert_eq!(
        calls[0].body,
        json!({"utterances": [
            {"buttonName": "메뉴", "description": "무엇을 할 수 있는지"},
            {"buttonName": "도움말", "description": null}]})
    );
    drop(app);
}
