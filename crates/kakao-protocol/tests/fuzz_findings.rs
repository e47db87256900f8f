//! Inputs the fuzzers (`fuzz/`) found to fail, kept as regression tests.

use kakao_protocol::security_event::{SetClaims, key_id, parse};

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

/// An `alg` of 3-byte characters: cut to 32 characters, the refusal was 128
/// bytes, past the 120 a message said back to Kakao may take (cargo fuzz run
/// set_header, in CI, 2026-12-07).
#[test]
fn a_long_multibyte_alg_is_refused_in_a_short_message() {
    let input = include_str!("fuzz_findings/set_header_long_error.txt");
    let err = key_id(input).unwrap_err().to_string();
    assert!(err.len() <= 120, "{} bytes: {err}", err.len());
    assert!(err.ends_with("is not accepted; only RS256"), "{err}");
}
