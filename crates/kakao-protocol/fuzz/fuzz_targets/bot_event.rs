//! A Bot API webhook frame `{"op","t","d"}`: any `t` and `d` read into a
//! typed event or a typed error, never a panic.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::bot::BotEvent;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Ok(frame) = serde_json::from_slice::<Map<String, Value>>(data) else {
            return;
        };
        let t = frame.get("t").and_then(Value::as_str).unwrap_or_default();
        let Some(Value::Object(d)) = frame.get("d").cloned() else {
            return;
        };
        let token = d
            .get("callbackToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Ok(event) = BotEvent::from_parts(t, d, token) {
            let _ = event.is_channel_chatroom();
        }
    });
});
