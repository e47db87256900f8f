//! Kakao Login's account status change webhook, as read after the Security
//! Event Token (RFC 8417) was verified: its claims ([`SetClaims`]) and the
//! events they carry ([`parse`], [`SecurityEvent`]). Verifying the token is
//! the caller's part; nothing here checks a signature.

mod event;
mod header;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

pub use self::event::{Identifier, ParsedEvent, SecurityEvent, UNKNOWN_TYPE, parse};
pub use self::header::{HeaderError, MAX_KID, key_id};

/// The claims of a SET, read after its signature was verified.
#[derive(Debug, Clone, Deserialize)]
pub struct SetClaims {
    pub iss: String,
    pub aud: Value,
    /// Kakao's user id (SSF forbids it; Kakao sends it).
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub iat: i64,
    pub jti: String,
    pub events: Map<String, Value>,
    /// The SSF subject identifier, when a transmitter sends one.
    #[serde(default)]
    pub sub_id: Option<Value>,
    /// Kakao spells the transaction id `txm`; RFC 8417 says `txn`.
    #[serde(default)]
    pub txm: Option<String>,
    #[serde(default)]
    pub txn: Option<String>,
}

/// `iat` as Kakao may send it: a number (possibly with a fraction) or a
/// numeric string.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| serde::de::Error::custom("iat is not a time")),
        Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("iat is not a time")),
        _ => Err(serde::de::Error::custom("iat is not a time")),
    }
}
