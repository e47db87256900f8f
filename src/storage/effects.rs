//! What each effect does to the database, as a plan of typed statements
//! (`statements.rs`). Every change is guarded by the event time of the last
//! change to the same attribute, so events applied out of order end in the
//! state their times say (a late user-linked after user-unlinked leaves the
//! user unlinked).

use super::{
    Effect, Identifier, RiskFlag, UserStatus,
    statements::{
        DeleteScopes, DropChannelRelationsOfGoneUser, DropJobsOfGoneUser, EnsureUser,
        EraseEventPayloads, EraseUser, EraseUserNow, LinkUser, MarkProfileStale, QueueBotReply,
        QueueJob, ReplaceEmail, ReplacePhone, RevokeSessions, SetAccountState, SetAssuranceLevel,
        SetCredentialChangeRequired, SetCredentialChanged, SetCredentialCompromised, Statement,
        UpsertBotRoom, UpsertChannelRelation, UpsertScope, WithdrawAllScopes,
    },
};
use crate::ids::UserId;

/// The statements that apply `effect`, as of `time`, applied at `now`.
pub(super) fn plan(effect: &Effect, time: i64, now: i64) -> Vec<Statement> {
    let ensure = |user_id: &UserId| {
        EnsureUser {
            user_id: user_id.clone(),
            now,
        }
        .into()
    };
    // Once the user is gone, what their events carried goes too (this one's included).
    let erase_payloads = |user_id: &UserId| -> Statement {
        EraseEventPayloads {
            user_id: user_id.clone(),
            now,
        }
        .into()
    };
    let forget = |user_id: &UserId| -> [Statement; 3] {
        [
            erase_payloads(user_id),
            DropJobsOfGoneUser {
                user_id: user_id.clone(),
            }
            .into(),
            DropChannelRelationsOfGoneUser {
                user_id: user_id.clone(),
            }
            .into(),
        ]
    };
    let erase = |user_id: &UserId, status: UserStatus, reason: &str| -> Vec<Statement> {
        vec![
            ensure(user_id),
            EraseUser {
                user_id: user_id.clone(),
                status,
                time,
                reason: reason.to_owned(),
                now,
            }
            .into(),
            WithdrawAllScopes {
                user_id: user_id.clone(),
                time,
            }
            .into(),
            RevokeSessions {
                user_id: user_id.clone(),
                time,
                now,
                reason: format!("{status}: {reason}"),
            }
            .into(),
        ]
        .into_iter()
        .chain(forget(user_id))
        .collect()
    };
    let account_state = |user_id: &UserId, status| {
        vec![
            ensure(user_id),
            SetAccountState {
                user_id: user_id.clone(),
                time,
                now,
                status,
            }
            .into(),
        ]
    };
    match effect {
        Effect::Unlink { user_id, reason } => erase(user_id, UserStatus::Unlinked, reason),
        Effect::Purge { user_id } => erase(user_id, UserStatus::Purged, "account-purged"),
        Effect::Erase { user_id, reason } => [
            EraseUserNow {
                user_id: user_id.clone(),
                now,
                reason: reason.clone(),
            }
            .into(),
            DeleteScopes {
                user_id: user_id.clone(),
            }
            .into(),
            RevokeSessions {
                user_id: user_id.clone(),
                time: i64::MAX,
                now,
                reason: format!("erased: {reason}"),
            }
            .into(),
        ]
        .into_iter()
        .chain(forget(user_id))
        .collect(),
        Effect::Link { user_id } => vec![
            LinkUser {
                user_id: user_id.clone(),
                time,
                now,
            }
            .into(),
        ],
        Effect::RevokeSessions { user_id, reason } => vec![
            RevokeSessions {
                user_id: user_id.clone(),
                time,
                now,
                reason: reason.clone(),
            }
            .into(),
        ],
        Effect::Disable { user_id } => account_state(user_id, UserStatus::Disabled),
        Effect::Enable { user_id } => account_state(user_id, UserStatus::Linked),
        Effect::Scopes {
            user_id,
            scopes,
            consented,
        } => std::iter::once(ensure(user_id))
            .chain(scopes.iter().map(|scope| {
                UpsertScope {
                    user_id: user_id.clone(),
                    scope: scope.clone(),
                    consented: *consented,
                    time,
                }
                .into()
            }))
            .chain([erase_payloads(user_id)])
            .collect(),
        Effect::Risk { user_id, flag } => {
            let user_id = user_id.clone();
            let raise: Statement = match flag {
                RiskFlag::CredentialChangeRequired => SetCredentialChangeRequired {
                    user_id: user_id.clone(),
                    time,
                    now,
                }
                .into(),
                RiskFlag::CredentialCompromised => SetCredentialCompromised {
                    user_id: user_id.clone(),
                    time,
                    now,
                }
                .into(),
                RiskFlag::CredentialChanged => SetCredentialChanged {
                    user_id: user_id.clone(),
                    time,
                    now,
                }
                .into(),
            };
            vec![ensure(&user_id), raise, erase_payloads(&user_id)]
        }
        Effect::IdentifierChanged {
            user_id,
            old,
            new_value,
        } => replace_identifier(user_id.as_ref(), old, new_value.clone(), time, now)
            .into_iter()
            .chain(user_id.as_ref().map(erase_payloads))
            .collect(),
        Effect::IdentifierRecycled { user_id, old } => {
            replace_identifier(user_id.as_ref(), old, None, time, now)
                .into_iter()
                .chain(user_id.as_ref().map(erase_payloads))
                .collect()
        }
        Effect::AssuranceLevel { user_id, level } => vec![
            ensure(user_id),
            SetAssuranceLevel {
                user_id: user_id.clone(),
                time,
                now,
                level: level.clone(),
            }
            .into(),
            erase_payloads(user_id),
        ],
        Effect::ProfileStale { user_id } => vec![
            ensure(user_id),
            MarkProfileStale {
                user_id: user_id.clone(),
                time,
                now,
            }
            .into(),
        ],
        Effect::QueueProfileRefresh { user_id } => vec![
            QueueJob {
                kind: super::jobs::PROFILE_REFRESH,
                user_id: user_id.clone(),
                now,
            }
            .into(),
        ],
        Effect::QueueBotReply {
            dedupe_key,
            callback_token,
            expires_at,
        } => vec![
            QueueBotReply {
                dedupe_key: dedupe_key.clone(),
                callback_token: callback_token.clone(),
                now,
                expires_at: *expires_at,
            }
            .into(),
        ],
        Effect::BotRoom {
            bot_group_key,
            present,
        } => vec![
            UpsertBotRoom {
                bot_group_key: bot_group_key.clone(),
                present: *present,
                time,
            }
            .into(),
        ],
        Effect::ChannelRelation(relation) => vec![
            UpsertChannelRelation {
                user_id: relation.user_id.clone(),
                id_type: relation.id_type.clone(),
                channel_public_id: relation.channel_public_id.clone(),
                channel_uuid: relation.channel_uuid.clone(),
                relation: relation.relation,
                changed_at: relation.changed_at,
            }
            .into(),
        ],
    }
}

