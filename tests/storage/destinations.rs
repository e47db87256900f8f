//! The app's destination: paused once (however many instances see the
//! failure at the same moment) after failing for long or at once on 410,
//! resumed once; and the bulk replay queueing only what its filter names.

use kakao_webhooks::storage::{
    Storage,
    alerts::{Bodies, Judgement},
    destinations::ReplayFilter,
    notifications::{AttemptFailure, Destination},
};

pub async fn a_destination_pauses_once_after_failing_for_long_and_resumes_once(storage: &Storage) {
    let app = Destination::App;
    assert!(
        !storage
            .destination_failed(app, 1_000, 5_000, false, "500")
            .await
            .unwrap()
    );
    let state = storage.destination_state(app).await.unwrap();
    assert_eq!(
        (state.state.as_str(), state.failing_since),
        ("active", Some(1_000))
    );
    // Still failing past the pause: four instances at once, one pauses.
    let paused = futures_util::future::join_all(
        (0..4).map(|_| storage.destination_failed(app, 7_000, 5_000, false, "500")),
    )
    .await;
    let made: Vec<bool> = paused.into_iter().map(Result::unwrap).collect();
    assert_eq!(made.iter().filter(|p| **p).count(), 1, "{made:?}");
    let state = storage.destination_state(app).await.unwrap();
    assert!(state.paused());
    assert_eq!((state.since, state.reason.as_deref()), (7_000, Some("500")));
    assert!(storage.resume_destination(app, 8_000).await.unwrap());
    assert!(
        !storage.resume_destination(app, 8_001).await.unwrap(),
        "resumed once"
    );
    let state = storage.destination_state(app).await.unwrap();
    assert_eq!(
        (state.state.as_str(), state.failing_since),
        ("active", None)
    );
    // 410 Gone: at once.
    assert!(
        storage
            .destination_failed(app, 9_000, 5_000, true, "410")
            .await
            .unwrap()
    );
    // A success clears the failing time.
    storage.resume_destination(app, 9_500).await.unwrap();
    storage
        .destination_failed(app, 10_000, 5_000, false, "500")
        .await
        .unwrap();
    storage.destination_succeeded(app).await.unwrap();
    assert_eq!(
        storage.destination_state(app).await.unwrap().failing_since,
        None
    );
}

pub async fn a_replay_queues_only_what_its_filter_names(storage: &Storage) {
    // Two notifications to the app (alerts go there too), failed for good.
    for key in ["a", "b"] {
        let judged = Judgement {
            key: key.into(),
            name: "spool",
            family: None,
            active: true,
            summary: key.into(),
            value: 1.0,
            threshold: 0.0,
        };
        let bodies = |_, _| Bodies {
            alert: None,
            app: Some(format!("{{\"type\":\"alert.raised\",\"key\":\"{key}\"}}")),
        };
        storage
            .judge_alert(&judged, 1_000, 1_000, bodies)
            .await
            .unwrap();
    }
    let claimed = storage
        .claim_notifications(Destination::App, i64::MAX / 2, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let failure = AttemptFailure {
        status: Some(500),
        error: "500".into(),
    };
    for row in &claimed {
        assert!(
            storage
                .notification_attempt_failed(row, &failure, None)
                .await
                .unwrap()
        );
    }
    let replay = |filter: ReplayFilter| async move {
        storage.replay_notifications(&filter, 2_000).await.unwrap()
    };
    let failed = || ReplayFilter {
        statuses: vec!["failed"],
        ..ReplayFilter::default()
    };
    assert_eq!(
        replay(ReplayFilter {
            statuses: vec!["delivered"],
            ..failed()
        })
        .await,
        0
    );
    assert_eq!(
        replay(ReplayFilter {
            types: vec!["user.unlinked".into()],
            ..failed()
        })
        .await,
        0
    );
    assert_eq!(
        replay(ReplayFilter {
            user_id: Some("7".into()),
            ..failed()
        })
        .await,
        0
    );
    // Queued at 1_000 (the judgement's time).
    assert_eq!(
        replay(ReplayFilter {
            since: Some(1_001),
            ..failed()
        })
        .await,
        0
    );
    assert_eq!(
        replay(ReplayFilter {
            until: Some(1_000),
            ..failed()
        })
        .await,
        0
    );
    let all = ReplayFilter {
        types: vec!["alert.raised".into()],
        since: Some(1_000),
        ..failed()
    };
    assert_eq!(replay(all.clone()).await, 2);
    assert_eq!(replay(all).await, 0, "pending now: nothing failed is left");
    let again = storage
        .claim_notifications(Destination::App, i64::MAX / 2, 10)
        .await
        .unwrap();
    let ids = |rows: &[kakao_webhooks::storage::notifications::ClaimedNotification]| {
        rows.iter()
            .map(|r| (r.notification_id, r.created_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&again),
        ids(&claimed),
        "the same rows, so the same webhook-ids"
    );
}

pub async fn renotify_queues_held_rows_once(storage: &Storage) {
    use kakao_webhooks::storage::{Relation, destinations::RenotifyFilter};
    // Applied through a handle that does not notify: held for the app.
    for (key, user) in [("h-1", "41"), ("h-2", "42")] {
        crate::contract::stored(
            storage
                .record(&crate::contract::channel(key, user, Relation::Added, 1))
                .await
                .unwrap(),
        );
    }
    let all = RenotifyFilter {
        since: 0,
        ..RenotifyFilter::default()
    };
    let none = RenotifyFilter {
        types: vec!["user.unlinked".into()],
        until: Some(i64::MAX),
        ..all.clone()
    };
    assert_eq!(storage.renotify(&none, 1).await.unwrap(), (0, 0));
    assert_eq!(storage.renotify(&all, 1).await.unwrap(), (2, 0));
    assert_eq!(storage.renotify(&all, 2).await.unwrap(), (0, 2), "once");
    let claimed = storage
        .claim_notifications(Destination::App, i64::MAX / 2, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
}
