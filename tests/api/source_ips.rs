//! Only Kakao let in: with `KAKAO_SOURCE_IPS`, Kakao's routes answer only
//! Kakao's addresses (the peer's, or the one a trusted proxy forwards);
//! others get 403, counted as refused. The probes stay open.

use crate::helpers::{TestApp, skill_request};

async fn skill_from(app: &TestApp, forwarded: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/kakao/skill"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(skill_request("안녕", None))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_only_kakaos_addresses_are_answered() {
    let app = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24")
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .spawn()
        .await;
    let (status, body) = skill_from(&app, "203.0.113.9").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_source"), "{body}");
    assert_eq!(skill_from(&app, "198.51.100.7").await.0, 200);
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "the probes stay open"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_webhooks_received_total{family="skill",outcome="refused"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_address_from_an_untrusted_peer_is_not_believed() {
    let app = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24")
        .spawn()
        .await;
    // The peer is loopback, not Kakao, and not a trusted proxy.
    assert_eq!(skill_from(&app, "198.51.100.7").await.0, 403);
    let local = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24, 127.0.0.1")
        .spawn()
        .await;
    assert_eq!(skill_from(&local, "203.0.113.9").await.0, 200);
}
