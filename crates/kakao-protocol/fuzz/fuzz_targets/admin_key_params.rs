//! The admin-key webhooks' parameters: a query, a form or a JSON body, then
//! each webhook's fields. Typed errors only, never a panic.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::admin_key::{ChannelChange, ShareDelivery, Unlink, parameters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Some((&flags, rest)) = data.split_first() else {
            return;
        };
        let (post, json) = (flags & 1 == 1, flags & 2 == 2);
        let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        let (query, body) = rest.split_at(split);
        let query = std::str::from_utf8(query).ok();
        let Ok(params) = parameters(post, query, json, body.get(1..).unwrap_or_default()) else {
            return;
        };
        let _ = Unlink::read(&params);
        let _ = ChannelChange::read(&params);
        let _ = ShareDelivery::read(&params);
    });
});
