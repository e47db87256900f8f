//! The console's chart counts: answer times from several instances add up
//! per minute, family and bound; a minute's outbox sample keeps its latest
//! count; deliveries are grouped into the chart's stretches; old counts go.

use kakao_webhooks::storage::{Storage, alerts::DeliveryTally, charts::AnswerCount};

fn answers(minute: i64, le_ms: i64, deliveries: i64) -> AnswerCount {
    AnswerCount {
        minute,
        family: "skill".into(),
        le_ms,
        deliveries,
    }
}

pub async fn chart_counts_from_several_instances_add_up_per_stretch(storage: &Storage) {
    // A minute's start.
    let minute = 1_800_000_000_000;
    // Two instances write the same minute's histogram at once.
    let (a, b) = (
        [answers(minute, 10, 3), answers(minute, 100, 1)],
        [answers(minute, 10, 2)],
    );
    let (first, second) =
        futures_util::join!(storage.add_answer_times(&a), storage.add_answer_times(&b));
    first.unwrap();
    second.unwrap();
    let mut times = storage
        .answer_times_over_time(minute, 60_000)
        .await
        .unwrap();
    times.sort_by(|x, y| x.part.cmp(&y.part));
    let got: Vec<_> = times
        .iter()
        .map(|p| (p.at, p.series.as_str(), p.part.as_str(), p.count))
        .collect();
    assert_eq!(
        got,
        [(minute, "skill", "10", 5), (minute, "skill", "100", 1)]
    );

    // Deliveries in 10 s buckets, grouped per minute.
    let tally = |bucket, outcome: &str, deliveries| DeliveryTally {
        bucket,
        family: "unlink".into(),
        outcome: outcome.into(),
        deliveries,
        late: 0,
    };
    storage
        .add_delivery_tallies(&[
            tally(minute, "accepted", 2),
            tally(minute + 10_000, "accepted", 3),
            tally(minute + 60_000, "refused", 1),
        ])
        .await
        .unwrap();
    let volume = storage.deliveries_over_time(minute, 60_000).await.unwrap();
    let got: Vec<_> = volume
        .iter()
        .map(|p| (p.at, p.part.as_str(), p.count))
        .collect();
    assert_eq!(
        got,
        [(minute, "accepted", 5), (minute + 60_000, "refused", 1)]
    );

    // A minute sampled twice keeps its latest count; every outbox gets a row.
    let rows = storage.sample_outboxes(minute).await.unwrap();
    assert_eq!(rows.len(), 8);
    storage.sample_outboxes(minute).await.unwrap();
    let depth = storage.outboxes_over_time(minute, 60_000).await.unwrap();
    assert_eq!(depth.len(), 8, "{depth:?}");
    assert!(depth.iter().all(|p| p.at == minute && p.count == 0));

    assert_eq!(
        storage.delete_old_chart_rows(minute + 1).await.unwrap(),
        2 + 8
    );
    assert!(
        storage
            .answer_times_over_time(0, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
}
