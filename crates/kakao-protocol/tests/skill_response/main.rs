//! SkillResponse: our builders produce exactly Kakao's documented examples,
//! and every limit of the guide is enforced at its boundary.

mod details;
mod golden;
mod limits;
