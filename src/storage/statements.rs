//! Every statement the event writer runs, as a type with named parameters.
//!
//! [`statements!`] declares a struct per statement; its fields are the
//! statement's `$1`, `$2`… in the order they are declared, and the one
//! `params` it generates binds them in that order. A caller builds a
//! statement by field name, so an argument cannot land in the wrong place;
//! `every_statement_uses_each_of_its_parameters` checks each SQL text against
//! its fields. The SQL is valid on both backends.

use super::model::{Relation, Source, UserStatus};
use crate::ids::{ChannelPublicId, UserId};

/// A value bound to a statement parameter, borrowed from the statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Param<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    MaybeInt(Option<i64>),
    Bool(bool),
}

pub(super) trait ToParam {
    fn to_param(&self) -> Param<'_>;
}

impl ToParam for String {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self)
    }
}
impl ToParam for Option<String> {
    fn to_param(&self) -> Param<'_> {
        Param::MaybeText(self.as_deref())
    }
}
impl ToParam for i64 {
    fn to_param(&self) -> Param<'_> {
        Param::Int(*self)
    }
}
impl ToParam for Option<i64> {
    fn to_param(&self) -> Param<'_> {
        Param::MaybeInt(*self)
    }
}
impl ToParam for bool {
    fn to_param(&self) -> Param<'_> {
        Param::Bool(*self)
    }
}
impl ToParam for &'static str {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self)
    }
}
impl ToParam for UserId {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self.as_str())
    }
}
impl ToParam for Option<UserId> {
    fn to_param(&self) -> Param<'_> {
        Param::MaybeText(self.as_ref().map(UserId::as_str))
    }
}
impl ToParam for ChannelPublicId {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self.as_str())
    }
}
impl ToParam for UserStatus {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self.as_str())
    }
}
impl ToParam for Relation {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self.as_str())
    }
}
impl ToParam for Source {
    fn to_param(&self) -> Param<'_> {
        Param::Text(self.as_str())
    }
}

/// Declares statement structs (fields = `$1`, `$2`… in order) and an enum
/// `$kind` of them.
macro_rules! statements {
    (
        $(#[$kind_doc:meta])* $kind:ident;
        $( $(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? } = $sql:expr; )*
    ) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq)]
            pub(crate) struct $name { $(pub(crate) $field: $ty),* }

            impl $name {
                pub(crate) const SQL: &'static str = $sql;
            }

            impl From<$name> for $kind {
                fn from(statement: $name) -> Self {
                    $kind::$name(statement)
                }
            }
        )*

        $(#[$kind_doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) enum $kind { $($name($name)),* }

        impl $kind {
            pub(crate) fn sql(&self) -> &'static str {
                match self { $($kind::$name(_) => $name::SQL),* }
            }

            /// The statement's name, as declared.
            #[allow(dead_code, reason = "not every kind's is read")]
            pub(crate) fn name(&self) -> &'static str {
                match self { $($kind::$name(_) => stringify!($name)),* }
            }

            /// The parameters, `$1` first.
            pub(crate) fn params(&self) -> Vec<Param<'_>> {
                match self {
                    $($kind::$name(s) => vec![$(s.$field.to_param()),*]),*
                }
            }

            /// (name, SQL, number of parameters) of every statement.
            #[cfg(test)]
            pub(crate) const ALL: &[(&str, &str, usize)] = &[
                $((stringify!($name), $sql, [$(stringify!($field)),*].len())),*
            ];
        }
    };
}

statements! {
    /// The row of an accepted event; returns its `event_id`, or no row for a repeat.
    EventInsert;

    InsertEvent {
        source: Source,
        dedupe_key: String,
        event_type: String,
        user_id: Option<UserId>,
        event_time: Option<i64>,
        received_at: i64,
        payload: String,
        unapplied_reason: Option<String>,
    } = "
        INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload, unapplied_reason)
        VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $8 IS NULL THEN $6 END, $7, $8)
        ON CONFLICT (source, dedupe_key) DO NOTHING
        RETURNING event_id";

    /// The dedupe key gets the user's last link time, read in the same statement.
    InsertEventUntilRelinked {
        source: Source,
        dedupe_base: String,
        event_type: String,
        user_id: Option<UserId>,
        event_time: Option<i64>,
        received_at: i64,
        payload: String,
        relinked_user: UserId,
    } = "
        INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload)
        VALUES ($1, $2 || ':' || COALESCE((SELECT CAST(linked_at AS TEXT) FROM users WHERE user_id = $8), '0'),
                $3, $4, $5, $6, $6, $7)
        ON CONFLICT (source, dedupe_key) DO NOTHING
        RETURNING event_id";
}

