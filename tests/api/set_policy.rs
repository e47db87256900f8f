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
        503,
        "not in a key set fetched after it arrived: perhaps ours is stale"
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

#[tokio::test]
async fn a_signed_set_that_cannot_be_applied_is_stored_unapplied_with_its_reason() {
    let k = kakao().await;
    k.app.login("5101").await;
    let cases = [
        // An identifier event without an email or phone subject.
        (
            k.signer
                .claims("identifier-changed", "5101", json!({}), now()),
            "needs an email or phone subject",
        ),
        // A subject format this version does not know.
        (
            k.signer.claims(
                "account-disabled",
                "5101",
                json!({"subject": {"subject_type": "opaque", "id": "x"}}),
                now(),
            ),
            "not understood",
        ),
        // A scope event without its scope.
        (
            k.signer
                .claims("user-scope-withdraw", "5101", json!({}), now()),
            "has no scope",
        ),
    ];
    for (claims, reason) in &cases {
        assert_eq!(
            post(&k.app, &k.signer.sign(claims)).await.0,
            202,
            "{reason}"
        );
    }
    let events = k.app.events().await;
    assert_eq!(events.len(), cases.len(), "each SET stored");
    for (_, reason) in &cases {
        let event = events
            .iter()
            .find(|event| {
                event["unapplied_reason"]
                    .as_str()
                    .is_some_and(|text| text.contains(reason))
            })
            .unwrap_or_else(|| panic!("no event unapplied for {reason}: {events:#?}"));
        assert_eq!(
            event["user_id"], "5101",
            "tied to its user: erased when they leave"
        );
        assert_eq!(event["applied_at"], serde_json::Value::Null);
    }
    // Nothing of them was applied: the user is as they were.
    let user = k.user("5101").await;
    assert_eq!(user["status"], "linked");
    let metrics = k.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_set_events_unapplied_total{type="account-disabled"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_set_naming_two_users_is_stored_unapplied_and_tied_to_neither() {
    let k = kakao().await;
    let mut claims = k.signer.claims("account-purged", "5201", json!({}), now());
    claims["sub"] = json!("5202");
    assert_eq!(post(&k.app, &k.signer.sign(&claims)).await.0, 202);
    let events = k.app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "account-purged");
    assert_eq!(events[0]["user_id"], serde_json::Value::Null);
    assert!(
        events[0]["unapplied_reason"]
            .as_str()
            .unwrap()
            .contains("different users"),
        "{}",
        events[0]
    );
    // What is malformed in the JWT itself is still refused.
    k.refused("not a jwt", "invalid_request").await;
}
