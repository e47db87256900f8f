//! The SkillResponse an upstream app returns, through Kakao's limits: no
//! input panics, and what passes re-serialises to JSON that is read back
//! and passes again (what Kakao gets is what was checked).
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::skill::SkillResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Ok(response) = serde_json::from_slice::<SkillResponse>(data) else {
            return;
        };
        let _ = response.validate();
        if let Ok(checked) = response.to_checked_json() {
            let again: SkillResponse =
                serde_json::from_slice(checked.bytes()).expect("checked JSON reads back");
            assert!(again.validate().is_ok(), "checked JSON passes again");
        }
    });
});
