//! Ids that come from outside (Kakao, the application), parsed once at the
//! edge with one policy: 1 to [`MAX_ID_LEN`] printable ASCII characters, no
//! spaces. Past the edge, a value of one of these types is known to be valid,
//! and the type says which id it is.

use std::fmt;

use serde::Serialize;

/// The longest id accepted anywhere. Kakao's user ids are 64-bit numbers,
/// resource ids about 24 characters; 128 leaves room without inviting abuse.
pub const MAX_ID_LEN: usize = 128;

/// Why a presented id was refused; names the id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be 1 to {MAX_ID_LEN} printable ASCII characters")]
pub struct InvalidId {
    pub what: &'static str,
}

fn check(what: &'static str, value: &str) -> Result<(), InvalidId> {
    let valid = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(InvalidId { what })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as presented, surrounding whitespace ignored.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                let value = value.trim();
                check($what, value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::parse(&value)
            }
        }
    };
}

id_type!(
    /// A Kakao user id (회원번호), as the unlink callback, the channel
    /// webhook, SET subjects and the application name it.
    UserId,
    "user_id"
);
id_type!(
    /// `X-Kakao-Resource-ID`: Kakao's id of one delivery, the dedupe key.
    ResourceId,
    "X-Kakao-Resource-ID"
);
id_type!(
    /// A Kakao Talk Channel's public id (`_ZeUTxl`).
    ChannelPublicId,
    "channel_public_id"
);
id_type!(
    /// A login session's id (256 random bits, hex), as the application presents it.
    SessionId,
    "session id"
);

impl SessionId {
    /// A session id made here, from random bytes (always valid).
    pub fn from_random(bytes: &[u8; 32]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_length_policy_for_every_id() {
        assert_eq!(UserId::parse(" 42 ").unwrap().as_str(), "42");
        assert!(UserId::parse(&"9".repeat(MAX_ID_LEN)).is_ok());
        assert_eq!(
            UserId::parse(&"9".repeat(MAX_ID_LEN + 1)).unwrap_err(),
            InvalidId { what: "user_id" }
        );
        assert!(ResourceId::parse("").is_err());
        assert!(ChannelPublicId::parse("_a b").is_err());
        assert!(SessionId::parse("line\nbreak").is_err());
    }
}
