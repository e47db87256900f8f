//! Verifying a Security Event Token (RFC 8417) as Kakao sends it.
//!
//! Order matters: the header is checked (alg pinned to RS256, typ, kid), the
//! key is found, the signature is verified over the raw bytes, and only then
//! are the claims read and checked. SETs carry no `exp`; an old `iat` is fine
//! (deliveries are retried late), one far in the future is not.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::value::RawValue;

use super::jwks::{KeyStore, Lookup};
pub use kakao_protocol::security_event::SetClaims;

/// How far in the future `iat` may be (clock skew).
const MAX_IAT_AHEAD: Duration = Duration::from_secs(5 * 60);

/// Why a SET is refused: the RFC 8935 `err` codes, and our own failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidKey(String),
    #[error("{0}")]
    InvalidIssuer(String),
    #[error("{0}")]
    InvalidAudience(String),
    /// Not the sender's fault (no key set could be had): 503, so Kakao retries.
    #[error("{0}")]
    Unavailable(String),
    /// Perhaps our own state is wrong, not the token (our clock behind its
    /// `iat`, our key set without its `kid` even refetched): 503, so a sender
    /// that retries will, and counted as our fault.
    #[error("{message}")]
    OurFault {
        reason: &'static str,
        message: String,
    },
    /// An unknown `kid` before a refetch is allowed: 503 with `Retry-After`.
    #[error("kid {kid:?} is not in the key set fetched before this SET; refetch allowed in {} s", after.as_secs())]
    RetryLater { kid: String, after: Duration },
}

impl SetError {
    /// The RFC 8935 `err` code; `None` for our own failures.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            SetError::InvalidRequest(_) => Some("invalid_request"),
            SetError::InvalidKey(_) => Some("invalid_key"),
            SetError::InvalidIssuer(_) => Some("invalid_issuer"),
            SetError::InvalidAudience(_) => Some("invalid_audience"),
            SetError::Unavailable(_) | SetError::RetryLater { .. } | SetError::OurFault { .. } => {
                None
            }
        }
    }

    fn request(message: impl Into<String>) -> Self {
        SetError::InvalidRequest(message.into())
    }
}

pub struct VerifiedSet {
    pub kid: String,
    pub claims: SetClaims,
    /// Every claim as sent (the JSON text signed), for the events log.
    pub raw_claims: Box<RawValue>,
}

pub struct Verifier {
    keys: Arc<KeyStore>,
    validation: Validation,
}

impl Verifier {
    pub fn new(keys: Arc<KeyStore>, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "aud"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        Self { keys, validation }
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedSet, SetError> {
        let kid = check_header(token)?;
        let key = match self.keys.key(&kid).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => {
                return Err(SetError::OurFault {
                    reason: "unknown_kid",
                    message: format!(
                        "kid {kid:?} is not in Kakao's key set, even fetched again just now"
                    ),
                });
            }
            Lookup::Refused(why) => {
                return Err(SetError::InvalidKey(format!("kid {kid:?}: {why}")));
            }
            Lookup::Unavailable(why) => return Err(SetError::Unavailable(why)),
            Lookup::RetryLater(after) => return Err(SetError::RetryLater { kid, after }),
        };
        // Decoded as text: the claims are parsed once, into `SetClaims`, and
        // stored as sent, not built into a `Value` and written out again.
        let data = jsonwebtoken::decode::<Box<RawValue>>(token, &key, &self.validation).map_err(
            |err| match err.kind() {
                ErrorKind::InvalidSignature => {
                    SetError::InvalidKey("the signature does not verify".into())
                }
                // Not reached with the aws-lc backend and `usable_key`'s checks
                // (only another backend or key family raises these; a mutant
                // deleting the arm survives): kept so a key problem is never
                // reported as a malformed request if either changes.
                ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
                    SetError::InvalidKey(format!("kid {kid:?} cannot verify: {err}"))
                }
                ErrorKind::InvalidIssuer => {
                    SetError::InvalidIssuer("iss is not Kakao's issuer".into())
                }
                ErrorKind::InvalidAudience => {
                    SetError::InvalidAudience("aud is not this app's REST API key".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    SetError::request(format!("missing claim {claim}"))
                }
                _ => SetError::request(format!("malformed claims: {err}")),
            },
        )?;
        let raw_claims = data.claims;
        let claims = serde_json::from_str::<SetClaims>(raw_claims.get())
            .map_err(|err| SetError::request(format!("malformed claims: {err}")))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // `>` and `>=` differ only at exactly 300 s ahead, which no test can
        // hit against the real clock (a surviving mutant; the tests pin 120 s
        // and an hour).
        if claims.iat > now + MAX_IAT_AHEAD.as_secs() as i64 {
            return Err(SetError::OurFault {
                reason: "clock_behind",
                message: format!(
                    "iat is {} s ahead of our clock: check this host's time (NTP)",
                    claims.iat - now
                ),
            });
        }
        if claims.jti.trim().is_empty() {
            return Err(SetError::request("jti is empty"));
        }
        if claims.events.is_empty() {
            return Err(SetError::request("events is empty"));
        }
        Ok(VerifiedSet {
            kid,
            claims,
            raw_claims,
        })
    }
}

/// The header's `kid`, after checking the compact form, `alg` and `typ`
/// (`kakao_protocol`, where it is fuzzed). Read before the signature is
/// verified, so it decides nothing but which key to try.
fn check_header(token: &str) -> Result<String, SetError> {
    kakao_protocol::security_event::key_id(token).map_err(|err| SetError::request(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_header_is_an_invalid_request() {
        let err = check_header("a.b.c.d").unwrap_err();
        assert_eq!(err.code(), Some("invalid_request"));
        assert!(err.to_string().contains("compact JWT"), "{err}");
    }
}
