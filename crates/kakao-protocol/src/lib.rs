//! Kakao's webhook protocols as plain Rust types and functions: no I/O, no
//! web framework, no database. Use it alone to speak to Kakao from any Rust
//! server; the `kakao-webhooks` service is built on it.
//!
//! - [`skill`]: Kakao i OpenBuilder skills. [`skill::SkillRequest`] reads
//!   what OpenBuilder POSTs, tolerantly (Kakao adds fields without notice);
//!   [`skill::SkillResponse`] builds a SkillResponse v2.0 and
//!   [`skill::SkillResponse::validate`] checks it against Kakao's limits
//!   table, naming every broken rule with its JSON path. An unknown button
//!   or quick-reply action is kept, never a panic.
//! - [`security_event`]: Kakao Login's account status change webhook, read
//!   after the Security Event Token's signature was verified: the claims and
//!   the 16 event types.
//! - [`bot`]: the KakaoTalk Bot API's chatroom events and gateway frames.
//! - [`admin_key`]: the parameters of the webhooks Kakao authenticates with
//!   the app's admin key (Kakao Login unlink, Kakao Talk Channel, Kakao
//!   Talk Share).
//! - [`ids`]: the one policy for ids presented from outside.
//! - [`system_ips`]: which of Kakao's published addresses call webhooks.
//!
//! # A skill in five lines
//!
//! ```
//! use kakao_protocol::skill::{SkillRequest, SkillResponse};
//!
//! let body = r#"{"userRequest":{"utterance":"안녕","user":{"id":"u1"}}}"#;
//! let request = SkillRequest::from_slice(body.as_bytes()).expect("a skill request");
//! let answer = SkillResponse::text(format!("말씀하신 내용: {}", request.user_request.utterance));
//! let json = answer.to_checked_json().expect("within Kakao's limits");
//! assert!(std::str::from_utf8(json.bytes()).unwrap().contains("simpleText"));
//! ```
//!
//! # Kakao's limits, named
//!
//! ```
//! use kakao_protocol::skill::SkillResponse;
//!
//! let too_long = SkillResponse::text("가".repeat(1001));
//! let broken = too_long.validate().unwrap_err();
//! assert!(broken.to_string().contains("template.outputs[0].simpleText.text"));
//! ```
#![forbid(unsafe_code)]

pub mod admin_key;
pub mod bot;
pub mod ids;
pub mod security_event;
pub mod skill;
pub mod system_ips;

/// The last millisecond of the second `millis` falls in. Times that order
/// changes are kept at second precision, as Kakao's SETs carry them, so that
/// changes within one second tie and arrival order decides.
pub fn end_of_second(millis: i64) -> i64 {
    // Saturating: a time near i64::MAX (a SET's absurd `iat`) stays a time.
    millis
        .div_euclid(1000)
        .saturating_mul(1000)
        .saturating_add(999)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_end_of_a_second_is_its_last_millisecond() {
        assert_eq!(super::end_of_second(1_000), 1_999);
        assert_eq!(super::end_of_second(1_999), 1_999);
        assert_eq!(super::end_of_second(-1), -1);
        assert_eq!(super::end_of_second(i64::MAX), i64::MAX);
        assert_eq!(super::end_of_second(i64::MIN), i64::MIN + 999);
    }
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
