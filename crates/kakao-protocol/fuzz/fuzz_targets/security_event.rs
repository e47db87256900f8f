//! The claims of a Security Event Token, as read after the signature check
//! (a test key can sign anything): no claims panic the event mapping.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::security_event::{SetClaims, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Ok(claims) = serde_json::from_slice::<SetClaims>(data) else {
            return;
        };
        for event in parse(&claims, "https://kauth.kakao.com") {
            let _ = event.type_name();
            let _ = event.unapplied_reason();
        }
    });
});
