//! The skill request OpenBuilder POSTs (no signature: anyone can send it).
//! Read, then every lazily parsed part touched: no input panics.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::skill::SkillRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        if let Ok(request) = SkillRequest::from_slice(data) {
            let _ = request.block();
            let _ = request.callback_url();
            let _ = request.is_bot_test();
            let _ = request.user_request.language();
            let _ = request.user_request.params.len();
            let _ = request.user_request.user.properties.raw.len();
            let _ = request.action.param("sys_date");
            let _ = request.action.entity::<serde_json::Value>("sys_date");
            let _ = request.intent.name.len();
            let _ = format!(
                "{:?}{:?}{:?}",
                *request.bot, *request.flow, *request.contexts
            );
        }
    });
});
