//! What every storage backend must do.

use kakao_webhooks::{
    clock::now_millis,
    config::DatabaseKind,
    ids::{ChannelPublicId, UserId},
    storage::{
        ChannelRelation, Dedupe, Effect, NewEvent, Recorded, Relation, SessionStart, Source,
        Storage, UserStatus,
    },
};
use serde_json::json;

pub(crate) fn uid(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub(crate) fn unlink(user: &str, reason: &str, event_time: Option<i64>) -> NewEvent {
    NewEvent {
        source: Source::Unlink,
        dedupe: Dedupe::UntilRelinked {
            base: format!("{user}:{reason}"),
            user_id: uid(user),
        },
        event_type: "unlink".into(),
        user_id: Some(uid(user)),
        event_time,
        payload: json!({"user_id": user, "referrer_type": reason}).into(),
        effects: vec![Effect::Unlink {
            user_id: uid(user),
            reason: reason.into(),
        }],
        unapplied_reason: None,
    }
}

pub(crate) fn channel(key: &str, user: &str, relation: Relation, changed_at: i64) -> NewEvent {
    NewEvent {
        source: Source::Channel,
        dedupe: Dedupe::Key(key.into()),
        event_type: format!("channel.{relation}"),
        user_id: Some(uid(user)),
        event_time: Some(changed_at),
        payload: json!({"event": relation}).into(),
        effects: vec![Effect::ChannelRelation(ChannelRelation {
            user_id: uid(user),
            id_type: "app_user_id".into(),
            channel_public_id: ChannelPublicId::parse("_ZeUTxl").unwrap(),
            channel_uuid: Some("@kakao".into()),
            relation,
            changed_at,
        })],
        unapplied_reason: None,
    }
}

pub(crate) async fn started(storage: &Storage, user: &str) -> kakao_webhooks::storage::Session {
    match storage.start_session(&uid(user)).await.unwrap() {
        SessionStart::Started(session) => session,
        other => panic!("expected a session, got {other:?}"),
    }
}

pub(crate) fn stored(recorded: Recorded) -> i64 {
    match recorded {
        Recorded::Stored { event_id } => event_id,
        Recorded::Duplicate => panic!("expected a new event, got a duplicate"),
    }
}

pub async fn migrations_run_twice_without_error(storage: &Storage) {
    storage.migrate().await.unwrap();
    storage.ping().await.unwrap();
}

pub async fn an_event_is_stored_once_per_dedupe_key(storage: &Storage) {
    let first = storage
        .record(&channel("res-1", "7", Relation::Added, 1_000))
        .await
        .unwrap();
    stored(first);
    let again = storage
        .record(&channel("res-1", "7", Relation::Blocked, 2_000))
        .await
        .unwrap();
    assert_eq!(again, Recorded::Duplicate);
    let events = storage.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "channel.added");
    assert!(events[0].applied_at.is_some());
    // The duplicate changed nothing: the relation is still "added".
    let relations = storage.channel_relations(&uid("7")).await.unwrap();
    assert_eq!(relations[0].relation, Relation::Added);
}

pub async fn concurrent_deliveries_of_one_event_store_it_once(storage: &Storage) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .record(&channel("res-same", "8", Relation::Added, 5))
                    .await
            })
        })
        .collect();
    let mut stored_count = 0;
    for task in tasks {
        if let Recorded::Stored { .. } = task.await.unwrap().unwrap() {
            stored_count += 1;
        }
    }
    assert_eq!(stored_count, 1);
    assert_eq!(storage.events_after(0, 100).await.unwrap().len(), 1);
}

pub async fn an_unlink_revokes_sessions_erases_data_and_leaves_a_tombstone(storage: &Storage) {
    let one = started(storage, "100").await;
    let two = started(storage, "100").await;
    let other = started(storage, "200").await;
    stored(
        storage
            .record(&unlink("100", "UNLINK_FROM_APPS", None))
            .await
            .unwrap(),
    );

    let user = storage.user(&uid("100")).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Unlinked);
    assert_eq!(user.email, None);
    assert_eq!(user.phone_number, None);
    assert!(user.scopes.is_empty());
    assert!(user.unlinked_at.is_some());
    assert_eq!(user.unlink_reason.as_deref(), Some("UNLINK_FROM_APPS"));
    for session in [one, two] {
        let session = storage.session(&session.session_id).await.unwrap().unwrap();
        assert!(!session.is_active());
        assert_eq!(
            session.revoked_reason.as_deref(),
            Some("unlinked: UNLINK_FROM_APPS")
        );
    }
    let untouched = storage.session(&other.session_id).await.unwrap().unwrap();
    assert!(untouched.is_active(), "another user's session survives");
}

