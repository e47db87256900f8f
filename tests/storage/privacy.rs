//! What every backend must do with personal data: erased when the user
//! leaves, kept from coming back while they are gone, and expired with age.

use std::time::Duration;

use kakao_webhooks::{
    clock::now_millis,
    storage::{
        Dedupe, Effect, Identifier, NewEvent, Recorded, Relation, Source, Storage, StoredEvent,
        UserStatus, jobs::PROFILE_REFRESH,
    },
};
use serde_json::json;

use crate::contract::{channel, started, stored, uid, unlink, user};

/// A security event about `user` whose payload carries personal data.
fn set_about(user: &str, key: &str, time: i64, effects: Vec<Effect>) -> NewEvent {
    NewEvent {
        source: Source::SecurityEvent,
        dedupe: Dedupe::Key(key.into()),
        event_type: "identifier-changed".into(),
        user_id: Some(uid(user)),
        event_time: Some(time),
        payload:
            json!({"old": "kim@example.com", "new": "lee@example.com", "phone": "010-1234-5678"})
                .into(),
        effects,
        unapplied_reason: None,
    }
}

/// Kakao's account-purged about `user`.
fn purge(user: &str, key: &str, time: i64) -> NewEvent {
    set_about(user, key, time, vec![Effect::Purge { user_id: uid(user) }])
}

async fn events(storage: &Storage) -> Vec<StoredEvent> {
    storage.events_after(0, 1000).await.unwrap()
}

fn erased(event: &StoredEvent) -> bool {
    event.payload == "null" && event.payload_erased_at.is_some()
}

pub async fn leaving_erases_the_payloads_of_the_users_events_and_keeps_the_rows(storage: &Storage) {
    let change = |user: &str| Effect::IdentifierChanged {
        user_id: Some(uid(user)),
        old: Identifier::Email("kim@example.com".into()),
        new_value: Some("lee@example.com".into()),
    };
    let first = set_about("400", "set-1", 1_000, vec![change("400")]);
    stored(storage.record(&first).await.unwrap());
    stored(
        storage
            .record(&set_about("401", "set-2", 1_000, vec![change("401")]))
            .await
            .unwrap(),
    );
    let before = events(storage).await;
    stored(
        storage
            .record(&unlink("400", "UNLINK_FROM_APPS", None))
            .await
            .unwrap(),
    );

    let after = events(storage).await;
    assert_eq!(after.len(), 3, "the rows stay");
    let of = |user: &'static str| {
        after
            .iter()
            .filter(move |e| e.user_id.as_deref() == Some(user))
    };
    assert!(of("400").all(erased), "{after:?}");
    assert!(
        of("400").all(|e| !e.payload.contains("example.com") && !e.payload.contains("010-")),
        "no email or phone left"
    );
    let kept = before.iter().find(|e| e.dedupe_key == "set-1").unwrap();
    let now = after.iter().find(|e| e.dedupe_key == "set-1").unwrap();
    assert_eq!(
        (
            now.event_id,
            &now.event_type,
            now.event_time,
            now.received_at
        ),
        (
            kept.event_id,
            &kept.event_type,
            kept.event_time,
            kept.received_at
        ),
        "ids, types and times are kept"
    );
    assert!(
        of("401").all(|e| !erased(e) && e.payload.contains("example.com")),
        "another user's events are untouched"
    );
    // The dedupe key outlives the payload: a redelivery changes nothing.
    assert_eq!(storage.record(&first).await.unwrap(), Recorded::Duplicate);
}

pub async fn an_identifier_event_naming_no_user_is_erased_when_its_holder_leaves(
    storage: &Storage,
) {
    let gets_email = |user: &str, key: &str, email: &str| {
        set_about(
            user,
            key,
            1_000,
            vec![Effect::IdentifierChanged {
                user_id: Some(uid(user)),
                old: Identifier::Email("none@example.com".into()),
                new_value: Some(email.into()),
            }],
        )
    };
    // Kakao names the old email only, not the user.
    let about_email = |key: &str, email: &str| NewEvent {
        user_id: None,
        ..set_about(
            "0",
            key,
            2_000,
            vec![Effect::IdentifierChanged {
                user_id: None,
                old: Identifier::Email(email.into()),
                new_value: Some("new@example.com".into()),
            }],
        )
    };
    stored(
        storage
            .record(&gets_email("410", "e-1", "kim@example.com"))
            .await
            .unwrap(),
    );
    stored(
        storage
            .record(&gets_email("411", "e-2", "twin@example.com"))
            .await
            .unwrap(),
    );
    stored(
        storage
            .record(&gets_email("412", "e-3", "twin@example.com"))
            .await
            .unwrap(),
    );
    stored(
        storage
            .record(&about_email("anon-1", "kim@example.com"))
            .await
            .unwrap(),
    );
    stored(
        storage
            .record(&about_email("anon-2", "twin@example.com"))
            .await
            .unwrap(),
    );

    let find = |events: &[StoredEvent], key: &str| {
        events
            .iter()
            .find(|e| e.dedupe_key == key)
            .cloned()
            .unwrap()
    };
    let before = events(storage).await;
    assert_eq!(find(&before, "anon-1").user_id.as_deref(), Some("410"));
    assert_eq!(
        find(&before, "anon-2").user_id,
        None,
        "an email two users hold names neither"
    );
    stored(
        storage
            .record(&unlink("410", "UNLINK_FROM_APPS", None))
            .await
            .unwrap(),
    );
    assert!(erased(&find(&events(storage).await, "anon-1")));
}

