//! A Security Event Token's compact form and JOSE header, read before its
//! signature is verified: three dot-separated parts, a base64url JSON header
//! with `alg` pinned to RS256, `typ` `secevent+jwt` (RFC 8417 §2.3; the
//! `application/` prefix optional) and a `kid`. What is read here decides
//! nothing but which key to try.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

/// The longest `kid` looked up.
pub const MAX_KID: usize = 128;

/// Why a token's compact form or header is refused (`invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(String);

fn refused(message: impl Into<String>) -> HeaderError {
    HeaderError(message.into())
}

/// The header's `kid`, after checking the compact form, `alg` and `typ`.
pub fn key_id(token: &str) -> Result<String, HeaderError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(
            "the body is not a compact JWT (three dot-separated parts)",
        ));
    };
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| refused("the JWT header is not base64url JSON"))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        Some(other) => {
            // At most 32 bytes of it (not 32 characters: Hangul is 3 bytes
            // each, and the message is said back and logged).
            let mut end = other.len().min(32);
            while !other.is_char_boundary(end) {
                end -= 1;
            }
            let other = &other[..end];
            return Err(refused(format!("alg {other} is not accepted; only RS256")));
        }
        None => return Err(refused("the header has no alg")),
    }
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if typ.strip_prefix("application/").unwrap_or(&typ) != "secevent+jwt" {
        return Err(refused("typ must be secevent+jwt"));
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID => Ok(kid.to_owned()),
        Some(_) => Err(refused(format!("kid must be 1 to {MAX_KID} characters"))),
        None => Err(refused("the header has no kid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with_header(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn the_header_pins_rs256_typ_and_kid() {
        let ok = r#"{"alg":"RS256","typ":"secevent+jwt","kid":"k1"}"#;
        assert_eq!(key_id(&token_with_header(ok)).unwrap(), "k1");
        let prefixed = r#"{"alg":"RS256","typ":"Application/SecEvent+JWT","kid":"k1"}"#;
        assert!(key_id(&token_with_header(prefixed)).is_ok());
        for (header, says) in [
            (
                r#"{"alg":"none","typ":"secevent+jwt","kid":"k"}"#,
                "alg none",
            ),
            (
                r#"{"alg":"HS256","typ":"secevent+jwt","kid":"k"}"#,
                "alg HS256",
            ),
            (r#"{"alg":"RS256","typ":"JWT","kid":"k"}"#, "typ"),
            (r#"{"alg":"RS256","typ":"secevent+jwt"}"#, "no kid"),
        ] {
            let err = key_id(&token_with_header(header)).unwrap_err();
            assert!(err.to_string().contains(says), "{header}: {err}");
        }
        let long_kid = format!(
            r#"{{"alg":"RS256","typ":"secevent+jwt","kid":"{}"}}"#,
            "k".repeat(MAX_KID + 1)
        );
        assert!(key_id(&token_with_header(&long_kid)).is_err());
        assert!(key_id("not-a-jwt").is_err());
        assert!(key_id("a.b.c.d").is_err());
    }
}
