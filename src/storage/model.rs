//! What the storage boundary speaks: users, sessions, events, and the effects
//! an accepted webhook has. Times are Unix milliseconds (UTC).

use serde::Serialize;
use serde_json::Value;

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The last millisecond of the second `millis` falls in. Times that order
/// changes are kept at second precision, as Kakao's SETs carry them, so that
/// changes within one second tie and arrival order decides.
pub fn end_of_second(millis: i64) -> i64 {
    millis.div_euclid(1000) * 1000 + 999
}

/// A user as the service knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub user_id: String,
    /// `linked`, `unlinked`, `disabled` or `purged`.
    pub status: String,
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
    pub session_id: String,
    pub user_id: String,
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
    pub user_id: String,
    pub id_type: String,
    pub channel_public_id: String,
    pub channel_uuid: Option<String>,
    /// `added` or `blocked`.
    pub relation: String,
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
    pub payload: String,
    pub applied_at: Option<i64>,
}

/// Where a webhook came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Unlink,
    Channel,
    Share,
    SecurityEvent,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Unlink => "unlink",
            Source::Channel => "channel",
            Source::Share => "share",
            Source::SecurityEvent => "security_event",
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
    UntilRelinked { base: String, user_id: String },
}

/// A webhook to store, with what it does.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub source: Source,
    pub dedupe: Dedupe,
    pub event_type: String,
    pub user_id: Option<String>,
    /// When Kakao says it happened; `None` when Kakao does not say.
    pub event_time: Option<i64>,
    pub payload: Value,
    /// Applied in order, in the transaction that stores the event.
    pub effects: Vec<Effect>,
}

/// What an accepted event changes. Each change is applied only if it is
/// newer than the last change to the same attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Status `linked` (not for a purged account).
    Link {
        user_id: String,
    },
    /// Status `unlinked`, every session revoked, email, phone, scopes and
    /// profile erased; the row stays as a tombstone (unlinked_at, unlink_reason).
    Unlink {
        user_id: String,
        reason: String,
    },
    /// Like an unlink, with status `purged`: the Kakao account is gone.
    Purge {
        user_id: String,
    },
    /// Every session that existed at the event's time is revoked.
    RevokeSessions {
        user_id: String,
        reason: String,
    },
    Disable {
        user_id: String,
    },
    Enable {
        user_id: String,
    },
    /// Consent to scopes given (`consented`) or withdrawn.
    Scopes {
        user_id: String,
        scopes: Vec<String>,
        consented: bool,
    },
    Risk {
        user_id: String,
        flag: RiskFlag,
    },
    /// The email or phone number `old` became `new_value` (or nothing). The
    /// user is `user_id`, or whoever has `old` when no user id is given.
    IdentifierChanged {
        user_id: Option<String>,
        old: Identifier,
        new_value: Option<String>,
    },
    /// `old` was given to someone else: it is cleared.
    IdentifierRecycled {
        user_id: Option<String>,
        old: Identifier,
    },
    AssuranceLevel {
        user_id: String,
        level: String,
    },
    /// The profile changed at Kakao: what we hold is stale.
    ProfileStale {
        user_id: String,
    },
    /// Fetch the user's profile from Kakao in the background (a durable job).
    QueueProfileRefresh {
        user_id: String,
    },
    /// The user's relation with a Kakao Talk Channel.
    ChannelRelation(ChannelRelation),
}

/// A user's email or phone number, as an event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    Email(String),
    Phone(String),
}

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
