//! Skill and bot requests forwarded to the app's HTTP handler
//! (`SKILL_UPSTREAM_URL`, `KAKAO_BOT_UPSTREAM_URL`), signed, with every
//! guarantee of a built-in handler kept: the sync budget, callback mode,
//! Kakao's limits and the fallback text.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    app_receiver::{Answer, AppReceiver, SIGNING_SECRET},
    bot_replies::{bot_app, message, post_event},
    helpers::{CallbackReceiver, KakaoBotApi, TestApp, skill_request},
};

const FALLBACK: &str = "fallback for tests";
const WAITING: &str = "잠시만요";

fn reply(text: &str) -> String {
    json!({"version": "2.0", "template": {"outputs": [{"simpleText": {"text": text}}]}}).to_string()
}

async fn skill_app(app: &AppReceiver) -> TestApp {
    TestApp::builder()
        .var("SKILL_UPSTREAM_URL", app.at("/skill"))
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("SKILL_SYNC_BUDGET_MS", 300)
        .var("SKILL_CALLBACK_HOSTS", "127.0.0.1")
        .var("SKILL_CALLBACK_ALLOW_HTTP", true)
        .var("SKILL_CALLBACK_MIN_DELAY_MS", 50)
        .var("SKILL_CALLBACK_WAITING_TEXT", WAITING)
        .var("SKILL_FALLBACK_TEXT", FALLBACK)
        .spawn()
        .await
}

fn text_of(response: &Value) -> &str {
    response
        .pointer("/template/outputs/0/simpleText/text")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_skill_request_goes_to_the_app_byte_for_byte_signed_and_its_answer_comes_back() {
    let upstream = AppReceiver::start().await;
    upstream.script([], Answer::Json(reply("앱이 답해요")));
    let app = skill_app(&upstream).await;
    // Odd spacing and key order: what is forwarded is what Kakao sent.
    let sent = skill_request("메뉴", None).replace(r#""utterance""#, r#"  "utterance""#);
    let answer = app.skill_json(sent.clone()).await;
    assert_eq!(text_of(&answer), "앱이 답해요", "{answer}");

    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, sent.as_bytes(), "forwarded as sent");
    assert!(received[0].signed_with(SIGNING_SECRET));
}

#[tokio::test]
async fn a_slow_app_is_answered_by_callback_and_called_once() {
    let upstream = AppReceiver::start().await;
    let late = Answer::Late(
        Duration::from_millis(900),
        Box::new(Answer::Json(reply("늦은 답"))),
    );
    upstream.script([], late);
    let app = skill_app(&upstream).await;
    let kakao = CallbackReceiver::start().await;

    let ack = app
        .skill_json(skill_request("날씨", Some(&kakao.url())))
        .await;
    assert_eq!(
        ack,
        json!({"version": "2.0", "useCallback": true, "data": {"text": WAITING}})
    );
    let posts = kakao.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(text_of(&posts[0]), "늦은 답");
    app.stop().await.unwrap();
    assert_eq!(upstream.received().len(), 1, "the app is called once");
}

#[tokio::test]
async fn an_unusable_answer_from_the_app_becomes_the_fallback_text() {
    let too_long = reply(&"가".repeat(1001)); // simpleText allows 1000 characters
    let too_large = reply(&"a".repeat(40_000));
    let cases = [
        ("500", Answer::Status(500)),
        ("204", Answer::Status(204)),
        ("not JSON", Answer::Json("<html>oops</html>".into())),
        (
            "not a SkillResponse",
            Answer::Json(r#"{"hello":"world"}"#.into()),
        ),
        ("over Kakao's limits", Answer::Json(too_long)),
        ("larger than Kakao allows", Answer::Json(too_large)),
        (
            "slower than the budget, no callback",
            Answer::Late(
                Duration::from_secs(5),
                Box::new(Answer::Json(reply("late"))),
            ),
        ),
    ];
    for (case, answer) in cases {
        let upstream = AppReceiver::start().await;
        upstream.script([], answer);
        let app = skill_app(&upstream).await;
        let response = app.skill_json(skill_request("x", None)).await;
        assert_eq!(text_of(&response), FALLBACK, "{case}: {response}");
        assert_eq!(upstream.received().len(), 1, "{case}");
    }
}

#[tokio::test]
async fn a_bot_event_goes_to_the_app_with_its_id_exact_and_the_answer_is_the_reply() {
    let kakao = KakaoBotApi::start().await;
    let upstream = AppReceiver::start().await;
    upstream.script([Answer::Status(503)], Answer::Json(reply("앱의 봇")));
    let app = bot_app(&kakao)
        .var("KAKAO_BOT_UPSTREAM_URL", upstream.at("/bot"))
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .spawn()
        .await;
    post_event(&app, message(869_509_512_613_945_331, "안녕", "cb-1")).await;

    let calls = kakao
        .platform
        .wait_for_delivered("/v1/bot/callback", 1, Duration::from_secs(20))
        .await
        .expect("a reply through the callback API");
    assert_eq!(
        calls[0]
            .body
            .pointer("/skillResponse/template/outputs/0/simpleText/text"),
        Some(&json!("앱의 봇"))
    );
    let received = upstream.received();
    assert_eq!(received.len(), 2, "retried once after the 503");
    assert_eq!(
        received[0].id, received[1].id,
        "one webhook-id for the event"
    );
    let text = String::from_utf8(received[1].body.to_vec()).unwrap();
    assert!(text.contains(r#""id":869509512613945331"#), "{text}");
    assert!(!text.contains("cb-1"), "the callback token stays here");
    let frame = received[1].json();
    assert_eq!(
        (frame["op"].clone(), frame["t"].clone()),
        (json!(0), json!("MESSAGE_CREATE"))
    );
    assert!(received.iter().all(|r| r.signed_with(SIGNING_SECRET)));
}

#[tokio::test]
async fn a_204_from_the_app_sends_no_reply() {
    let kakao = KakaoBotApi::start().await;
    let upstream = AppReceiver::start().await;
    upstream.script([], Answer::Status(204));
    let app = bot_app(&kakao)
        .var("KAKAO_BOT_UPSTREAM_URL", upstream.at("/bot"))
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .spawn()
        .await;
    post_event(&app, message(1, "조용히", "cb-2")).await;
    upstream.wait_for(1, Duration::from_secs(10)).await;
    // A reply, had there been one, is sent right after the app answers;
    // a second event that does get a reply shows the first had its turn.
    upstream.script([], Answer::Json(reply("둘째")));
    post_event(&app, message(2, "말해", "cb-3")).await;
    let calls = kakao
        .platform
        .wait_for_delivered("/v1/bot/callback", 1, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].callback_token.as_deref(), Some("cb-3"));
}

#[test]
fn an_upstream_url_without_a_signing_secret_stops_start_up_naming_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("SKILL_UPSTREAM_URL", "http://127.0.0.1:9/skill")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("APP_SIGNING_SECRET") && err.contains("SKILL_UPSTREAM_URL"),
        "{err}"
    );
    let malformed = std::process::Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("APP_SIGNING_SECRET", "not-a-secret")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("APP_SIGNING_SECRET"));
}
