//! The console's sign-in: a cookie that proves the holder once presented
//! `INTERNAL_API_TOKEN` (an HMAC of its expiry under a key derived from the
//! token, so any instance can check it and rotating the token signs everyone
//! out), and a per-session CSRF token every form carries.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::clock::now_millis;

pub const COOKIE: &str = "kw_console";
/// How long a sign-in lasts.
const LIFETIME_MS: i64 = 12 * 3600 * 1000;

fn mac(token: &str, message: &str) -> Hmac<Sha256> {
    let mut key = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    key.update(b"kakao-webhooks console session");
    let derived = key.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&derived).expect("any key length");
    mac.update(message.as_bytes());
    mac
}

/// A new session cookie's value for `token`.
pub fn issue(token: &str) -> String {
    let expires = now_millis() + LIFETIME_MS;
    let signature = mac(token, &expires.to_string()).finalize().into_bytes();
    format!("{expires}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Whether `value` is a live session under one of `tokens`.
pub fn valid<'a>(value: &str, tokens: impl IntoIterator<Item = &'a str>) -> bool {
    let Some((expires, signature)) = value.split_once('.') else {
        return false;
    };
    let (Ok(at), Ok(signature)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(signature))
    else {
        return false;
    };
    at > now_millis()
        && tokens.into_iter().fold(false, |ok, token| {
            mac(token, expires).verify_slice(&signature).is_ok() | ok
        })
}

/// The form token of the session `value`.
pub fn csrf(value: &str, token: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(token, &format!("csrf:{value}")).finalize().into_bytes())
}

/// The session cookie of a request, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// `Set-Cookie` for `value` (empty: sign out). `Secure` when the request
/// came over https: to the service's own TLS listener (`over_tls`), or as a
/// TLS-terminating proxy says.
pub fn set_cookie(value: &str, headers: &HeaderMap, over_tls: bool) -> HeaderValue {
    let https = over_tls
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let age = if value.is_empty() {
        0
    } else {
        LIFETIME_MS / 1000
    };
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={age}{secure}"
    ))
    .expect("ASCII cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_under_its_token_only_and_its_form_token_is_its_own() {
        let value = issue("token-a");
        assert!(valid(&value, ["token-a"]));
        assert!(
            valid(&value, ["token-b", "token-a"]),
            "a previous token too"
        );
        assert!(!valid(&value, ["token-b"]));
        assert!(!valid("0.AAAA", ["token-a"]), "expired or forged");
        assert!(!valid(&value.replace('.', ":"), ["token-a"]));
        assert_ne!(csrf(&value, "token-a"), csrf(&value, "token-b"));
        assert_ne!(csrf(&value, "token-a"), csrf("other", "token-a"));
    }
}
