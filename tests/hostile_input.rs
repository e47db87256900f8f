//! Hostile input: arbitrary bytes and mutated real payloads fed to every
//! parser. Each must answer with a typed error, never a panic.

use std::{sync::Arc, time::Duration};

use kakao_webhooks::{
    security_events::{
        effects::effects,
        jwks::{KeySource, KeyStore},
        verify::{SetClaims, Verifier},
    },
    skill::{SkillRequest, SkillResponse, text::split_text},
};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/skill_requests/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

/// A real payload with some bytes replaced, cut or repeated.
fn mutated_payload() -> impl Strategy<Value = Vec<u8>> {
    let names = [
        "bot_tester",
        "live_callback",
        "system_entities",
        "legacy_v1",
    ];
    (
        0..names.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(which, edits, cut)| {
            let mut bytes = fixture(names[which]);
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
            bytes.truncate(keep);
            bytes
        })
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn skill_requests_from_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SkillRequest::from_slice(&bytes);
    }

    #[test]
    fn mutated_real_skill_payloads_never_panic(bytes in mutated_payload()) {
        if let Ok(request) = SkillRequest::from_slice(&bytes) {
            // Whatever parsed can be used without panics.
            let _ = (request.block(), request.callback_url(), request.is_bot_test());
            let _ = request.action.param("sys_date");
            let _ = request.action.entity::<Value>("sys_date");
        }
    }

    #[test]
    fn skill_responses_from_arbitrary_json_never_panic(value in json_value()) {
        if let Ok(response) = serde_json::from_value::<SkillResponse>(value) {
            let _ = response.validate();
        }
    }

    #[test]
    fn set_claims_from_arbitrary_json_never_panic(value in json_value(), events in json_value()) {
        let mut claims = serde_json::json!({"iss": "i", "aud": "a", "iat": 1, "jti": "j", "events": {}});
        if let Value::Object(map) = events {
            claims["events"] = Value::Object(map);
        }
        claims["sub"] = value;
        if let Ok(claims) = serde_json::from_value::<SetClaims>(claims) {
            // One parsed event per event of the SET, applicable or not.
            let events = kakao_protocol::security_event::parse(&claims, "i");
            prop_assert_eq!(events.len(), claims.events.len());
            for parsed in events {
                let _ = (effects(&parsed), parsed.type_name().to_owned(), parsed.unapplied_reason());
            }
        }
    }

    #[test]
    fn split_text_keeps_kakaos_limits(text in "(.|\n){0,4000}") {
        let parts = split_text(&text);
        prop_assert!(parts.len() <= 3);
        for part in &parts {
            prop_assert!(part.chars().count() <= 1000);
            prop_assert!(!part.trim().is_empty());
        }
        let response = SkillResponse::long_text(&text);
        if !parts.is_empty() {
            prop_assert!(response.validate().is_ok(), "{:?}", response.validate());
        }
    }
}

/// Arbitrary tokens against a verifier whose key host does not exist: every
/// one is refused with an error (invalid_request for malformed ones).
#[test]
fn arbitrary_tokens_are_refused_without_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = Arc::new(KeyStore::new(
        KeySource::Jwks("http://127.0.0.1:9/jwks.json".parse().unwrap()),
        kakao_webhooks::http::outbound_client().unwrap(),
        Duration::from_millis(200),
        Duration::from_secs(30),
    ));
    let verifier = Verifier::new(keys, "https://kauth.kakao.com", "aud");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    let tokens = prop_oneof![
        ".{0,300}",
        "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}",
        "eyJ[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_.-]{0,80}",
    ];
    runner
        .run(&tokens, |token| {
            let result = runtime.block_on(verifier.verify(&token));
            prop_assert!(result.is_err());
            Ok(())
        })
        .unwrap();
}

/// A real payload whose Korean text has one byte broken is refused as not
/// UTF-8, naming where, and the same payload unbroken is read: the check is
/// the body's, whichever validator makes it.
#[test]
fn a_skill_body_with_one_broken_korean_character_is_refused_naming_where() {
    let body = fixture("system_entities");
    let text = std::str::from_utf8(&body).unwrap();
    assert!(SkillRequest::from_slice(&body).is_ok());
    let korean = text
        .char_indices()
        .find(|(_, c)| c.len_utf8() == 3)
        .map(|(at, _)| at)
        .expect("the fixture has Korean text");
    let mut broken = body.clone();
    broken[korean + 1] = b'A';
    let err = SkillRequest::from_slice(&broken).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(err.contains(&format!("from index {korean}")), "{err}");
}
