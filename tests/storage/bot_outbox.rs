//! The bot outbox's claims and ends: rows ended together (as the outbox's
//! workers end them, many in one statement) end only where their claim still
//! holds, each with its own outcome.

use kakao_webhooks::{
    clock::now_millis,
    storage::{
        Storage,
        bot::{Finish, KakaoErrorCode, MessageQueued, OutboxEnd},
    },
};

/// `count` messages queued to users of their own, due at once: their ids.
pub async fn queue_messages(storage: &Storage, count: usize) -> Vec<i64> {
    let expires = now_millis() + 600_000;
    let mut ids = Vec::new();
    for n in 0..count {
        let queued = storage
            .queue_bot_message(
                "botUserKey",
                &format!("user-{n}"),
                r#"{"version":"2.0"}"#,
                expires,
            )
            .await
            .unwrap();
        let MessageQueued::Queued { message_id } = queued else {
            panic!("{queued:?}")
        };
        ids.push(message_id);
    }
    ids
}

pub async fn rows_ended_together_end_only_where_their_claim_holds(storage: &Storage) {
    let far = now_millis() + 600_000;
    let ids = queue_messages(storage, 4).await;
    // A claim takes at most its limit, oldest first; this one's lease has
    // already run out, so its row is due again.
    let lapsed = storage
        .claim_bot_outbox(now_millis() - 1_000, 1)
        .await
        .unwrap();
    assert_eq!(lapsed.len(), 1, "{lapsed:?}");
    assert_eq!((lapsed[0].outbox_id, lapsed[0].attempts), (ids[0], 1));
    let claimed = storage.claim_bot_outbox(far, 10).await.unwrap();
    let mut taken: Vec<(i64, i64)> = claimed.iter().map(|i| (i.outbox_id, i.attempts)).collect();
    taken.sort_unstable();
    assert_eq!(taken, [(ids[0], 2), (ids[1], 1), (ids[2], 1), (ids[3], 1)]);
    assert!(storage.claim_bot_outbox(far, 10).await.unwrap().is_empty());
    let item = |id| claimed.iter().find(|i| i.outbox_id == id).unwrap();

    let refused = KakaoErrorCode {
        code: Some(-401),
        msg: "refused".into(),
    };
    let ends = [
        Finish::new(&lapsed[0], OutboxEnd::Sent, None, Some("{}".into())),
        Finish::new(
            item(ids[1]),
            OutboxEnd::Sent,
            None,
            Some(r#"{"sendCount":1}"#.into()),
        ),
        Finish::new(item(ids[2]), OutboxEnd::Failed, Some(refused), None),
    ];
    assert_eq!(
        storage.finish_bot_outboxes(&ends).await.unwrap(),
        [false, true, true],
        "the first row's lapsed claim was taken over"
    );
    // Ended rows end once.
    assert_eq!(
        storage.finish_bot_outboxes(&ends[1..]).await.unwrap(),
        [false, false]
    );

    let message = |id| async move { storage.bot_message(id).await.unwrap().unwrap() };
    let lost = message(ids[0]).await;
    assert_eq!((lost.status.as_str(), lost.attempts), ("pending", 2));
    let sent = message(ids[1]).await;
    assert_eq!(sent.status, "sent");
    assert_eq!(sent.result.as_deref(), Some(r#"{"sendCount":1}"#));
    let failed = message(ids[2]).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(
        (failed.last_error_code, failed.last_error_msg.as_deref()),
        (Some(-401), Some("refused"))
    );
    assert_eq!(message(ids[3]).await.status, "pending");

    // The newer claim ends its row; nothing is left to end.
    let newest = [Finish::new(item(ids[0]), OutboxEnd::Sent, None, None)];
    assert_eq!(storage.finish_bot_outboxes(&newest).await.unwrap(), [true]);
    assert_eq!(message(ids[0]).await.status, "sent");
    assert_eq!(
        storage.finish_bot_outboxes(&[]).await.unwrap(),
        Vec::<bool>::new()
    );
}
