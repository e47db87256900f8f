//! Guessing the API token cannot go on: failed checks are counted per
//! client address, and past the limit the address gets `429` whatever it
//! sends. The test's client is on loopback, which is never limited unless it
//! is a trusted proxy; so the service trusts loopback as a proxy here, and
//! each "client" is the address that proxy forwards.

use std::time::Duration;

use crate::helpers::{API_TOKEN, TestApp};

async fn api_status(app: &TestApp, client: &str, token: &str) -> u16 {
    app.client
        .get(app.url("/api/events"))
        .header("x-forwarded-for", client)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn sign_in_status(app: &TestApp, client: &str, token: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/console/login"))
        .header("x-forwarded-for", client)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_fails_too_often_gets_429_whatever_it_sends() {
    let app = TestApp::kakao()
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .var("AUTH_FAILURES_PER_MINUTE", "5")
        .spawn()
        .await;
    let guesser = "203.0.113.7";
    for _ in 0..3 {
        assert_eq!(api_status(&app, guesser, "wrong").await, 401);
    }
    for _ in 0..2 {
        assert_eq!(sign_in_status(&app, guesser, "wrong").await, 401);
    }
    // Five failures in a minute: the right token is refused too.
    assert_eq!(api_status(&app, guesser, API_TOKEN).await, 429);
    assert_eq!(sign_in_status(&app, guesser, API_TOKEN).await, 429);
    // Another address is not.
    assert_eq!(api_status(&app, "203.0.113.8", API_TOKEN).await, 200);
    assert_eq!(sign_in_status(&app, "203.0.113.8", API_TOKEN).await, 303);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("kakao_auth_rate_limited_total{surface=\"api\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_ends_and_a_local_client_is_never_locked_out() {
    let app = TestApp::kakao()
        .var("TRUSTED_PROXIES", "10.0.0.0/8")
        .var("AUTH_FAILURES_PER_MINUTE", "2")
        .var("AUTH_LOCKOUT_SECONDS", "1")
        .spawn()
        .await;
    // Loopback is not a trusted proxy here: its forwarded header is ignored
    // and it is never limited.
    for _ in 0..10 {
        assert_eq!(api_status(&app, "203.0.113.7", "wrong").await, 401);
    }
    assert_eq!(api_status(&app, "203.0.113.7", API_TOKEN).await, 200);

    let trusting = TestApp::kakao()
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .var("AUTH_FAILURES_PER_MINUTE", "2")
        .var("AUTH_LOCKOUT_SECONDS", "1")
        .spawn()
        .await;
    for _ in 0..2 {
        assert_eq!(api_status(&trusting, "203.0.113.9", "wrong").await, 401);
    }
    assert_eq!(api_status(&trusting, "203.0.113.9", API_TOKEN).await, 429);
    let started = std::time::Instant::now();
    while api_status(&trusting, "203.0.113.9", API_TOKEN).await == 429 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lockout never ends"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api_status(&trusting, "203.0.113.9", API_TOKEN).await, 200);
}
