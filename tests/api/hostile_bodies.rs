//! Hostile input over HTTP: arbitrary bytes and mutated real bodies sent to
//! the admin-key webhooks as forms, JSON and query strings. Every answer is
//! 200 (a mutation that is still valid) or a typed 400 JSON error, never a
//! 5xx; and a 400 changes nothing.

use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{APP_ID, TestApp};

/// How a case is sent.
#[derive(Debug, Clone)]
enum Delivery {
    /// POST with this content type.
    Body(&'static str, &'static str),
    /// GET with the bytes as the query string, percent-encoded as needed.
    Query(&'static str),
}

const DELIVERIES: [Delivery; 6] = [
    Delivery::Body("/kakao/unlink", "application/x-www-form-urlencoded"),
    Delivery::Body("/kakao/channel", "application/json"),
    Delivery::Body("/kakao/channel", "application/x-www-form-urlencoded"),
    Delivery::Body("/kakao/share", "application/json"),
    Delivery::Body("/kakao/share", "application/x-www-form-urlencoded"),
    Delivery::Query("/kakao/unlink"),
];

/// Real bodies each delivery accepts, to be mutated.
fn valid_body(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Body("/kakao/channel", "application/json") => r#"{"event":"added","id":"77","id_type":"app_user_id","channel_public_id":"_FLX","updated_at":"2024-01-01T00:00:00Z"}"#.into(),
        Delivery::Body("/kakao/channel", _) => "event=blocked&id=77&id_type=app_user_id&channel_public_id=_FLX&updated_at=2024-01-01T00%3A00%3A00Z".into(),
        Delivery::Body("/kakao/share", "application/json") => r#"{"CHAT_TYPE":"MemoChat","HASH_CHAT_ID":"abc","TEMPLATE_ID":"1"}"#.into(),
        Delivery::Body("/kakao/share", _) => "CHAT_TYPE=DirectChat&HASH_CHAT_ID=abc&TEMPLATE_ID=1".into(),
        _ => format!("app_id={APP_ID}&user_id=77&referrer_type=UNLINK_FROM_APPS"),
    }
}

/// Arbitrary bytes, or a valid body with a few bytes replaced and a tail cut.
fn case() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let arbitrary = (
        0..DELIVERIES.len(),
        prop::collection::vec(any::<u8>(), 0..256),
    );
    let mutated = (
        0..DELIVERIES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(which, edits, cut)| {
            let mut bytes = valid_body(&DELIVERIES[which]).into_bytes();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
            bytes.truncate(keep);
            (which, bytes)
        });
    prop_oneof![arbitrary, mutated]
}

async fn send(app: &TestApp, delivery: &Delivery, bytes: &[u8], n: usize) -> (u16, Value) {
    let request = match delivery {
        Delivery::Body(path, content_type) => app
            .kakao_request(Method::POST, path)
            .header("content-type", *content_type)
            .body(bytes.to_vec()),
        Delivery::Query(path) => {
            let query: String = bytes
                .iter()
                .map(|b| match b {
                    b'&' | b'=' => (*b as char).to_string(),
                    b if b.is_ascii_alphanumeric() => (*b as char).to_string(),
                    b => format!("%{b:02X}"),
                })
                .collect();
            app.kakao_request(Method::GET, &format!("{path}?{query}"))
        }
    };
    let response = request
        .header("x-kakao-resource-id", format!("hostile-{n}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn arbitrary_and_mutated_webhook_bodies_get_200_or_a_typed_400_and_a_400_changes_nothing() {
    let app = TestApp::kakao().spawn().await;
    // Cases are drawn up front (deterministically) and sent one by one.
    let mut runner = TestRunner::new(Config {
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..Config::default()
    });
    let strategy = case();
    let mut events = app.events().await;
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..300 {
        let (which, bytes) = strategy.new_tree(&mut runner).unwrap().current();
        let delivery = &DELIVERIES[which];
        let (status, body) = send(&app, delivery, &bytes, n).await;
        let shown = String::from_utf8_lossy(&bytes);
        match status {
            200 => accepted += 1,
            400 => {
                refused += 1;
                assert!(
                    body["error"].is_string() && body["message"].is_string(),
                    "a typed error for {delivery:?} {shown:?}: {body}"
                );
                let now = app.events().await;
                assert_eq!(
                    now, events,
                    "a 400 changed something: {delivery:?} {shown:?}"
                );
            }
            other => panic!("{other} for {delivery:?} {shown:?}: {body}"),
        }
        events = app.events().await;
    }
    // Both outcomes must occur, or half of this test tests nothing.
    println!("{accepted} accepted, {refused} refused");
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}
