//! What each effect does to the database, as a plan of SQL statements valid
//! on both backends. Every change is guarded by the event time of the last
//! change to the same attribute, so events applied out of order end in the
//! state their times say (a late user-linked after user-unlinked leaves the
//! user unlinked).

use super::{Effect, Identifier, RiskFlag};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    Bool(bool),
}

/// One SQL statement of a plan.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

/// A user first seen in an event starts `linked`: Kakao only reports on
/// users linked to the app.
const ENSURE_USER: &str = "
    INSERT INTO users (user_id, status, created_at, updated_at) VALUES ($1, 'linked', $2, $2)
    ON CONFLICT (user_id) DO NOTHING";

/// `$5` is `unlinked` or `purged`: personal data erased, a tombstone kept.
const ERASE_USER: &str = "
    UPDATE users SET status = $5, email = NULL, phone_number = NULL,
        assurance_level = NULL, profile_stale = FALSE, unlinked_at = $2, unlink_reason = $3,
        status_event_at = $2, email_event_at = $2, phone_event_at = $2,
        assurance_event_at = $2, profile_event_at = $2, updated_at = $4
    WHERE user_id = $1 AND (status_event_at IS NULL OR status_event_at <= $2)";

const WITHDRAW_ALL_SCOPES: &str = "
    UPDATE user_scopes SET consented = FALSE, changed_at = $2
    WHERE user_id = $1 AND changed_at <= $2";

/// Revokes the sessions that existed when the event happened.
const REVOKE_SESSIONS: &str = "
    UPDATE sessions SET revoked_at = $3, revoked_reason = $4
    WHERE user_id = $1 AND revoked_at IS NULL AND created_at <= $2";

/// A purged account is gone for good: nothing links it again.
const LINK_USER: &str = "
    UPDATE users SET status = 'linked', linked_at = $2, status_event_at = $2, updated_at = $3
    WHERE user_id = $1 AND status <> 'purged'
      AND (status_event_at IS NULL OR status_event_at <= $2)";

/// Disabled and enabled move between `linked` and `disabled` only; both
/// record their time, so an older one arriving late changes nothing.
const SET_ACCOUNT_STATE: &str = "
    UPDATE users SET status = $4, status_event_at = $2, updated_at = $3
    WHERE user_id = $1 AND status IN ('linked', 'disabled')
      AND (status_event_at IS NULL OR status_event_at <= $2)";

