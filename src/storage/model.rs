//! What the storage boundary speaks: users, sessions, events, and the effects
//! an accepted webhook has. Times are Unix milliseconds (UTC).

use serde::Serialize;
use serde_json::Value;

use crate::ids::{ChannelPublicId, SessionId, UserId};

/// A stored value that is not one the service writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// Declares an enum stored as text, with its text form and parser.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(value: &str) -> Result<Self, UnknownValue> {
                match value {
                    $($text => Ok($name::$variant),)*
                    other => Err(UnknownValue { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(value: String) -> Result<Self, UnknownValue> {
                Self::parse(&value)
            }
        }
    };
}

text_enum!(
    /// A user's standing with the app, as Kakao last reported it.
    UserStatus, "user status" {
        Linked = "linked",
        Unlinked = "unlinked",
        Disabled = "disabled",
        Purged = "purged",
    }
);

text_enum!(
    /// A user's relation with a Kakao Talk Channel.
    Relation, "channel relation" {
        Added = "added",
        Blocked = "blocked",
    }
);

impl From<kakao_protocol::admin_key::Relation> for Relation {
    fn from(relation: kakao_protocol::admin_key::Relation) -> Self {
        match relation {
            kakao_protocol::admin_key::Relation::Added => Relation::Added,
            kakao_protocol::admin_key::Relation::Blocked => Relation::Blocked,
        }
    }
}

/// A user as the service knows them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    /// Consented scopes, sorted (from `user_scopes`).
    #[sqlx(skip)]
    pub scopes: Vec<String>,
    pub assurance_level: Option<String>,
    pub profile_stale: bool,
    pub credential_change_required_at: Option<i64>,
    pub credential_compromised_at: Option<i64>,
    pub credential_changed_at: Option<i64>,
    pub linked_at: Option<i64>,
    pub unlinked_at: Option<i64>,
    pub unlink_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    #[sqlx(try_from = "String")]
    pub session_id: SessionId,
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

impl Session {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelRelation {
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    pub id_type: String,
    #[sqlx(try_from = "String")]
    pub channel_public_id: ChannelPublicId,
    pub channel_uuid: Option<String>,
    #[sqlx(try_from = "String")]
    pub relation: Relation,
    pub changed_at: i64,
}

/// An accepted webhook as stored in the events log.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredEvent {
    pub event_id: i64,
    pub source: String,
    pub dedupe_key: String,
    pub event_type: String,
    pub user_id: Option<String>,
    pub event_time: Option<i64>,
    pub received_at: i64,
    /// `null` once erased (the user left, or retention ran out).
    pub payload: String,
    pub applied_at: Option<i64>,
    pub payload_erased_at: Option<i64>,
    /// Verified and stored, but not applied, and why.
    pub unapplied_reason: Option<String>,
    /// Its effects changed nothing: older than what is stored, or about a
    /// user who is gone.
    pub changed_nothing: Option<bool>,
}

/// Where a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Unlink,
    Channel,
    Share,
    SecurityEvent,
    /// A KakaoTalk Bot API chatroom event.
    Bot,
    /// The app's own request through `/api` (a user erased).
    App,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Unlink => "unlink",
            Source::Channel => "channel",
            Source::Share => "share",
            Source::SecurityEvent => "security_event",
            Source::Bot => "bot",
            Source::App => "app",
        }
    }
}

/// How a repeated delivery is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// A key Kakao gives (X-Kakao-Resource-ID, a SET's iss + jti).
    Key(String),
    /// No key from Kakao (the unlink callback): the same notice about the same
    /// user is a repeat until the user links again, so the key is `base` plus
    /// the user's last link time.
    UntilRelinked { base: String, user_id: UserId },
}

/// An event's payload as the JSON text stored: built from a `Value`, or kept
/// as Kakao sent it (a SET's claims), which then is not parsed into a tree
/// and written out again.
#[derive(Debug, Clone)]
pub struct Payload(Box<serde_json::value::RawValue>);

impl Payload {
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// `value` as JSON (maps of strings, `Value`s: nothing that can fail).
    pub fn of(value: &impl Serialize) -> Self {
        Self(serde_json::value::to_raw_value(value).expect("a payload serializes to JSON"))
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self::of(&value)
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook to store, with what it does.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: Source,
    pub dedupe: Dedupe,
    pub event_type: String,
    pub user_id: Option<UserId>,
    /// When Kakao says it happened; `None` when Kakao does not say.
    pub event_time: Option<i64>,
    pub payload: Payload,
    /// Applied in order, in the transaction that stores the event.
    pub effects: Vec<Effect>,
    /// Set when the event is stored but cannot be applied (its effects are
    /// then empty): why.
    pub unapplied_reason: Option<String>,
}

/// What an accepted event changes. Each change is applied only if it is
/// newer than the last change to the same attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Status `linked` (not for a purged account).
    Link {
        user_id: UserId,
    },
    /// Status `unlinked`, every session revoked, email, phone, scopes and
    /// profile erased; the row stays as a tombstone (unlinked_at, unlink_reason).
    Unlink {
        user_id: UserId,
        reason: String,
    },
    /// Like an unlink, with status `purged`: the Kakao account is gone.
    Purge {
        user_id: UserId,
    },
    /// The app erased the user (they left the service): like an unlink, at
    /// once, whatever the times of earlier events.
    Erase {
        user_id: UserId,
        reason: String,
    },
    /// Every session that existed at the event's time is revoked.
    RevokeSessions {
        user_id: UserId,
        reason: String,
    },
    Disable {
        user_id: UserId,
    },
    Enable {
        user_id: UserId,
    },
    /// Consent to scopes given (`consented`) or withdrawn.
    Scopes {
        user_id: UserId,
        scopes: Vec<String>,
        consented: bool,
    },
    Risk {
        user_id: UserId,
        flag: RiskFlag,
    },
    /// The email or phone number `old` became `new_value` (or nothing). The
    /// user is `user_id`, or whoever has `old` when no user id is given.
    IdentifierChanged {
        user_id: Option<UserId>,
        old: Identifier,
        new_value: Option<String>,
    },
    /// `old` was given to someone else: it is cleared.
    IdentifierRecycled {
        user_id: Option<UserId>,
        old: Identifier,
    },
    AssuranceLevel {
        user_id: UserId,
        level: String,
    },
    /// The profile changed at Kakao: what we hold is stale.
    ProfileStale {
        user_id: UserId,
    },
    /// Fetch the user's profile from Kakao in the background (a durable job).
    QueueProfileRefresh {
        user_id: UserId,
    },
    /// The user's relation with a Kakao Talk Channel.
    ChannelRelation(ChannelRelation),
    /// Answer the bot event stored under `dedupe_key` (a durable reply job;
    /// see `storage/bot.rs`). `expires_at` (ms) is when its callback token
    /// stops being usable.
    QueueBotReply {
        dedupe_key: String,
        callback_token: Option<String>,
        expires_at: i64,
    },
    /// The bot entered (`present`) or left a room.
    BotRoom {
        bot_group_key: String,
        present: bool,
    },
}

/// A user's email or phone number, as an event names it.
pub use kakao_protocol::security_event::Identifier;

/// Risk signals kept as the time they were last raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskFlag {
    CredentialChangeRequired,
    CredentialCompromised,
    CredentialChanged,
}

/// The outcome of storing an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored and applied, with its id in the events log.
    Stored { event_id: i64 },
    /// Seen before: nothing changed.
    Duplicate,
}
