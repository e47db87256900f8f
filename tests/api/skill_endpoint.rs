//! `GET|POST /kakao/skill` without callbacks.

use std::time::{Duration, Instant};

use kakao_webhooks::skill::{
    SkillRequest, SkillResponse, SkillRouter, components::SimpleText, demo::demo_bot,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{TestApp, request_fixture, skill_request};

const FALLBACK: &str = "fallback for tests";

fn text_of(response: &Value) -> &str {
    response["template"]["outputs"][0]["simpleText"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a simpleText response: {response}"))
}

#[tokio::test]
async fn verification_get_answers_the_exact_body_as_json_with_or_without_slash() {
    let app = TestApp::spawn().await;
    for path in ["/kakao/skill", "/kakao/skill/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        assert_eq!(
            response.bytes().await.unwrap(),
            r#"{"version":"2.0","data":{}}"#,
            "{path}"
        );
    }
}

#[tokio::test]
async fn post_answers_on_the_trailing_slash_path_too() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/kakao/skill/"))
        .body(skill_request("안녕", None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(text_of(&body), "echo: 안녕");
}

#[tokio::test]
async fn real_shaped_payloads_parse_tolerantly() {
    let (tx, mut rx) = mpsc::unbounded_channel::<SkillRequest>();
    let app = TestApp::builder()
        .handler(move |req: SkillRequest| {
            let tx = tx.clone();
            async move {
                tx.send(req).unwrap();
                Ok(SkillResponse::text("ok"))
            }
        })
        .spawn()
        .await;

    let mut received = Vec::new();
    for name in [
        "bot_tester",
        "live_callback",
        "system_entities",
        "legacy_v1",
    ] {
        let body = app.skill_json(request_fixture(name).to_string()).await;
        assert_eq!(text_of(&body), "ok", "{name}");
        received.push(rx.recv().await.unwrap());
    }
    let [tester, live, entities, legacy] = received.try_into().unwrap();

    assert!(tester.is_bot_test());
    assert_eq!(
        tester.user_request.language(),
        "ko",
        "lang null reads as ko"
    );
    assert!(
        tester.action.client_extra.is_empty(),
        "clientExtra null reads as empty"
    );
    assert_eq!(tester.block().name, "메뉴");

    assert!(!live.is_bot_test());
    assert_eq!(
        live.callback_url(),
        Some("https://bot-api.kakao.com/v1/bots/5ae9b76d7409b11ec845b746!/callback/one-time-token")
    );
    let props = &live.user_request.user.properties;
    assert_eq!(props.plusfriend_user_key.as_deref(), Some("T8x9DhjAiBrv"));
    assert_eq!(props.app_user_id.as_deref(), Some("1234567"));
    assert!(props.is_friend);
    assert_eq!(
        live.flow.trigger.as_ref().unwrap().kind.as_deref(),
        Some("TEXT_INPUT")
    );

    #[derive(Deserialize)]
    struct SysDate {
        date: String,
    }
    #[derive(Deserialize)]
    struct SysNumber {
        amount: u32,
    }
    assert_eq!(
        entities.user_request.language(),
        "ko",
        "legacy kr reads as ko"
    );
    assert_eq!(
        entities.action.entity::<SysDate>("sys_date").unwrap().date,
        "2023-03-31"
    );
    assert_eq!(
        entities
            .action
            .entity::<SysNumber>("sys_number")
            .unwrap()
            .amount,
        3
    );
    assert_eq!(entities.action.param("store").as_deref(), Some("판교점"));
    assert_eq!(entities.action.client_extra["from"], "quickReply");
    assert!(entities.contexts.is_empty(), "contexts null reads as empty");
    let props = &entities.user_request.user.properties;
    assert_eq!(
        props.app_user_id.as_deref(),
        Some("987654"),
        "snake_case only"
    );
    assert!(props.is_friend, "\"true\" as a string");

    assert!(
        legacy.action.client_extra.is_empty(),
        "clientExtra \"null\" reads as empty"
    );
    assert_eq!(
        legacy.user_request.user.kind.as_deref(),
        Some("talk_user_id")
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_400_json_error_saying_what_is_wrong() {
    let app = TestApp::spawn().await;
    let cases = [
        ("", "empty"),
        ("   ", "empty"),
        ("{", "EOF"),
        ("[]", "not a JSON object"),
        ("null", "not a JSON object"),
        (r#"{"intent":{"id":"x"}}"#, "missing field `userRequest`"),
        (r#"{"userRequest":{"utterance":42}}"#, "invalid type"),
    ];
    for (body, says) in cases {
        let response = app.post_skill(body).await;
        assert_eq!(response.status(), 400, "{body:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_skill_request", "{body:?}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{body:?}: {message}");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_as_json() {
    let app = TestApp::builder()
        .var("REQUEST_BODY_LIMIT_BYTES", 4096)
        .spawn()
        .await;
    let big = skill_request(&"가".repeat(2000), None);
    assert!(big.len() > 4096);
    let refused = app.post_skill(big).await;
    assert_eq!(refused.status(), 413);
    let body: serde_json::Value = refused
        .json()
        .await
        .expect("a JSON error, like every other");
    assert_eq!(body["error"], "body_too_large");
    assert!(body["message"].as_str().unwrap().contains("4096"), "{body}");
    assert_eq!(
        app.post_skill(skill_request("작은 요청", None))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn requests_route_by_block_id_then_block_name_then_action_name() {
    let reply =
        |text: &'static str| move |_: SkillRequest| async move { Ok(SkillResponse::text(text)) };
    let router = SkillRouter::new()
        .block_id("block-1", reply("by block id"))
        .block_name("날씨", reply("by block name"))
        .action_name("기본 스킬", reply("by action name"))
        .fallback(reply("fallback route"));
    let app = TestApp::builder().handler(router).spawn().await;

    let request = |block_id: &str, block_name: &str, action: &str| {
        let mut body: Value = serde_json::from_str(&skill_request("x", None)).unwrap();
        body["userRequest"]["block"] = json!({"id": block_id, "name": block_name});
        body["action"]["name"] = json!(action);
        body.to_string()
    };
    let cases = [
        (request("block-1", "날씨", "기본 스킬"), "by block id"),
        (request("other", "날씨", "기본 스킬"), "by block name"),
        (request("other", "other", "기본 스킬"), "by action name"),
        (request("other", "other", "other"), "fallback route"),
    ];
    for (body, expected) in cases {
        assert_eq!(text_of(&app.skill_json(body).await), expected);
    }
}

#[tokio::test]
async fn an_invalid_handler_response_is_never_sent() {
    let app = TestApp::builder()
        .var("SKILL_FALLBACK_TEXT", FALLBACK)
        .handler(|_: SkillRequest| async {
            // Four outputs: Kakao takes three at most.
            Ok((0..4).fold(SkillResponse::new(), |r, _| r.output(SimpleText::new("x"))))
        })
        .spawn()
        .await;
    let body = app.skill_json(skill_request("x", None)).await;
    assert_eq!(
        body,
        serde_json::to_value(SkillResponse::text(FALLBACK)).unwrap()
    );
}

#[tokio::test]
async fn failing_and_panicking_handlers_get_the_fallback_text() {
    let app = TestApp::builder()
        .var("SKILL_FALLBACK_TEXT", FALLBACK)
        .handler(|req: SkillRequest| async move {
            if req.user_request.utterance == "panic" {
                panic!("handler bug");
            }
            anyhow::bail!("upstream API down")
        })
        .spawn()
        .await;
    for utterance in ["fail", "panic"] {
        let body = app.skill_json(skill_request(utterance, None)).await;
        assert_eq!(text_of(&body), FALLBACK, "{utterance}");
    }
}

#[tokio::test]
async fn a_slow_handler_without_callback_gets_the_fallback_within_the_budget() {
    let handler_time = Duration::from_secs(10);
    let app = TestApp::builder()
        .var("SKILL_SYNC_BUDGET_MS", 300)
        .var("SKILL_FALLBACK_TEXT", FALLBACK)
        .handler(move |_: SkillRequest| async move {
            tokio::time::sleep(handler_time).await;
            Ok(SkillResponse::text("too late"))
        })
        .spawn()
        .await;
    let started = Instant::now();
    let body = app.skill_json(skill_request("x", None)).await;
    assert_eq!(text_of(&body), FALLBACK);
    assert!(
        started.elapsed() < handler_time,
        "answered without waiting for the handler"
    );
}

#[tokio::test]
async fn the_skill_secret_header_is_required_when_configured() {
    let app = TestApp::builder()
        .var("SKILL_SECRET", "s3cret-value")
        .var("SKILL_SECRET_HEADER", "X-Bot-Secret")
        .spawn()
        .await;
    let send = |secret: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/kakao/skill"))
            .body(skill_request("x", None));
        if let Some(secret) = secret {
            request = request.header("x-bot-secret", secret);
        }
        request.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 401);
    let wrong = send(Some("s3cret-valuf")).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"], "unauthorized");
    assert_eq!(send(Some("s3cret")).await.unwrap().status(), 401);
    assert_eq!(send(Some("s3cret-value")).await.unwrap().status(), 200);
    // Verification stays open: OpenBuilder sends no custom headers with it.
    assert_eq!(app.get("/kakao/skill").await.status(), 200);
}

#[tokio::test]
async fn the_demo_bot_answers_valid_responses() {
    let app = TestApp::builder().handler(demo_bot()).spawn().await;
    for utterance in ["메뉴", "카드", "안녕하세요", &"긴 문장입니다. ".repeat(300)] {
        let body = app.skill_json(skill_request(utterance, None)).await;
        let response: SkillResponse = serde_json::from_value(body.clone()).unwrap();
        response.validate().unwrap();
        assert_ne!(text_of_any(&body), FALLBACK);
    }
}

fn text_of_any(response: &Value) -> String {
    response["template"]["outputs"][0].to_string()
}