statements! {
    /// What an event's effects run, in the event's transaction.
    Statement;

    /// A user first seen in an event starts `linked`: Kakao only reports on
    /// users linked to the app.
    EnsureUser { user_id: UserId, now: i64 } = "
        INSERT INTO users (user_id, status, created_at, updated_at) VALUES ($1, 'linked', $2, $2)
        ON CONFLICT (user_id) DO NOTHING";

    /// `status` is `unlinked` or `purged`: personal data erased, a tombstone
    /// kept. A purged account stays purged (and keeps why).
    EraseUser { user_id: UserId, status: UserStatus, time: i64, reason: String, now: i64 } = "
        UPDATE users SET status = CASE WHEN status = 'purged' THEN 'purged' ELSE $2 END,
            email = NULL, phone_number = NULL, assurance_level = NULL, profile_stale = FALSE,
            unlinked_at = $3,
            unlink_reason = CASE WHEN status = 'purged' THEN unlink_reason ELSE $4 END,
            status_event_at = $3, email_event_at = $3, phone_event_at = $3,
            assurance_event_at = $3, profile_event_at = $3, updated_at = $5
        WHERE user_id = $1 AND (status_event_at IS NULL OR status_event_at <= $3)";

    WithdrawAllScopes { user_id: UserId, time: i64 } = "
        UPDATE user_scopes SET consented = FALSE, changed_at = $2
        WHERE user_id = $1 AND changed_at <= $2";

    /// The app erased the user (`DELETE /api/users`): at once, whatever the
    /// times of earlier events; a purged account stays purged.
    EraseUserNow { user_id: UserId, now: i64, reason: String } = "
        UPDATE users SET status = CASE WHEN status = 'purged' THEN 'purged' ELSE 'unlinked' END,
            email = NULL, phone_number = NULL, assurance_level = NULL, profile_stale = FALSE,
            unlinked_at = $2,
            unlink_reason = CASE WHEN status = 'purged' THEN unlink_reason ELSE $3 END,
            status_event_at = $2, email_event_at = $2, phone_event_at = $2,
            assurance_event_at = $2, profile_event_at = $2, updated_at = $2
        WHERE user_id = $1";

    DeleteScopes { user_id: UserId } = "DELETE FROM user_scopes WHERE user_id = $1";

    /// Once the user is gone (unlinked or purged), the payloads of their
    /// stored events (this one included) are erased: they carry tokens,
    /// emails and phone numbers. The rows stay, for order and dedupe.
    EraseEventPayloads { user_id: UserId, now: i64 } = "
        UPDATE events SET payload = 'null', payload_erased_at = $2
        WHERE user_id = $1 AND payload_erased_at IS NULL
          AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'))";

    /// An identifier event that names no user is tied to the identifier's
    /// holder (run before the identifier is replaced), so that the holder's
    /// leaving erases it too. Several holders of one identifier: none is tied.
    TieEventToHolder { source: Source, dedupe_key: String, email: Option<String>, phone: Option<String> } = "
        UPDATE events SET user_id = (
            SELECT MIN(user_id) FROM users
            WHERE (email = $3 OR phone_number = $4) AND status IN ('linked', 'disabled')
            HAVING COUNT(*) = 1)
        WHERE source = $1 AND dedupe_key = $2 AND user_id IS NULL";

    /// A gone user's channel relations: which channels they added or blocked
    /// is about them too.
    DropChannelRelationsOfGoneUser { user_id: UserId } = "
        DELETE FROM channel_relations WHERE user_id = $1
          AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'))";

    /// A gone user's pending jobs (a profile refresh would fetch their data again).
    DropJobsOfGoneUser { user_id: UserId } = "
        DELETE FROM jobs WHERE user_id = $1
          AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'))";

    /// Revokes the sessions that existed when the event happened.
    RevokeSessions { user_id: UserId, time: i64, now: i64, reason: String } = "
        UPDATE sessions SET revoked_at = $3, revoked_reason = $4
        WHERE user_id = $1 AND revoked_at IS NULL AND created_at <= $2";

    /// A user first seen here starts linked; a known one is linked again,
    /// unless purged (gone for good) or changed by a later event. One
    /// statement, not EnsureUser then an UPDATE: a link is the most common
    /// SET, and each statement is a b-tree search and a CHECK on SQLite.
    LinkUser { user_id: UserId, time: i64, now: i64 } = "
        INSERT INTO users (user_id, status, linked_at, status_event_at, created_at, updated_at)
        VALUES ($1, 'linked', $2, $2, $3, $3)
        ON CONFLICT (user_id) DO UPDATE SET
            status = 'linked', linked_at = $2, status_event_at = $2, updated_at = $3
        WHERE users.status <> 'purged'
          AND (users.status_event_at IS NULL OR users.status_event_at <= $2)";

    /// Disabled and enabled move between `linked` and `disabled` only; both
    /// record their time, so an older one arriving late changes nothing.
    SetAccountState { user_id: UserId, time: i64, now: i64, status: UserStatus } = "
        UPDATE users SET status = $4, status_event_at = $2, updated_at = $3
        WHERE user_id = $1 AND status IN ('linked', 'disabled')
          AND (status_event_at IS NULL OR status_event_at <= $2)";

    /// Only for a linked (or disabled) user: a gone user's data is not kept.
    UpsertScope { user_id: UserId, scope: String, consented: bool, time: i64 } = "
        INSERT INTO user_scopes (user_id, scope, consented, changed_at)
        SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('linked', 'disabled'))
        ON CONFLICT (user_id, scope) DO UPDATE SET
            consented = excluded.consented, changed_at = excluded.changed_at
        WHERE user_scopes.changed_at <= excluded.changed_at";

    SetCredentialChangeRequired { user_id: UserId, time: i64, now: i64 } = "
        UPDATE users SET credential_change_required_at = $2, updated_at = $3
        WHERE user_id = $1 AND status IN ('linked', 'disabled')
          AND (credential_change_required_at IS NULL OR credential_change_required_at < $2)";

    SetCredentialCompromised { user_id: UserId, time: i64, now: i64 } = "
        UPDATE users SET credential_compromised_at = $2, updated_at = $3
        WHERE user_id = $1 AND status IN ('linked', 'disabled')
          AND (credential_compromised_at IS NULL OR credential_compromised_at < $2)";

    SetCredentialChanged { user_id: UserId, time: i64, now: i64 } = "
        UPDATE users SET credential_changed_at = $2, updated_at = $3
        WHERE user_id = $1 AND status IN ('linked', 'disabled')
          AND (credential_changed_at IS NULL OR credential_changed_at < $2)";

    /// The user is `user_id` when the SET names one, else whoever has `old`.
    ReplaceEmail { user_id: Option<UserId>, time: i64, now: i64, old: String, new_value: Option<String> } = "
        UPDATE users SET email = $5, email_event_at = $2, updated_at = $3
        WHERE (user_id = $1 OR ($1 IS NULL AND email = $4)) AND status IN ('linked', 'disabled')
          AND (email_event_at IS NULL OR email_event_at <= $2)";

    /// As [`ReplaceEmail`], for the phone number.
    ReplacePhone { user_id: Option<UserId>, time: i64, now: i64, old: String, new_value: Option<String> } = "
        UPDATE users SET phone_number = $5, phone_event_at = $2, updated_at = $3
        WHERE (user_id = $1 OR ($1 IS NULL AND phone_number = $4)) AND status IN ('linked', 'disabled')
          AND (phone_event_at IS NULL OR phone_event_at <= $2)";

    SetAssuranceLevel { user_id: UserId, time: i64, now: i64, level: String } = "
        UPDATE users SET assurance_level = $4, assurance_event_at = $2, updated_at = $3
        WHERE user_id = $1 AND status IN ('linked', 'disabled')
          AND (assurance_event_at IS NULL OR assurance_event_at <= $2)";

    MarkProfileStale { user_id: UserId, time: i64, now: i64 } = "
        UPDATE users SET profile_stale = TRUE, profile_event_at = $2, updated_at = $3
        WHERE user_id = $1 AND (profile_event_at IS NULL OR profile_event_at <= $2)";

    /// Asked again while pending: due now, attempts reset, a new generation.
    QueueJob { kind: &'static str, user_id: UserId, now: i64 } = "
        INSERT INTO jobs (kind, user_id, run_at, created_at) VALUES ($1, $2, $3, $3)
        ON CONFLICT (kind, user_id) DO UPDATE SET
            run_at = excluded.run_at, attempts = 0, generation = jobs.generation + 1";

    /// The reply job of the bot event just stored (found by its dedupe key,
    /// as the writer knows no event id before the insert).
    QueueBotReply { dedupe_key: String, callback_token: Option<String>, now: i64, expires_at: i64 } = "
        INSERT INTO bot_outbox (kind, event_id, callback_token, run_at, expires_at, created_at)
        SELECT 'reply', event_id, $2, $3, $4, $3 FROM events WHERE source = 'bot' AND dedupe_key = $1";

    /// The event's effects changed nothing (see `changes::is_change`).
    MarkEventChangedNothing { event_id: i64 } = "
        UPDATE events SET changed_nothing = TRUE WHERE event_id = $1";

    /// A notification, queued by the event writer for a change it just
    /// applied (see `changes.rs`); `held` for the app while `APP_NOTIFY_URL`
    /// is unset.
    InsertNotification { notification_type: &'static str, event_id: i64, body: String, now: i64, destination: &'static str, status: &'static str } = "
        INSERT INTO notifications (notification_type, event_id, body, run_at, created_at, destination, status)
        VALUES ($1, $2, $3, $4, $4, $5, $6)";

    /// A later ENTRANCE or LEAVE wins; `joined_at`/`left_at` keep the last of each.
    UpsertBotRoom { bot_group_key: String, present: bool, time: i64 } = "
        INSERT INTO bot_rooms (bot_group_key, present, joined_at, left_at, changed_at)
        VALUES ($1, $2, CASE WHEN $2 THEN $3 END, CASE WHEN $2 THEN NULL ELSE $3 END, $3)
        ON CONFLICT (bot_group_key) DO UPDATE SET
            present = excluded.present,
            joined_at = COALESCE(excluded.joined_at, bot_rooms.joined_at),
            left_at = COALESCE(excluded.left_at, bot_rooms.left_at),
            changed_at = excluded.changed_at
        WHERE bot_rooms.changed_at <= excluded.changed_at";

    /// Kept by `changed_at`; not for a user who is gone (erased when they
    /// left, a later notice does not bring it back until they link again).
    UpsertChannelRelation {
        user_id: UserId,
        id_type: String,
        channel_public_id: ChannelPublicId,
        channel_uuid: Option<String>,
        relation: Relation,
        changed_at: i64,
    } = "
        INSERT INTO channel_relations (user_id, id_type, channel_public_id, channel_uuid, relation, changed_at)
        SELECT $1, $2, $3, $4, $5, $6
        WHERE NOT EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'))
        ON CONFLICT (user_id, channel_public_id) DO UPDATE SET
            id_type = excluded.id_type, channel_uuid = excluded.channel_uuid,
            relation = excluded.relation, changed_at = excluded.changed_at
        WHERE channel_relations.changed_at <= excluded.changed_at";
}

#[cfg(test)]
/// The `$n` a SQL text names.
pub(super) fn placeholders(sql: &str) -> std::collections::BTreeSet<usize> {
    let bytes = sql.as_bytes();
    let mut found = std::collections::BTreeSet::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'$' {
            let digits: String = sql[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            found.insert(digits.parse().expect("a $ is a placeholder"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_uses_each_of_its_parameters() {
        for (name, sql, fields) in Statement::ALL.iter().chain(EventInsert::ALL) {
            let expected: std::collections::BTreeSet<usize> = (1..=*fields).collect();
            assert_eq!(placeholders(sql), expected, "{name}");
        }
    }
}
