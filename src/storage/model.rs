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

/// A user as the service knows them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub user_id: String,
    /// `linked`, `unlinked`, `disabled` or `purged`.
    pub status: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    /// Space-separated consented scopes.
    pub scopes: String,
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
    pub effect: Effect,
}

/// What an accepted event changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Only recorded (Kakao Talk Share deliveries).
    None,
    /// Status `unlinked`, every session revoked, email, phone and profile
    /// erased; the row stays as a tombstone (unlinked_at, unlink_reason).
    Unlink { user_id: String, reason: String },
    /// The user's relation with a Kakao Talk Channel; an older change never
    /// overwrites a newer one.
    ChannelRelation(ChannelRelation),
}

/// The outcome of storing an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored and applied, with its id in the events log.
    Stored { event_id: i64 },
    /// Seen before: nothing changed.
    Duplicate,
}
