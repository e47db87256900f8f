//! Callback mode against a local stand-in for Kakao's callback endpoint.

use std::time::Duration;

use kakao_webhooks::skill::{SkillRequest, SkillResponse};
use serde_json::json;

use crate::helpers::{CallbackReceiver, TestApp, skill_request};

const WAITING: &str = "잠시만요";
const FALLBACK: &str = "fallback for tests";

/// A server that trusts the local receiver, with a handler taking `delay`.
async fn app_with_slow_handler(delay: Duration, extra: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder()
        .var("SKILL_SYNC_BUDGET_MS", 200)
        .var("SKILL_CALLBACK_HOSTS", "127.0.0.1")
        .var("SKILL_CALLBACK_ALLOW_HTTP", true)
        .var("SKILL_CALLBACK_MIN_DELAY_MS", 50)
        .var("SKILL_CALLBACK_WAITING_TEXT", WAITING)
        .var("SKILL_FALLBACK_TEXT", FALLBACK);
    for (key, value) in extra {
        builder = builder.var(key, value);
    }
    builder
        .handler(move |req: SkillRequest| async move {
            tokio::time::sleep(delay).await;
            Ok(SkillResponse::text(format!(
                "final: {}",
                req.user_request.utterance
            )))
        })
        .spawn()
        .await
}

#[tokio::test]
async fn a_slow_handler_is_acknowledged_with_use_callback_then_posted_exactly_once() {
    let receiver = CallbackReceiver::start().await;
    let app = app_with_slow_handler(Duration::from_millis(600), &[]).await;

    let ack = app
        .skill_json(skill_request("날씨", Some(&receiver.url())))
        .await;
    assert_eq!(
        ack,
        json!({"version": "2.0", "useCallback": true, "data": {"text": WAITING}})
    );

    let posts = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        posts[0],
        serde_json::to_value(SkillResponse::text("final: 날씨")).unwrap()
    );
    // Shutting down waits for pending callbacks, so after it nothing more can come.
    app.stop().await.unwrap();
    assert_eq!(
        receiver.received().len(),
        1,
        "the callback URL is single-use"
    );
}

#[tokio::test]
async fn a_handler_still_running_at_the_deadline_is_cancelled_and_the_fallback_posted() {
    let receiver = CallbackReceiver::start().await;
    let app = app_with_slow_handler(
        Duration::from_secs(60),
        &[("SKILL_CALLBACK_DEADLINE_MS", "800")],
    )
    .await;

    let ack = app
        .skill_json(skill_request("x", Some(&receiver.url())))
        .await;
    assert_eq!(ack["useCallback"], true);
    let posts = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        posts[0],
        serde_json::to_value(SkillResponse::text(FALLBACK)).unwrap()
    );
    app.stop().await.unwrap();
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_callback_url_outside_the_allowlist_is_never_called() {
    let receiver = CallbackReceiver::start().await;
    // The default allowlist (*.kakao.com) does not include the receiver.
    let app = TestApp::builder()
        .var("SKILL_SYNC_BUDGET_MS", 200)
        .var("SKILL_FALLBACK_TEXT", FALLBACK)
        .handler(|_: SkillRequest| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(SkillResponse::text("final"))
        })
        .spawn()
        .await;

    let answer = app
        .skill_json(skill_request("x", Some(&receiver.url())))
        .await;
    assert_eq!(
        answer,
        serde_json::to_value(SkillResponse::text(FALLBACK)).unwrap()
    );
    app.stop().await.unwrap();
    assert!(receiver.received().is_empty(), "refused URL was called");
}

#[tokio::test]
async fn a_fast_handler_answers_directly_even_with_a_callback_url() {
    let receiver = CallbackReceiver::start().await;
    let app = app_with_slow_handler(Duration::ZERO, &[]).await;
    let answer = app
        .skill_json(skill_request("빠름", Some(&receiver.url())))
        .await;
    assert_eq!(
        answer,
        serde_json::to_value(SkillResponse::text("final: 빠름")).unwrap()
    );
    app.stop().await.unwrap();
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn past_skill_max_in_flight_a_request_gets_the_fallback_at_once() {
    let receiver = CallbackReceiver::start().await;
    // The handler takes long enough that the second request always comes
    // while the first still holds the slot.
    let app = app_with_slow_handler(Duration::from_secs(8), &[("SKILL_MAX_IN_FLIGHT", "1")]).await;
    // The first overruns its budget and waits for its callback, holding
    // the one slot.
    let ack = app
        .skill_json(skill_request("첫째", Some(&receiver.url())))
        .await;
    assert_eq!(ack["useCallback"], true, "{ack}");
    let second = app.post_skill(skill_request("둘째", None)).await;
    let why = second
        .headers()
        .get(kakao_webhooks::skill::FALLBACK_HEADER)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(why.contains("SKILL_MAX_IN_FLIGHT"), "why: {why:?}");
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(
        body["template"]["outputs"][0]["simpleText"]["text"],
        FALLBACK
    );
    // Once the first is done, the slot is free again: the next request runs
    // its handler (which overruns the budget: a fallback for that reason).
    receiver.wait_for(1, Duration::from_secs(40)).await;
    let started = std::time::Instant::now();
    loop {
        let after = app.post_skill(skill_request("셋째", None)).await;
        let why = after
            .headers()
            .get(kakao_webhooks::skill::FALLBACK_HEADER)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        // The slot is given back just after the callback is posted.
        if why.contains("SKILL_MAX_IN_FLIGHT") && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert!(why.contains("SKILL_SYNC_BUDGET_MS"), "why: {why:?}");
        break;
    }
}
