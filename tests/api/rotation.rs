//! Rotating a secret without a refused request: while `X_PREVIOUS` is set,
//! the old value and the new one both pass, and nothing else does.

use crate::helpers::{API_TOKEN, TestApp, skill_request};

const BOT_EVENT: &str = r#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":1,"content":"안녕","isChannelChatroom":false,"botGroupKey":"g1","botUserKey":"u1","timestamp":"2026-07-27T09:20:22.512392989Z","callbackToken":"cb-1","type":"MESSAGE_CREATE"}}"#;

async fn rotating_app() -> TestApp {
    TestApp::kakao()
        .var("INTERNAL_API_TOKEN", "api-new")
        .var("INTERNAL_API_TOKEN_PREVIOUS", API_TOKEN)
        .var("SKILL_SECRET", "skill-new")
        .var("SKILL_SECRET_PREVIOUS", "skill-old")
        .var("KAKAO_BOT_TOKEN", "bot-token")
        .var("KAKAO_BOT_WEBHOOK_SECRET", "bot-new")
        .var("KAKAO_BOT_WEBHOOK_SECRET_PREVIOUS", "bot-old")
        .spawn()
        .await
}

#[tokio::test]
async fn the_api_token_skill_secret_and_bot_secret_each_accept_their_previous_value() {
    let app = rotating_app().await;
    let api = |token: &'static str| {
        let request = app.client.get(app.url("/api/events")).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!([api("api-new").await, api(API_TOKEN).await], [200, 200]);
    assert_eq!(api("api-older").await, 401);

    let skill = |secret: &'static str| {
        let request = app
            .client
            .post(app.url("/kakao/skill"))
            .header("content-type", "application/json")
            .header("x-skill-secret", secret)
            .body(skill_request("안녕", None));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        [skill("skill-new").await, skill("skill-old").await],
        [200, 200]
    );
    assert_eq!(
        skill("api-new").await,
        401,
        "another secret is not this one"
    );

    let bot = |secret: &'static str, id: u64| {
        let request = app
            .client
            .post(app.url("/kakao/bot"))
            .header("content-type", "application/json")
            .header("x-bot-secret", secret)
            .body(BOT_EVENT.replace(r#""id":1"#, &format!(r#""id":{id}"#)));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        [bot("bot-new", 1).await, bot("bot-old", 2).await],
        [204, 204]
    );
    assert_eq!(bot("skill-new", 3).await, 401);
    let stored = app.events().await;
    assert_eq!(
        stored.iter().filter(|e| e["source"] == "bot").count(),
        2,
        "the refused event is not stored"
    );
}