pub async fn an_unlink_of_an_unknown_user_leaves_a_tombstone(storage: &Storage) {
    stored(
        storage
            .record(&unlink("999", "ACCOUNT_DELETE", None))
            .await
            .unwrap(),
    );
    let user = storage.user(&uid("999")).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Unlinked);
    assert_eq!(user.unlink_reason.as_deref(), Some("ACCOUNT_DELETE"));
}

pub async fn a_repeated_unlink_is_a_duplicate_until_the_user_links_again(storage: &Storage) {
    started(storage, "300").await;
    stored(
        storage
            .record(&unlink("300", "UNLINK_FROM_APPS", None))
            .await
            .unwrap(),
    );
    let first_tombstone = storage
        .user(&uid("300"))
        .await
        .unwrap()
        .unwrap()
        .unlinked_at;
    let repeat = storage
        .record(&unlink("300", "UNLINK_FROM_APPS", None))
        .await
        .unwrap();
    assert_eq!(repeat, Recorded::Duplicate);
    assert_eq!(
        storage
            .user(&uid("300"))
            .await
            .unwrap()
            .unwrap()
            .unlinked_at,
        first_tombstone
    );

    // Logging in again links the user; the next unlink is a new event.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let session = started(storage, "300").await;
    assert_eq!(
        storage.user(&uid("300")).await.unwrap().unwrap().status,
        UserStatus::Linked
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    stored(
        storage
            .record(&unlink("300", "UNLINK_FROM_APPS", None))
            .await
            .unwrap(),
    );
    let session = storage.session(&session.session_id).await.unwrap().unwrap();
    assert!(!session.is_active());
    assert_eq!(storage.events_after(0, 100).await.unwrap().len(), 2);
}

pub async fn a_late_unlink_does_not_undo_a_newer_login(storage: &Storage) {
    let before_login = now_millis() - 60_000;
    let session = started(storage, "400").await;
    // Kakao says the unlink happened a minute before this login.
    stored(
        storage
            .record(&unlink("400", "UNLINK_FROM_APPS", Some(before_login)))
            .await
            .unwrap(),
    );
    let user = storage.user(&uid("400")).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Linked);
    let session = storage.session(&session.session_id).await.unwrap().unwrap();
    assert!(
        session.is_active(),
        "a session newer than the unlink survives"
    );
}

pub async fn a_channel_relation_keeps_the_newest_change(storage: &Storage) {
    stored(
        storage
            .record(&channel("a", "9", Relation::Added, 2_000))
            .await
            .unwrap(),
    );
    // Delivered late: older than what is stored, so it does not win.
    stored(
        storage
            .record(&channel("b", "9", Relation::Blocked, 1_000))
            .await
            .unwrap(),
    );
    let relation = &storage.channel_relations(&uid("9")).await.unwrap()[0];
    assert_eq!(
        (relation.relation, relation.changed_at),
        (Relation::Added, 2_000)
    );
    stored(
        storage
            .record(&channel("c", "9", Relation::Blocked, 3_000))
            .await
            .unwrap(),
    );
    let relation = &storage.channel_relations(&uid("9")).await.unwrap()[0];
    assert_eq!(
        (relation.relation, relation.changed_at),
        (Relation::Blocked, 3_000)
    );
}

pub async fn sessions_start_and_end(storage: &Storage) {
    let session = started(storage, "500").await;
    assert_eq!(
        session.session_id.as_str().len(),
        64,
        "256 random bits, hex"
    );
    assert_ne!(started(storage, "500").await.session_id, session.session_id);
    assert!(
        storage
            .session(&session.session_id)
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );

    let ended = storage
        .end_session(&session.session_id, "logout")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.revoked_reason.as_deref(), Some("logout"));
    let again = storage
        .end_session(&session.session_id, "other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.revoked_reason.as_deref(),
        Some("logout"),
        "the first reason stays"
    );
    assert_eq!(again.revoked_at, ended.revoked_at);

    let unknown = kakao_webhooks::ids::SessionId::parse("no-such-session").unwrap();
    assert!(storage.session(&unknown).await.unwrap().is_none());
    assert!(
        storage
            .end_session(&unknown, "logout")
            .await
            .unwrap()
            .is_none()
    );
    assert!(storage.user(&uid("no-such-user")).await.unwrap().is_none());
}

