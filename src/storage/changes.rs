//! What an applied statement tells the app: the notification types of
//! `APP_NOTIFY_URL`, read off the statements the event writer ran. A
//! statement that changed no row (an older event, a user already gone)
//! notifies nothing, so the app hears of exactly what was applied.
//!
//! Bodies carry ids and what changed, never an email or phone number: the app
//! reads current values from `/api/users/{id}`, and nothing personal is kept
//! in the notification outbox after the user leaves.

use serde_json::{Map, Value, json};

use super::{
    Source,
    model::UserStatus,
    statements::{InsertNotification, Statement},
};

/// A change to tell the app of: its type and `data` (without `event_id`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Change {
    pub(super) kind: &'static str,
    pub(super) data: Map<String, Value>,
}

fn change(kind: &'static str, data: Value) -> Option<Change> {
    match data {
        Value::Object(data) => Some(Change { kind, data }),
        _ => None,
    }
}

/// Whether `statement` is a change the app hears of (else bookkeeping, or
/// part of a change told by its main statement).
pub(super) fn is_change(statement: &Statement) -> bool {
    use Statement as S;
    !matches!(
        statement,
        S::EnsureUser(_)
            | S::WithdrawAllScopes(_)
            | S::DeleteScopes(_)
            | S::EraseEventPayloads(_)
            | S::TieEventToHolder(_)
            | S::DropJobsOfGoneUser(_)
            | S::DropChannelRelationsOfGoneUser(_)
            | S::QueueJob(_)
            | S::QueueBotReply(_)
            | S::InsertNotification(_)
            | S::MarkEventChangedNothing(_)
    )
}

/// The change `statement` made, given that it changed `rows` rows (> 0).
pub(super) fn of(statement: &Statement, rows: u64) -> Option<Change> {
    use Statement as S;
    if !is_change(statement) {
        return None;
    }
    match statement {
        S::LinkUser(s) => change("user.linked", json!({"user_id": s.user_id})),
        S::EraseUser(s) => {
            let kind = match s.status {
                UserStatus::Purged => "user.purged",
                _ => "user.unlinked",
            };
            change(kind, json!({"user_id": s.user_id, "reason": s.reason}))
        }
        S::EraseUserNow(s) => change(
            "user.unlinked",
            json!({"user_id": s.user_id, "reason": s.reason}),
        ),
        S::SetAccountState(s) => {
            let kind = match s.status {
                UserStatus::Disabled => "user.disabled",
                _ => "user.enabled",
            };
            change(kind, json!({"user_id": s.user_id}))
        }
        S::UpsertScope(s) => change(
            "user.scopes_changed",
            json!({"user_id": s.user_id, "scopes": [s.scope], "consented": s.consented}),
        ),
        S::SetCredentialChangeRequired(s) => risk(&s.user_id, "credential_change_required"),
        S::SetCredentialCompromised(s) => risk(&s.user_id, "credential_compromised"),
        S::SetCredentialChanged(s) => risk(&s.user_id, "credential_changed"),
        S::ReplaceEmail(s) => change(
            "user.identifier_changed",
            json!({"user_id": s.user_id, "identifier": "email", "removed": s.new_value.is_none()}),
        ),
        S::ReplacePhone(s) => change(
            "user.identifier_changed",
            json!({"user_id": s.user_id, "identifier": "phone", "removed": s.new_value.is_none()}),
        ),
        S::SetAssuranceLevel(s) => change(
            "user.assurance_changed",
            json!({"user_id": s.user_id, "level": s.level}),
        ),
        S::MarkProfileStale(s) => change("user.profile_changed", json!({"user_id": s.user_id})),
        S::RevokeSessions(s) => change(
            "session.revoked",
            json!({"user_id": s.user_id, "reason": s.reason, "sessions": rows}),
        ),
        S::UpsertChannelRelation(s) => change(
            match s.relation {
                super::Relation::Added => "channel.added",
                super::Relation::Blocked => "channel.blocked",
            },
            json!({"user_id": s.user_id, "channel_public_id": s.channel_public_id.as_str()}),
        ),
        S::UpsertBotRoom(s) => change(
            if s.present {
                "bot.room_joined"
            } else {
                "bot.room_left"
            },
            json!({"bot_group_key": s.bot_group_key}),
        ),
        // Bookkeeping (see `is_change`).
        _ => None,
    }
}

fn risk(user_id: &crate::ids::UserId, flag: &str) -> Option<Change> {
    change(
        "user.risk_flagged",
        json!({"user_id": user_id, "flag": flag}),
    )
}

/// What storing an event tells the app by itself, whatever it changed: a
/// share has no effect on any table but is news to the app.
pub(super) fn on_store(source: Source, payload: &super::Payload) -> Option<Change> {
    match source {
        Source::Share => {
            let params = serde_json::from_str::<Value>(payload.as_str()).unwrap_or(Value::Null);
            change("share.delivered", json!({"params": params}))
        }
        _ => None,
    }
}

/// One change per type and event: the scopes of one SET's statements are
/// told in one `user.scopes_changed`.
pub(super) fn merged(changes: Vec<Change>) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::with_capacity(changes.len());
    for next in changes {
        match out.iter_mut().find(|c| c.kind == next.kind) {
            Some(same) => {
                if let (Some(Value::Array(scopes)), Some(Value::Array(more))) =
                    (same.data.get_mut("scopes"), next.data.get("scopes"))
                {
                    scopes.extend(more.iter().cloned());
                }
            }
            None => out.push(next),
        }
    }
    out
}

/// The row that queues `change` for `destination`, caused by event
/// `event_id`, at `now` (ms).
pub(super) fn notification(
    change: Change,
    event_id: i64,
    now: i64,
    (destination, status): (super::notifications::Destination, &'static str),
) -> Statement {
    let mut data = change.data;
    data.insert("event_id".into(), event_id.into());
    let timestamp = crate::clock::rfc3339(now);
    let body = json!({"type": change.kind, "timestamp": timestamp, "data": data});
    InsertNotification {
        notification_type: change.kind,
        event_id,
        body: body.to_string(),
        now,
        destination: destination.as_str(),
        status,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ids::UserId,
        storage::statements::{LinkUser, UpsertScope},
    };

    fn scope(name: &str) -> Statement {
        UpsertScope {
            user_id: UserId::parse("7").unwrap(),
            scope: name.into(),
            consented: true,
            time: 1,
        }
        .into()
    }

    #[test]
    fn the_scopes_of_one_event_are_told_in_one_notification() {
        let changes = [scope("a"), scope("b")]
            .iter()
            .filter_map(|s| of(s, 1))
            .collect();
        let merged = merged(changes);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].data["scopes"], json!(["a", "b"]));
    }

    #[test]
    fn a_body_names_its_type_time_and_source_event() {
        let link: Statement = LinkUser {
            user_id: UserId::parse("7").unwrap(),
            time: 1,
            now: 1,
        }
        .into();
        let Statement::InsertNotification(row) = notification(
            of(&link, 1).unwrap(),
            42,
            1_764_000_000_000,
            (crate::storage::notifications::Destination::App, "pending"),
        ) else {
            panic!("not a notification row");
        };
        let body: Value = serde_json::from_str(&row.body).unwrap();
        assert_eq!(body["type"], "user.linked");
        assert_eq!(body["timestamp"], "2025-11-24T16:00:00Z");
        assert_eq!(body["data"], json!({"user_id": "7", "event_id": 42}));
    }
}
