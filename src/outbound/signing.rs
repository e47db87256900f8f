//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), as the
//! official verifiers check them: `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, keyed with the bytes of a `whsec_<base64>`
//! secret.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use sha2::Sha256;

pub use crate::config::SigningSecret;

impl SigningSecret {
    /// `v1,<signature>` of `body` sent as `id` at `timestamp` (Unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key()).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a signed request.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |text: String| HeaderValue::from_str(&text).expect("ASCII header value");
        headers.insert("webhook-id", value(id.to_owned()));
        headers.insert("webhook-timestamp", value(timestamp.to_string()));
        headers.insert("webhook-signature", value(self.sign(id, timestamp, body)));
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // The vector of the official libraries' test suites.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_malformed_secret_says_what_is_wrong() {
        assert!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap_err()
                .contains("whsec_")
        );
        assert!(
            SigningSecret::parse("whsec_***")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            SigningSecret::parse("whsec_c2hvcnQ=")
                .unwrap_err()
                .contains("24")
        );
        assert_eq!(
            format!(
                "{:?}",
                SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
            ),
            "SigningSecret(***)"
        );
    }
}