pub async fn an_inactive_user_gets_no_session(storage: &Storage) {
    started(storage, "600").await;
    // Kakao's account-disabled event, a second after the login.
    let later = kakao_webhooks::clock::end_of_second(now_millis() + 1_000);
    apply(
        storage,
        "d1",
        later,
        Effect::Disable {
            user_id: uid("600"),
        },
    )
    .await;
    assert_eq!(
        storage.start_session(&uid("600")).await.unwrap(),
        SessionStart::UserInactive {
            status: UserStatus::Disabled
        }
    );
}

pub async fn events_page_in_order(storage: &Storage) {
    for i in 0..5 {
        stored(
            storage
                .record(&channel(&format!("p{i}"), "10", Relation::Added, i))
                .await
                .unwrap(),
        );
    }
    let first = storage.events_after(0, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = storage.events_after(first[1].event_id, 10).await.unwrap();
    assert_eq!(rest.len(), 3);
    let keys: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|e| e.dedupe_key.clone())
        .collect();
    assert_eq!(keys, ["p0", "p1", "p2", "p3", "p4"]);
    assert!(
        storage
            .events_after(rest[2].event_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_follower_polling_during_concurrent_writes_sees_every_event(storage: &Storage) {
    follower_sees_every_event(storage, std::slice::from_ref(storage), 8, 10).await;
}

/// Two instances of the service writing to one database (on PostgreSQL, the
/// event-order lock is what keeps ids visible in order across them).
pub async fn a_follower_sees_every_event_two_instances_write(first: &Storage, second: &Storage) {
    follower_sees_every_event(first, &[first.clone(), second.clone()], 16, 50).await;
}

async fn follower_sees_every_event(
    storage: &Storage,
    instances: &[Storage],
    writers: usize,
    each: usize,
) {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let storage = instances[w % instances.len()].clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let key = format!("w{w}-{i}");
                    stored(
                        storage
                            .record(&channel(&key, "11", Relation::Added, 1))
                            .await
                            .unwrap(),
                    );
                }
            })
        })
        .collect();
    let mut cursor = 0;
    let mut seen = Vec::new();
    let mut finished = false;
    while !finished {
        finished = tasks.iter().all(|w| w.is_finished());
        for event in storage.events_after(cursor, 1000).await.unwrap() {
            cursor = event.event_id;
            seen.push(event.dedupe_key);
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    seen.extend(
        storage
            .events_after(cursor, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.dedupe_key),
    );
    assert_eq!(seen.len(), writers * each, "a follower skipped events");
}

fn set_event(jti: &str, time: i64, effects: Vec<Effect>) -> NewEvent {
    NewEvent {
        source: Source::SecurityEvent,
        dedupe: Dedupe::Key(jti.into()),
        event_type: "test".into(),
        user_id: None,
        event_time: Some(time),
        payload: json!({}).into(),
        effects,
        unapplied_reason: None,
    }
}

/// Stores a security event with one effect, expecting it to be new.
async fn apply(storage: &Storage, key: &str, time: i64, effect: Effect) {
    stored(
        storage
            .record(&set_event(key, time, vec![effect]))
            .await
            .unwrap(),
    );
}

pub(crate) async fn user(storage: &Storage, user_id: &str) -> kakao_webhooks::storage::User {
    storage
        .user(&uid(user_id))
        .await
        .unwrap()
        .expect("the user exists")
}

pub async fn scope_consents_follow_event_time_per_scope(storage: &Storage) {
    let scopes = |list: &[&str], consented| Effect::Scopes {
        user_id: uid("700"),
        scopes: list.iter().map(|s| s.to_string()).collect(),
        consented,
    };
    apply(storage, "s1", 1_000, scopes(&["email", "birthday"], true)).await;
    assert_eq!(user(storage, "700").await.scopes, ["birthday", "email"]);
    apply(storage, "s2", 3_000, scopes(&["email"], false)).await;
    // An older consent delivered late does not undo the newer withdrawal.
    apply(storage, "s3", 2_000, scopes(&["email"], true)).await;
    assert_eq!(user(storage, "700").await.scopes, ["birthday"]);
}

pub async fn account_state_events_follow_event_time(storage: &Storage) {
    let id = || uid("701");
    apply(storage, "a1", 5_000, Effect::Enable { user_id: id() }).await;
    apply(storage, "a2", 4_000, Effect::Disable { user_id: id() }).await;
    assert_eq!(
        user(storage, "701").await.status,
        UserStatus::Linked,
        "the older disable lost"
    );
    apply(storage, "a3", 6_000, Effect::Disable { user_id: id() }).await;
    assert_eq!(user(storage, "701").await.status, UserStatus::Disabled);
    apply(storage, "a4", 7_000, Effect::Purge { user_id: id() }).await;
    apply(storage, "a5", 8_000, Effect::Link { user_id: id() }).await;
    assert_eq!(
        user(storage, "701").await.status,
        UserStatus::Purged,
        "purged is final"
    );
}

pub async fn identifiers_are_replaced_by_user_or_by_old_value(storage: &Storage) {
    use kakao_webhooks::storage::Identifier;
    let changed = |user: Option<&str>, old: &str, new: Option<&str>| Effect::IdentifierChanged {
        user_id: user.map(uid),
        old: Identifier::Phone(old.into()),
        new_value: new.map(str::to_owned),
    };
    apply(
        storage,
        "i1",
        1_000,
        changed(Some("702"), "010-0", Some("010-1")),
    )
    .await;
    assert_eq!(
        user(storage, "702").await.phone_number.as_deref(),
        Some("010-1")
    );
    apply(storage, "i2", 2_000, changed(None, "010-1", Some("010-2"))).await;
    assert_eq!(
        user(storage, "702").await.phone_number.as_deref(),
        Some("010-2")
    );
    let recycled = Effect::IdentifierRecycled {
        user_id: None,
        old: Identifier::Phone("010-2".into()),
    };
    apply(storage, "i3", 3_000, recycled).await;
    assert_eq!(user(storage, "702").await.phone_number, None);
}

pub async fn jobs_are_claimed_once_and_rearmed_when_asked_again(storage: &Storage) {
    use kakao_webhooks::storage::jobs::PROFILE_REFRESH;
    let queue = |key: &str| {
        set_event(
            key,
            1,
            vec![Effect::QueueProfileRefresh {
                user_id: uid("800"),
            }],
        )
    };
    stored(storage.record(&queue("j1")).await.unwrap());
    let lease = now_millis() + 60_000;
    // Concurrent workers: exactly one gets the job.
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.claim_job(PROFILE_REFRESH, lease).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let job = claimed.pop().unwrap();
    assert_eq!((job.user_id.as_str(), job.attempts), ("800", 1));
    assert!(
        storage
            .claim_job(PROFILE_REFRESH, lease)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );

    // Asked for again while running: the stale worker's finish keeps it.
    stored(storage.record(&queue("j2")).await.unwrap());
    storage.finish_job(&job).await.unwrap();
    assert_eq!(storage.pending_jobs(PROFILE_REFRESH).await.unwrap(), 1);
    let again = storage
        .claim_job(PROFILE_REFRESH, lease)
        .await
        .unwrap()
        .expect("due again");
    storage
        .retry_job(&again, now_millis() + 60_000, "boom")
        .await
        .unwrap();
    assert!(
        storage
            .claim_job(PROFILE_REFRESH, lease)
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );
    storage.finish_job(&again).await.unwrap();
    assert_eq!(storage.pending_jobs(PROFILE_REFRESH).await.unwrap(), 0);
}

pub async fn a_failing_event_fails_alone_among_concurrent_ones(storage: &Storage) {
    let mut tasks = Vec::new();
    for n in 0..50 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            storage
                .record(&channel(&format!("ok-{n}"), "900", Relation::Added, n))
                .await
        }));
    }
    // A trigger refuses the event keyed "bad": it cannot be stored.
    storage
        .execute_unchecked(refuse_key_bad(storage))
        .await
        .unwrap();
    let bad = {
        let storage = storage.clone();
        tokio::spawn(async move {
            storage
                .record(&channel("bad", "900", Relation::Added, 1))
                .await
        })
    };
    for task in tasks {
        stored(task.await.unwrap().unwrap());
    }
    assert!(bad.await.unwrap().is_err(), "the bad event is refused");
    let keys: Vec<String> = storage
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.dedupe_key)
        .collect();
    assert_eq!(keys.len(), 50);
    assert!(
        !keys.contains(&"bad".to_string()),
        "no trace of the refused event"
    );
}

/// A trigger that makes storing the event keyed `bad` fail.
pub(crate) fn refuse_key_bad(storage: &Storage) -> &'static str {
    match storage.kind() {
        DatabaseKind::Sqlite => {
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON events WHEN NEW.dedupe_key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        }
        DatabaseKind::Postgres => {
            "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse_bad BEFORE INSERT ON events
             FOR EACH ROW WHEN (NEW.dedupe_key = 'bad') EXECUTE FUNCTION refuse_bad()"
        }
    }
}
