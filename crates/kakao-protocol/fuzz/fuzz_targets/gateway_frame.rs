//! A frame from the Bot API gateway's WebSocket: a typed frame or a typed
//! error, never a panic.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::bot::gateway::Incoming;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = Incoming::parse(text);
        }
    });
});
