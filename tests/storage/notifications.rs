//! The notification outbox on every backend: a row per applied change, in
//! the change's transaction, and claims that one worker holds at a time.

use kakao_webhooks::{
    clock::now_millis,
    storage::{
        Relation, Storage,
        notifications::{AttemptFailure, Destination, NotificationStatus},
    },
};

use crate::contract::{channel, refuse_key_bad, stored, unlink};

pub async fn an_applied_change_queues_its_notification_and_a_refused_event_none(storage: &Storage) {
    let notifying = storage.clone().notifying_app();
    let event_id = match notifying
        .record(&unlink("31", "UNLINK_FROM_APPS", None))
        .await
    {
        Ok(kakao_webhooks::storage::Recorded::Stored { event_id }) => event_id,
        other => panic!("{other:?}"),
    };
    storage
        .execute_unchecked(refuse_key_bad(storage))
        .await
        .unwrap();
    assert!(
        notifying
            .record(&channel("bad", "31", Relation::Added, 1))
            .await
            .is_err()
    );
    // Stored through a handle that does not notify: held, not queued (it
    // waits for POST /api/events/renotify), and never claimed.
    stored(
        storage
            .record(&channel("quiet", "32", Relation::Added, 1))
            .await
            .unwrap(),
    );
    let held = storage
        .notifications(Some(NotificationStatus::Held), 0, 100)
        .await
        .unwrap();
    let held: Vec<&str> = held.iter().map(|n| n.notification_type.as_str()).collect();
    assert_eq!(held, ["channel.added"]);

    let rows = storage
        .notifications(Some(NotificationStatus::Pending), 0, 100)
        .await
        .unwrap();
    let types: Vec<&str> = rows.iter().map(|n| n.notification_type.as_str()).collect();
    assert_eq!(types, ["user.unlinked"], "{rows:?}");
    assert_eq!(rows[0].event_id, Some(event_id));
    assert!(rows[0].body.contains(&format!(r#""event_id":{event_id}"#)));
}

pub async fn a_notification_claim_is_held_by_one_worker_until_its_lease_ends(storage: &Storage) {
    let notifying = storage.clone().notifying_app();
    stored(
        notifying
            .record(&channel("c-1", "33", Relation::Added, 1))
            .await
            .unwrap(),
    );
    // A lease that has already run out, as if its worker died.
    let stale = storage
        .claim_notifications(Destination::App, now_millis() - 1, 10)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    let held = storage
        .claim_notifications(Destination::App, now_millis() + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1, "taken over after the lease");
    assert_eq!(held[0].attempts, 2);
    assert!(
        storage
            .claim_notifications(Destination::App, now_millis() + 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "held while its lease lasts"
    );
    assert!(
        !storage
            .notification_delivered(&stale[0], 200)
            .await
            .unwrap(),
        "the stale worker changes nothing"
    );
    let failure = AttemptFailure {
        status: Some(500),
        error: "answered 500".into(),
    };
    assert!(
        storage
            .notification_attempt_failed(&held[0], &failure, None)
            .await
            .unwrap()
    );
    let failed = storage
        .notifications(Some(NotificationStatus::Failed), 0, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_status, Some(500));
    assert!(
        storage
            .retry_notification(failed[0].notification_id)
            .await
            .unwrap()
    );
    let again = storage
        .claim_notifications(Destination::App, now_millis() + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "due again after a retry");

    // Retention deletes ended notifications only.
    let later = now_millis() + 1;
    assert_eq!(
        storage.delete_old_notifications(later, 10).await.unwrap(),
        0
    );
    assert!(
        storage
            .notification_delivered(&again[0], 204)
            .await
            .unwrap()
    );
    assert_eq!(
        storage.delete_old_notifications(later, 10).await.unwrap(),
        1
    );
    assert!(storage.notifications(None, 0, 10).await.unwrap().is_empty());
}

pub async fn an_event_whose_effects_change_nothing_is_marked_so(storage: &Storage) {
    stored(
        storage
            .record(&channel("new", "34", Relation::Blocked, 20))
            .await
            .unwrap(),
    );
    stored(
        storage
            .record(&channel("old", "34", Relation::Added, 10))
            .await
            .unwrap(),
    );
    let events = storage.events_after(0, 10).await.unwrap();
    let marked = |key: &str| {
        events
            .iter()
            .find(|e| e.dedupe_key == key)
            .unwrap()
            .changed_nothing
    };
    assert_eq!(marked("new"), None);
    assert_eq!(marked("old"), Some(true), "ignored as older");
}

/// A claim takes at most its limit (PostgreSQL once took more: `IN (SELECT
/// … LIMIT n FOR UPDATE SKIP LOCKED)` may be run again per row).
pub async fn a_notification_claim_takes_at_most_its_limit(storage: &Storage) {
    let notifying = storage.clone().notifying_app();
    for n in 0..4 {
        stored(
            notifying
                .record(&channel(
                    &format!("lim-{n}"),
                    &format!("6{n}"),
                    Relation::Added,
                    1,
                ))
                .await
                .unwrap(),
        );
    }
    let lease = now_millis() + 60_000;
    for limit in [1, 2] {
        let claimed = storage
            .claim_notifications(Destination::App, lease, limit)
            .await
            .unwrap();
        assert_eq!(claimed.len() as i64, limit, "{claimed:?}");
    }
}