pub async fn a_link_creates_or_relinks_a_user_but_never_a_purged_one_or_over_a_newer_event(
    storage: &Storage,
) {
    let link = |user: &str, key: &str, time: i64| {
        set_about(user, key, time, vec![Effect::Link { user_id: uid(user) }])
    };
    let unlinked_at = |time| unlink("420", "UNLINK_FROM_APPS", Some(time));
    // First seen in a link: created linked, at the event's time.
    stored(storage.record(&link("420", "l1", 1_000)).await.unwrap());
    let created = user(storage, "420").await;
    assert_eq!(created.status, UserStatus::Linked);
    assert_eq!(created.linked_at, Some(1_000));
    // Unlinked, then linked again by a newer event.
    stored(storage.record(&unlinked_at(2_000)).await.unwrap());
    stored(storage.record(&link("420", "l2", 3_000)).await.unwrap());
    let relinked = user(storage, "420").await;
    assert_eq!(relinked.status, UserStatus::Linked);
    assert_eq!(relinked.linked_at, Some(3_000));
    assert_eq!(relinked.created_at, created.created_at);
    // A late link (older than the last status change) changes nothing.
    stored(storage.record(&unlinked_at(5_000)).await.unwrap());
    stored(storage.record(&link("420", "l3", 4_000)).await.unwrap());
    assert_eq!(user(storage, "420").await.status, UserStatus::Unlinked);
    // A purged account is gone for good.
    stored(storage.record(&purge("421", "p1", 1_000)).await.unwrap());
    stored(storage.record(&link("421", "l4", 2_000)).await.unwrap());
    assert_eq!(user(storage, "421").await.status, UserStatus::Purged);
}

pub async fn a_purged_account_stays_purged_through_a_later_unlink(storage: &Storage) {
    stored(storage.record(&purge("410", "purge", 1_000)).await.unwrap());
    stored(
        storage
            .record(&unlink("410", "UNLINK_FROM_APPS", Some(2_000)))
            .await
            .unwrap(),
    );
    let user = user(storage, "410").await;
    assert_eq!(user.status, UserStatus::Purged);
    assert_eq!(user.unlink_reason.as_deref(), Some("account-purged"));
}

pub async fn events_about_a_gone_user_store_no_personal_data_until_they_link_again(
    storage: &Storage,
) {
    let id = || uid("420");
    stored(
        storage
            .record(&unlink("420", "UNLINK_FROM_APPS", Some(1_000)))
            .await
            .unwrap(),
    );
    let consent = || Effect::Scopes {
        user_id: id(),
        scopes: vec!["phone_number".into()],
        consented: true,
    };
    let later = [
        ("g1", consent()),
        (
            "g2",
            Effect::IdentifierChanged {
                user_id: Some(id()),
                old: Identifier::Phone("010-0000-0000".into()),
                new_value: Some("010-1234-5678".into()),
            },
        ),
        (
            "g3",
            Effect::AssuranceLevel {
                user_id: id(),
                level: "aal2".into(),
            },
        ),
        (
            "g4",
            Effect::Risk {
                user_id: id(),
                flag: kakao_webhooks::storage::RiskFlag::CredentialCompromised,
            },
        ),
    ];
    for (key, effect) in later {
        stored(
            storage
                .record(&set_about("420", key, 3_000, vec![effect]))
                .await
                .unwrap(),
        );
    }
    let gone = user(storage, "420").await;
    assert_eq!(gone.status, UserStatus::Unlinked);
    assert!(gone.scopes.is_empty(), "{:?}", gone.scopes);
    assert_eq!(gone.phone_number, None);
    assert_eq!(gone.assurance_level, None);
    assert_eq!(gone.credential_compromised_at, None);
    assert!(events(storage).await.iter().all(erased));

    // A later link starts afresh: what comes after is kept.
    let link = set_about("420", "g5", 4_000, vec![Effect::Link { user_id: id() }]);
    stored(storage.record(&link).await.unwrap());
    stored(
        storage
            .record(&set_about("420", "g6", 5_000, vec![consent()]))
            .await
            .unwrap(),
    );
    assert_eq!(user(storage, "420").await.scopes, ["phone_number"]);
    let g6 = events(storage)
        .await
        .into_iter()
        .find(|e| e.dedupe_key == "g6");
    assert!(!erased(&g6.unwrap()));
}

