//! Inputs the fuzzers (`fuzz/`) found to fail, kept as regression tests.

use kakao_protocol::security_event::{SetClaims, parse};

/// An `iat` of 98 digits: the event's time overflowed while rounding to
/// the end of its second (cargo fuzz run security_event, 2026-12-07).
#[test]
fn a_set_with_an_absurd_iat_maps_without_overflow() {
    let input = include_bytes!("fuzz_findings/security_event_huge_iat.json");
    let claims: SetClaims = serde_json::from_slice(input).unwrap();
    let events = parse(&claims, "https://kauth.kakao.com");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].time, i64::MAX);
}
