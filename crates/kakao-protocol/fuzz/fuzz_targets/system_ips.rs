//! Kakao's published addresses (`GET /v1/system/ips`): any body, any time.
//! A list or a typed error, never a panic; every network returned parses
//! as an address or CIDR, and a list is never empty.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::system_ips::inbound_callback_networks;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Some((now, body)) = data.split_first_chunk::<8>() else {
            return;
        };
        let now = i64::from_le_bytes(*now);
        if let Ok(networks) = inbound_callback_networks(body, now) {
            assert!(!networks.is_empty());
            for network in &networks {
                let address = network.split('/').next().unwrap();
                assert!(address.parse::<std::net::IpAddr>().is_ok(), "{network}");
            }
        }
    });
});