pub async fn an_erasure_by_the_app_wins_over_later_dated_events_and_drops_jobs(storage: &Storage) {
    let id = || uid("430");
    let tomorrow = now_millis() + 24 * 60 * 60 * 1000;
    // A change dated in the future (a bad clock at Kakao) does not block it.
    stored(
        storage
            .record(&set_about(
                "430",
                "e1",
                tomorrow,
                vec![
                    Effect::Link { user_id: id() },
                    Effect::QueueProfileRefresh { user_id: id() },
                ],
            ))
            .await
            .unwrap(),
    );
    let session = started(storage, "430").await;
    assert_eq!(storage.pending_jobs(PROFILE_REFRESH).await.unwrap(), 1);
    let erase = NewEvent {
        source: Source::App,
        dedupe: Dedupe::UntilRelinked {
            base: "erase 430".into(),
            user_id: id(),
        },
        event_type: "user-erased".into(),
        user_id: Some(id()),
        event_time: None,
        payload: json!({}).into(),
        effects: vec![Effect::Erase {
            user_id: id(),
            reason: "erased_by_app".into(),
        }],
        unapplied_reason: None,
    };
    stored(storage.record(&erase).await.unwrap());
    let user = user(storage, "430").await;
    assert_eq!(user.status, UserStatus::Unlinked);
    assert_eq!(user.unlink_reason.as_deref(), Some("erased_by_app"));
    let session = storage.session(&session.session_id).await.unwrap().unwrap();
    assert!(!session.is_active());
    assert!(events(storage).await.iter().all(erased));
    assert_eq!(storage.pending_jobs(PROFILE_REFRESH).await.unwrap(), 0);
    // Asked again: nothing new.
    assert_eq!(storage.record(&erase).await.unwrap(), Recorded::Duplicate);
}

pub async fn payloads_past_retention_are_erased_in_batches(storage: &Storage) {
    for n in 0..3 {
        stored(
            storage
                .record(&set_about("440", &format!("r{n}"), 1_000, vec![]))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    stored(
        storage
            .record(&set_about("440", "recent", 1_000, vec![]))
            .await
            .unwrap(),
    );
    assert_eq!(storage.erase_old_payloads(cutoff, 2).await.unwrap(), 2);
    assert_eq!(storage.erase_old_payloads(cutoff, 2).await.unwrap(), 1);
    assert_eq!(storage.erase_old_payloads(cutoff, 2).await.unwrap(), 0);
    let all = events(storage).await;
    assert_eq!(all.len(), 4);
    for event in &all {
        assert_eq!(erased(event), event.dedupe_key != "recent", "{event:?}");
    }
}

/// Which channels a user added or blocked goes with them, however they
/// leave: an unlink, a purge, the app's erasure.
pub async fn leaving_erases_the_users_channel_relations(storage: &Storage) {
    let now = now_millis();
    let erase = |user: &str| NewEvent {
        source: Source::App,
        dedupe: Dedupe::UntilRelinked {
            base: format!("erase {user}"),
            user_id: uid(user),
        },
        event_type: "user-erased".into(),
        user_id: Some(uid(user)),
        event_time: None,
        payload: json!({}).into(),
        effects: vec![Effect::Erase {
            user_id: uid(user),
            reason: "erased_by_app".into(),
        }],
        unapplied_reason: None,
    };
    let leaving = [
        ("501", unlink("501", "UNLINK_FROM_APPS", Some(now))),
        ("502", purge("502", "p502", now)),
        ("503", erase("503")),
    ];
    for (user, leave) in leaving {
        let link = set_about(
            user,
            &format!("l{user}"),
            now - 2000,
            vec![Effect::Link { user_id: uid(user) }],
        );
        stored(storage.record(&link).await.unwrap());
        let key = format!("ch{user}");
        stored(
            storage
                .record(&channel(&key, user, Relation::Added, now - 1000))
                .await
                .unwrap(),
        );
        assert_eq!(
            storage.channel_relations(&uid(user)).await.unwrap().len(),
            1
        );
        stored(storage.record(&leave).await.unwrap());
        assert!(
            storage
                .channel_relations(&uid(user))
                .await
                .unwrap()
                .is_empty(),
            "user {user}'s channel relation outlived them"
        );
    }
    // A notice after the user left does not bring the relation back.
    stored(
        storage
            .record(&channel("ch501b", "501", Relation::Blocked, now + 1000))
            .await
            .unwrap(),
    );
    assert!(
        storage
            .channel_relations(&uid("501"))
            .await
            .unwrap()
            .is_empty()
    );
    // A late unlink that changes nothing (the user linked again since)
    // leaves the relation alone.
    stored(
        storage
            .record(&channel("ch504", "504", Relation::Added, now))
            .await
            .unwrap(),
    );
    let link = set_about(
        "504",
        "l504",
        now,
        vec![Effect::Link {
            user_id: uid("504"),
        }],
    );
    stored(storage.record(&link).await.unwrap());
    stored(
        storage
            .record(&unlink("504", "UNLINK_FROM_APPS", Some(now - 60_000)))
            .await
            .unwrap(),
    );
    assert_eq!(
        storage.channel_relations(&uid("504")).await.unwrap().len(),
        1
    );
}
