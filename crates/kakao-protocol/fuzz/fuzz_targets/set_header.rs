//! A Security Event Token's compact form and header, read before the
//! signature check: anything that is not three parts with a base64url JSON
//! header pinning RS256 and `secevent+jwt` gets a short typed error; what
//! passes names a `kid` of 1 to 128 characters.
#![no_main]

#[path = "bounded.rs"]
mod bounded;

use kakao_protocol::security_event::{MAX_KID, key_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bounded::check(data.len(), || {
        let Ok(token) = std::str::from_utf8(data) else {
            return;
        };
        match key_id(token) {
            Ok(kid) => {
                assert!(!kid.is_empty() && kid.len() <= MAX_KID, "kid {kid:?}");
                assert_eq!(token.split('.').count(), 3);
            }
            // The error is said back to Kakao and logged: short, whatever was sent.
            Err(err) => assert!(err.to_string().len() <= 120, "{err}"),
        }
    });
});
