//! Kakao i OpenBuilder skills: the request OpenBuilder POSTs
//! ([`SkillRequest`]), the SkillResponse v2.0 a skill answers
//! ([`SkillResponse`], its [`components`]) and Kakao's limits on it
//! ([`limits`], checked by [`SkillResponse::validate`]).
//!
//! Unknown fields and unknown button or quick-reply actions are kept, not
//! refused: OpenBuilder adds them over time.

pub mod components;
pub mod lazy_json;
pub mod limits;
pub mod request;
pub mod response;
pub mod text;

pub use self::{
    limits::{CheckedJson, Violation, Violations},
    request::SkillRequest,
    response::SkillResponse,
};

/// The body OpenBuilder-era tutorials expect from a `GET` on the skill URL.
pub const VERIFICATION_BODY: &str = r#"{"version":"2.0","data":{}}"#;
