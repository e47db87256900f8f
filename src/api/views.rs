//! What `/api` answers, as types: each handler returns one of these, and
//! the OpenAPI document ([`super::openapi`]) is derived from the same types,
//! so the document cannot drift from the answers. Times are RFC 3339 (UTC).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    clock::rfc3339,
    outbound::notifier::webhook_id,
    storage::{
        ChannelRelation, Session, StoredEvent, User,
        alerts::AlertRow,
        bot::{BotMessage, BotRoom},
        destinations::DestinationState,
        notifications::Notification,
    },
};

fn maybe_time(millis: Option<i64>) -> Option<String> {
    millis.map(rfc3339)
}

/// The body of every error `/api` answers.
#[derive(Serialize, ToSchema)]
pub struct ErrorView {
    /// A stable code: `invalid_request`, `unauthorized`, `not_found`,
    /// `user_inactive`, `not_failed`, `bot_not_in_room`,
    /// `invalid_skill_response`, `not_configured`, `too_many_guesses`, or
    /// a 503's cause.
    pub error: String,
    /// What was wrong, and what to do.
    pub message: String,
    /// A 422's rule violations, each `{path, rule}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<Value>>,
}

/// `POST /api/sessions`.
#[derive(Deserialize, ToSchema)]
pub struct NewSession {
    /// The Kakao user id (회원번호) who signed in.
    #[schema(pattern = r"^[!-~]{1,128}$", example = "1234567890")]
    pub user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub session_id: String,
    pub user_id: String,
    /// `false` once revoked (logout, unlink, a Kakao security event).
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

impl From<&Session> for SessionView {
    fn from(session: &Session) -> Self {
        Self {
            session_id: session.session_id.to_string(),
            user_id: session.user_id.to_string(),
            active: session.is_active(),
            created_at: rfc3339(session.created_at),
            revoked_at: maybe_time(session.revoked_at),
            revoked_reason: session.revoked_reason.clone(),
        }
    }
}

/// The answer of `POST /api/sessions`.
#[derive(Serialize, ToSchema)]
pub struct SessionStarted {
    pub session_id: String,
    pub user_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A user as Kakao last described them.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    /// `linked`, `unlinked`, `disabled` or `purged`.
    pub status: String,
    pub scopes: Vec<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub assurance_level: Option<String>,
    pub profile_stale: bool,
    pub risk: RiskView,
    #[schema(format = DateTime)]
    pub linked_at: Option<String>,
    #[schema(format = DateTime)]
    pub unlinked_at: Option<String>,
    pub unlink_reason: Option<String>,
    pub channels: Vec<ChannelView>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// When Kakao flagged the user's credentials.
#[derive(Serialize, ToSchema)]
pub struct RiskView {
    #[schema(format = DateTime)]
    pub credential_change_required_at: Option<String>,
    #[schema(format = DateTime)]
    pub credential_compromised_at: Option<String>,
    #[schema(format = DateTime)]
    pub credential_changed_at: Option<String>,
}

/// The user's relation with a Kakao Talk Channel.
#[derive(Serialize, ToSchema)]
pub struct ChannelView {
    pub channel_public_id: String,
    pub channel_uuid: Option<String>,
    /// `added` or `blocked`.
    pub relation: String,
    pub id_type: String,
    #[schema(format = DateTime)]
    pub changed_at: String,
}

impl UserView {
    pub fn new(user: &User, channels: &[ChannelRelation]) -> Self {
        Self {
            user_id: user.user_id.to_string(),
            status: user.status.to_string(),
            scopes: user.scopes.clone(),
            email: user.email.clone(),
            phone_number: user.phone_number.clone(),
            assurance_level: user.assurance_level.clone(),
            profile_stale: user.profile_stale,
            risk: RiskView {
                credential_change_required_at: maybe_time(user.credential_change_required_at),
                credential_compromised_at: maybe_time(user.credential_compromised_at),
                credential_changed_at: maybe_time(user.credential_changed_at),
            },
            linked_at: maybe_time(user.linked_at),
            unlinked_at: maybe_time(user.unlinked_at),
            unlink_reason: user.unlink_reason.clone(),
            channels: channels
                .iter()
                .map(|c| ChannelView {
                    channel_public_id: c.channel_public_id.to_string(),
                    channel_uuid: c.channel_uuid.clone(),
                    relation: c.relation.to_string(),
                    id_type: c.id_type.clone(),
                    changed_at: rfc3339(c.changed_at),
                })
                .collect(),
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
        }
    }
}

/// An accepted webhook (or an app's erase) from the events log.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub event_id: i64,
    /// Where it came from: `unlink`, `channel`, `share`, `security_event`,
    /// `bot`, `app`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub user_id: Option<String>,
    #[schema(format = DateTime)]
    pub event_time: Option<String>,
    #[schema(format = DateTime)]
    pub received_at: String,
    #[schema(format = DateTime)]
    pub applied_at: Option<String>,
    pub unapplied_reason: Option<String>,
    pub changed_nothing: bool,
    /// What Kakao sent, decoded; `null` once erased.
    pub payload: Value,
    #[schema(format = DateTime)]
    pub payload_erased_at: Option<String>,
}

impl From<&StoredEvent> for EventView {
    fn from(event: &StoredEvent) -> Self {
        Self {
            event_id: event.event_id,
            source: event.source.clone(),
            event_type: event.event_type.clone(),
            user_id: event.user_id.clone(),
            event_time: maybe_time(event.event_time),
            received_at: rfc3339(event.received_at),
            applied_at: maybe_time(event.applied_at),
            unapplied_reason: event.unapplied_reason.clone(),
            changed_nothing: event.changed_nothing.unwrap_or(false),
            payload: serde_json::from_str(&event.payload).unwrap_or(Value::Null),
            payload_erased_at: maybe_time(event.payload_erased_at),
        }
    }
}

/// A page of events; ask again with `?after=next_after`.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    pub next_after: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub name: String,
    pub family: Option<String>,
    /// `raised` or `resolved`.
    pub state: String,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&AlertRow> for AlertView {
    fn from(a: &AlertRow) -> Self {
        Self {
            name: a.name.clone(),
            family: a.family.clone(),
            state: a.state.clone(),
            summary: a.summary.clone(),
            value: a.value,
            threshold: a.threshold,
            since: rfc3339(a.since),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// Active alerts, and every alert recently raised or resolved.
#[derive(Serialize, ToSchema)]
pub struct AlertsPage {
    pub active: Vec<AlertView>,
    pub alerts: Vec<AlertView>,
}

/// A notification sent (or to be sent) to the app.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub notification_id: i64,
    /// The Standard Webhooks `webhook-id` it is sent with.
    pub webhook_id: String,
    #[serde(rename = "type")]
    pub notification_type: String,
    pub event_id: Option<i64>,
    /// `pending`, `delivered`, `failed` or `held`.
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Set while pending.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// The notification's JSON body, as sent.
    pub body: Value,
}

impl From<&Notification> for NotificationView {
    fn from(row: &Notification) -> Self {
        Self {
            notification_id: row.notification_id,
            webhook_id: webhook_id(row.notification_id, row.created_at),
            notification_type: row.notification_type.clone(),
            event_id: row.event_id,
            status: row.status.clone(),
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error.clone(),
            created_at: rfc3339(row.created_at),
            next_attempt_at: (row.status == "pending").then(|| rfc3339(row.run_at)),
            finished_at: maybe_time(row.finished_at),
            body: serde_json::from_str(&row.body).unwrap_or(Value::Null),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationsPage {
    pub notifications: Vec<NotificationView>,
    pub next_after: i64,
}

/// How many notifications a replay queued.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub queued: u64,
}

/// How many held notifications a renotify queued, and how many matching
/// ones were queued before.
#[derive(Serialize, ToSchema)]
pub struct Renotified {
    pub queued: u64,
    pub already: i64,
}

/// Where notifications go, and whether they go now.
#[derive(Serialize, ToSchema)]
pub struct DestinationView {
    /// `app` or `stream`.
    pub destination: String,
    /// `active` or `paused`.
    pub state: String,
    #[schema(format = DateTime)]
    pub since: Option<String>,
    pub reason: Option<String>,
    /// Since when every attempt has failed.
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
}

impl From<&DestinationState> for DestinationView {
    fn from(row: &DestinationState) -> Self {
        Self {
            destination: row.destination.clone(),
            state: row.state.clone(),
            since: (row.since > 0).then(|| rfc3339(row.since)),
            reason: row.reason.clone(),
            failing_since: maybe_time(row.failing_since),
        }
    }
}

/// The destination after `POST /api/notifications/resume`.
#[derive(Serialize, ToSchema)]
pub struct Resumed {
    #[serde(flatten)]
    pub destination: DestinationView,
    /// `false` when it was not paused.
    pub resumed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MessageQueuedView {
    pub message_id: i64,
}

/// A message the app sent through the bot.
#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub message_id: i64,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<MessageError>,
    pub result: Option<MessageResult>,
}

/// Kakao's error for the last attempt.
#[derive(Serialize, ToSchema)]
pub struct MessageError {
    pub code: Option<i64>,
    pub msg: Option<String>,
}

/// Kakao's count of who the message reached.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageResult {
    pub total_count: Option<i64>,
    pub send_count: Option<i64>,
    pub error_count: Option<i64>,
}

impl From<&BotMessage> for MessageView {
    fn from(message: &BotMessage) -> Self {
        // Replies end as skipped or expired too; a message is only ever these three.
        let status = match message.status.as_str() {
            "pending" => "pending",
            "sent" => "sent",
            _ => "failed",
        };
        let last_error = match (message.last_error_code, &message.last_error_msg) {
            (None, None) => None,
            (code, msg) => Some(MessageError {
                code,
                msg: msg.clone(),
            }),
        };
        let result = message
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .filter(Value::is_object)
            .map(|r| {
                let count = |name: &str| r.get(name).and_then(Value::as_i64);
                MessageResult {
                    total_count: count("totalCount"),
                    send_count: count("sendCount"),
                    error_count: count("errorCount"),
                }
            });
        Self {
            message_id: message.outbox_id,
            status: status.to_owned(),
            attempts: message.attempts,
            last_error,
            result,
        }
    }
}

/// A room the bot is in, or was in.
#[derive(Serialize, ToSchema)]
pub struct RoomView {
    pub bot_group_key: String,
    pub present: bool,
    #[schema(format = DateTime)]
    pub joined_at: Option<String>,
    #[schema(format = DateTime)]
    pub left_at: Option<String>,
}

impl From<&BotRoom> for RoomView {
    fn from(room: &BotRoom) -> Self {
        Self {
            bot_group_key: room.bot_group_key.clone(),
            present: room.present,
            joined_at: maybe_time(room.joined_at),
            left_at: maybe_time(room.left_at),
        }
    }
}

/// A page of rooms, by key; ask again with `?after=next_after`.
#[derive(Serialize, ToSchema)]
pub struct RoomsPage {
    pub rooms: Vec<RoomView>,
    pub next_after: Option<String>,
}