const UPSERT_SCOPE: &str = "
    INSERT INTO user_scopes (user_id, scope, consented, changed_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (user_id, scope) DO UPDATE SET
        consented = excluded.consented, changed_at = excluded.changed_at
    WHERE user_scopes.changed_at <= excluded.changed_at";

const SET_CREDENTIAL_CHANGE_REQUIRED: &str = "
    UPDATE users SET credential_change_required_at = $2, updated_at = $3
    WHERE user_id = $1 AND (credential_change_required_at IS NULL OR credential_change_required_at < $2)";
const SET_CREDENTIAL_COMPROMISED: &str = "
    UPDATE users SET credential_compromised_at = $2, updated_at = $3
    WHERE user_id = $1 AND (credential_compromised_at IS NULL OR credential_compromised_at < $2)";
const SET_CREDENTIAL_CHANGED: &str = "
    UPDATE users SET credential_changed_at = $2, updated_at = $3
    WHERE user_id = $1 AND (credential_changed_at IS NULL OR credential_changed_at < $2)";

/// The user is `$1` when the SET names one, else whoever has the old value `$4`.
const REPLACE_EMAIL: &str = "
    UPDATE users SET email = $5, email_event_at = $2, updated_at = $3
    WHERE (user_id = $1 OR ($1 IS NULL AND email = $4))
      AND (email_event_at IS NULL OR email_event_at <= $2)";
const REPLACE_PHONE: &str = "
    UPDATE users SET phone_number = $5, phone_event_at = $2, updated_at = $3
    WHERE (user_id = $1 OR ($1 IS NULL AND phone_number = $4))
      AND (phone_event_at IS NULL OR phone_event_at <= $2)";

const SET_ASSURANCE_LEVEL: &str = "
    UPDATE users SET assurance_level = $4, assurance_event_at = $2, updated_at = $3
    WHERE user_id = $1 AND (assurance_event_at IS NULL OR assurance_event_at <= $2)";

const MARK_PROFILE_STALE: &str = "
    UPDATE users SET profile_stale = TRUE, profile_event_at = $2, updated_at = $3
    WHERE user_id = $1 AND (profile_event_at IS NULL OR profile_event_at <= $2)";

/// Asked again while pending: due now, attempts reset, a new generation.
const QUEUE_JOB: &str = "
    INSERT INTO jobs (kind, user_id, run_at, created_at) VALUES ($1, $2, $3, $3)
    ON CONFLICT (kind, user_id) DO UPDATE SET
        run_at = excluded.run_at, attempts = 0, generation = jobs.generation + 1";

const UPSERT_CHANNEL_RELATION: &str = "
    INSERT INTO channel_relations (user_id, id_type, channel_public_id, channel_uuid, relation, changed_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (user_id, channel_public_id) DO UPDATE SET
        id_type = excluded.id_type, channel_uuid = excluded.channel_uuid,
        relation = excluded.relation, changed_at = excluded.changed_at
    WHERE channel_relations.changed_at <= excluded.changed_at";

/// The statements that apply `effect`, as of `time`, applied at `now`.
pub(super) fn plan(effect: &Effect, time: i64, now: i64) -> Vec<Statement> {
    use Arg::{Bool, Int, MaybeText, Text};
    let statement = |sql, args| Statement { sql, args };
    let ensure = |user: &str| statement(ENSURE_USER, vec![Text(user.into()), Int(now)]);
    // (user, event time, now, extra…): the argument order most statements share.
    let timed = |sql, user: &str, extra: Vec<Arg>| {
        let mut args = vec![Text(user.into()), Int(time), Int(now)];
        args.extend(extra);
        statement(sql, args)
    };
    let erase = |user: &str, status: &str, reason: &str| {
        vec![
            ensure(user),
            statement(
                ERASE_USER,
                vec![
                    Text(user.into()),
                    Int(time),
                    Text(reason.into()),
                    Int(now),
                    Text(status.into()),
                ],
            ),
            statement(WITHDRAW_ALL_SCOPES, vec![Text(user.into()), Int(time)]),
            timed(
                REVOKE_SESSIONS,
                user,
                vec![Text(format!("{status}: {reason}"))],
            ),
        ]
    };
    match effect {
        Effect::Unlink { user_id, reason } => erase(user_id, "unlinked", reason),
        Effect::Purge { user_id } => erase(user_id, "purged", "account-purged"),
        Effect::Link { user_id } => vec![ensure(user_id), timed(LINK_USER, user_id, vec![])],
        Effect::RevokeSessions { user_id, reason } => {
            vec![timed(REVOKE_SESSIONS, user_id, vec![Text(reason.clone())])]
        }
        Effect::Disable { user_id } => vec![
            ensure(user_id),
            timed(SET_ACCOUNT_STATE, user_id, vec![Text("disabled".into())]),
        ],
        Effect::Enable { user_id } => vec![
            ensure(user_id),
            timed(SET_ACCOUNT_STATE, user_id, vec![Text("linked".into())]),
        ],
        Effect::Scopes {
            user_id,
            scopes,
            consented,
        } => std::iter::once(ensure(user_id))
            .chain(scopes.iter().map(|scope| {
                statement(
                    UPSERT_SCOPE,
                    vec![
                        Text(user_id.clone()),
                        Text(scope.clone()),
                        Bool(*consented),
                        Int(time),
                    ],
                )
            }))
            .collect(),
        Effect::Risk { user_id, flag } => {
            let sql = match flag {
                RiskFlag::CredentialChangeRequired => SET_CREDENTIAL_CHANGE_REQUIRED,
                RiskFlag::CredentialCompromised => SET_CREDENTIAL_COMPROMISED,
                RiskFlag::CredentialChanged => SET_CREDENTIAL_CHANGED,
            };
            vec![ensure(user_id), timed(sql, user_id, vec![])]
        }
        Effect::IdentifierChanged {
            user_id,
            old,
            new_value,
        } => replace_identifier(user_id.as_deref(), old, new_value.clone(), time, now),
        Effect::IdentifierRecycled { user_id, old } => {
            replace_identifier(user_id.as_deref(), old, None, time, now)
        }
        Effect::AssuranceLevel { user_id, level } => vec![
            ensure(user_id),
            timed(SET_ASSURANCE_LEVEL, user_id, vec![Text(level.clone())]),
        ],
        Effect::ProfileStale { user_id } => {
            vec![ensure(user_id), timed(MARK_PROFILE_STALE, user_id, vec![])]
        }
        Effect::QueueProfileRefresh { user_id } => vec![statement(
            QUEUE_JOB,
            vec![
                Text(super::jobs::PROFILE_REFRESH.into()),
                Text(user_id.clone()),
                Int(now),
            ],
        )],
        Effect::ChannelRelation(relation) => vec![statement(
            UPSERT_CHANNEL_RELATION,
            vec![
                Text(relation.user_id.clone()),
                Text(relation.id_type.clone()),
                Text(relation.channel_public_id.clone()),
                MaybeText(relation.channel_uuid.clone()),
                Text(relation.relation.clone()),
                Int(relation.changed_at),
            ],
        )],
    }
}

fn replace_identifier(
    user_id: Option<&str>,
    old: &Identifier,
    new_value: Option<String>,
    time: i64,
    now: i64,
) -> Vec<Statement> {
    use Arg::{Int, MaybeText, Text};
    let (sql, old_value) = match old {
        Identifier::Email(email) => (REPLACE_EMAIL, email),
        Identifier::Phone(phone) => (REPLACE_PHONE, phone),
    };
    let mut plan = Vec::new();
    if let Some(user) = user_id {
        plan.push(Statement {
            sql: ENSURE_USER,
            args: vec![Text(user.into()), Int(now)],
        });
    }
    plan.push(Statement {
        sql,
        args: vec![
            MaybeText(user_id.map(str::to_owned)),
            Int(time),
            Int(now),
            Text(old_value.clone()),
            MaybeText(new_value),
        ],
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlink_erases_data_and_revokes_only_sessions_older_than_the_event() {
        let effect = Effect::Unlink {
            user_id: "42".into(),
            reason: "UNLINK_FROM_APPS".into(),
        };
        let statements = plan(&effect, 1_000, 2_000);
        let sqls: Vec<&str> = statements.iter().map(|s| s.sql).collect();
        assert_eq!(
            sqls,
            [
                ENSURE_USER,
                ERASE_USER,
                WITHDRAW_ALL_SCOPES,
                REVOKE_SESSIONS
            ]
        );
        assert_eq!(
            statements[3].args,
            [
                Arg::Text("42".into()),
                Arg::Int(1_000),
                Arg::Int(2_000),
                Arg::Text("unlinked: UNLINK_FROM_APPS".into())
            ]
        );
    }

    #[test]
    fn scope_changes_write_one_row_per_scope() {
        let effect = Effect::Scopes {
            user_id: "7".into(),
            scopes: vec!["email".into(), "birthday".into()],
            consented: true,
        };
        let statements = plan(&effect, 5, 6);
        assert_eq!(statements.len(), 3);
        assert!(statements[1..].iter().all(|s| s.sql == UPSERT_SCOPE));
    }
}
