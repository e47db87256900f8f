//! An authentic SET is never refused for our own reasons.

use serde_json::json;

use crate::{
    kakao_keys::{Signer, now},
    security_events::{kakao, post},
};

#[tokio::test]
async fn an_unknown_kid_during_the_refetch_cooldown_gets_503_with_retry_after_then_is_accepted() {
    let k = kakao().await;
    // A refetch for an unknown kid starts the cooldown (30 s by default).
    let stranger = Signer::new("kakao-b", "never-published", &k.keys.issuer());
    let token = stranger.sign(&stranger.claims("user-linked", "5001", json!({}), now()));
    assert_eq!(
        post(&k.app, &token).await.0,
        400,
        "fetched after it arrived"
    );
    // Kakao rotates a key in during the cooldown.
    k.keys.serve_keys(&["kakao-a", "kakao-b"]);
    let rotated = Signer::new("kakao-b", "test-key-b", &k.keys.issuer());
    let token = rotated.sign(&rotated.claims("user-linked", "5002", json!({}), now()));
    let response = k
        .app
        .client
        .post(k.app.url("/kakao/events"))
        .header("content-type", "application/secevent+jwt")
        .body(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "not refused for good");
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(k.app.events().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn an_event_timestamp_in_the_future_does_not_decide_ordering() {
    let k = kakao().await;
    let t = now();
    // Milliseconds where seconds belong: far in the future if taken as is.
    k.send_at(
        "user-unlinked",
        "5003",
        json!({"reason": "UNLINK_FROM_APPS", "event_timestamp": t * 1000}),
        t - 60,
    )
    .await;
    k.send_at("user-linked", "5003", json!({}), t).await;
    assert_eq!(k.user("5003").await["status"], "linked", "iat ordered them");
}