fn replace_identifier(
    user_id: Option<&UserId>,
    old: &Identifier,
    new_value: Option<String>,
    time: i64,
    now: i64,
) -> Vec<Statement> {
    let user_id = user_id.cloned();
    let ensure = user_id
        .clone()
        .map(|user_id| EnsureUser { user_id, now }.into());
    let replace = match old {
        Identifier::Email(old) => ReplaceEmail {
            user_id,
            time,
            now,
            old: old.clone(),
            new_value,
        }
        .into(),
        Identifier::Phone(old) => ReplacePhone {
            user_id,
            time,
            now,
            old: old.clone(),
            new_value,
        }
        .into(),
    };
    ensure.into_iter().chain([replace]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn an_unlink_erases_data_and_revokes_only_sessions_older_than_the_event() {
        let effect = Effect::Unlink {
            user_id: user("42"),
            reason: "UNLINK_FROM_APPS".into(),
        };
        let statements = plan(&effect, 1_000, 2_000);
        let sqls: Vec<&str> = statements.iter().map(Statement::sql).collect();
        assert_eq!(
            sqls,
            [
                EnsureUser::SQL,
                EraseUser::SQL,
                WithdrawAllScopes::SQL,
                RevokeSessions::SQL,
                EraseEventPayloads::SQL,
                DropJobsOfGoneUser::SQL,
                DropChannelRelationsOfGoneUser::SQL,
            ]
        );
        assert_eq!(
            statements[3],
            Statement::RevokeSessions(RevokeSessions {
                user_id: user("42"),
                time: 1_000,
                now: 2_000,
                reason: "unlinked: UNLINK_FROM_APPS".into(),
            })
        );
    }

    #[test]
    fn scope_changes_write_one_row_per_scope() {
        let effect = Effect::Scopes {
            user_id: user("7"),
            scopes: vec!["email".into(), "birthday".into()],
            consented: true,
        };
        let statements = plan(&effect, 5, 6);
        assert_eq!(statements.len(), 4);
        assert!(
            statements[1..3]
                .iter()
                .all(|s| matches!(s, Statement::UpsertScope(_)))
        );
    }
}
