//! `APP_SIGNING_SECRET`: the Standard Webhooks key everything sent to the
//! app is signed with, parsed and checked with the other settings. Signing
//! with it is `outbound::signing`'s part.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};

const PREFIX: &str = "whsec_";

/// The key everything sent to the app is signed with. Never printed.
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// `whsec_` and the base64 of at least 24 random bytes (the official
    /// libraries make 24 or 32).
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or("must start with whsec_ (a Standard Webhooks secret)")?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after whsec_ is not base64")?;
        if key.len() < 24 {
            return Err(format!(
                "holds {} bytes; use at least 24 random bytes",
                key.len()
            ));
        }
        Ok(Self { key })
    }

    /// The key's bytes, for signing (`outbound::signing`).
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}
