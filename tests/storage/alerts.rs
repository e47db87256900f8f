//! The alerts' state: a condition is raised once however many judge it at
//! the same time, stays raised while it flaps, and is resolved once clear
//! for a whole window; each change queues its notifications in the same
//! transaction.

use kakao_webhooks::storage::{
    Storage,
    alerts::{Bodies, DeliveryTally, Judgement, Transition},
};

fn judged(active: bool) -> Judgement {
    Judgement {
        key: "webhook_failures:unlink".into(),
        name: "webhook_failures",
        family: Some("unlink"),
        active,
        summary: "unlink failing".into(),
        value: if active { 1.0 } else { 0.0 },
        threshold: 0.1,
    }
}

fn bodies(transition: Transition, since: i64) -> Bodies {
    Bodies {
        alert: Some(format!(
            "{{\"state\":\"{}\",\"since\":{since}}}",
            transition.state()
        )),
        app: None,
    }
}

pub async fn an_alert_is_raised_once_and_resolved_once_clear_for_a_window(storage: &Storage) {
    const WINDOW: i64 = 1_000;
    let t = 1_000_000;
    // Four judges at once, as four instances: one raises.
    let active = judged(true);
    let raised = futures_util::future::join_all(
        (0..4).map(|_| storage.judge_alert(&active, t, WINDOW, bodies)),
    )
    .await;
    let made: Vec<_> = raised.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(made, [Transition::Raised]);
    // Clear, then failing again within the window: no change either way.
    assert_eq!(
        storage
            .judge_alert(&judged(false), t + 100, WINDOW, bodies)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .judge_alert(&judged(true), t + 200, WINDOW, bodies)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .judge_alert(&judged(false), t + 300, WINDOW, bodies)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .judge_alert(&judged(false), t + 1_200, WINDOW, bodies)
            .await
            .unwrap(),
        None
    );
    // Clear for a whole window since t + 300: resolved, once.
    assert_eq!(
        storage
            .judge_alert(&judged(false), t + 1_300, WINDOW, bodies)
            .await
            .unwrap(),
        Some(Transition::Resolved)
    );
    assert_eq!(
        storage
            .judge_alert(&judged(false), t + 1_400, WINDOW, bodies)
            .await
            .unwrap(),
        None
    );
    let listed = storage.alerts(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state.as_str(), listed[0].since),
        ("resolved", t + 1_300)
    );
    let queued = storage.alert_notification_bodies().await.unwrap();
    assert_eq!(
        queued,
        [
            format!("{{\"state\":\"raised\",\"since\":{t}}}"),
            format!("{{\"state\":\"resolved\",\"since\":{t}}}"),
        ],
        "the resolution says since when it was raised"
    );
}

pub async fn tallies_from_several_instances_add_up(storage: &Storage) {
    let row = |deliveries, late| DeliveryTally {
        bucket: 60_000,
        family: "unlink".into(),
        outcome: "refused".into(),
        deliveries,
        late,
    };
    storage.add_delivery_tallies(&[row(3, 1)]).await.unwrap();
    storage.add_delivery_tallies(&[row(4, 0)]).await.unwrap();
    let totals = storage.delivery_totals(60_000).await.unwrap();
    assert_eq!((totals[0].deliveries, totals[0].late), (7, 1));
    assert!(storage.delivery_totals(60_001).await.unwrap().is_empty());
    assert_eq!(storage.delete_old_tallies(60_001).await.unwrap(), 1);
}
