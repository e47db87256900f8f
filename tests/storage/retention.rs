//! Retention deletes the rows past it and nothing else: old events (an
//! outbox row naming one loses the reference, not its row), ended bot
//! replies and messages, ended sessions; never what is recent or pending.

use std::time::Duration;

use kakao_webhooks::{
    clock::now_millis,
    storage::{Dedupe, NewEvent, Source, Storage, bot::OutboxEnd},
};
use serde_json::json;

use crate::contract::{started, stored};

fn share(key: &str) -> NewEvent {
    NewEvent {
        source: Source::Share,
        dedupe: Dedupe::Key(key.into()),
        event_type: "share.delivered".into(),
        user_id: None,
        event_time: None,
        payload: json!({"CHAT_TYPE": "MemoChat"}).into(),
        effects: Vec::new(),
        unapplied_reason: None,
    }
}

/// A moment between what came before and what comes after.
async fn cutoff() -> i64 {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    at
}

pub async fn rows_past_retention_are_deleted_and_nothing_else(storage: &Storage) {
    for n in 0..3 {
        stored(storage.record(&share(&format!("old-{n}"))).await.unwrap());
    }
    // A session that ended, one still active; a message sent, one pending.
    let ended = started(storage, "510").await;
    storage
        .end_session(&ended.session_id, "logout")
        .await
        .unwrap();
    let active = started(storage, "511").await;
    let far = now_millis() + 600_000;
    for target in ["sent-room", "pending-room"] {
        storage
            .queue_bot_message("botGroupKey", target, r#"{"version":"2.0"}"#, far)
            .await
            .unwrap();
    }
    let claimed = storage.claim_bot_outbox(far, 1).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert!(
        storage
            .finish_bot_outbox(&claimed[0], OutboxEnd::Sent, None, None)
            .await
            .unwrap()
    );
    let before = cutoff().await;
    stored(storage.record(&share("recent")).await.unwrap());

    // Events: in batches, oldest first, the recent one kept.
    assert_eq!(storage.delete_old_events(before, 2).await.unwrap(), 2);
    assert_eq!(storage.delete_old_events(before, 2).await.unwrap(), 1);
    assert_eq!(storage.delete_old_events(before, 2).await.unwrap(), 0);
    let left = storage.events_after(0, 100).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|e| e.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        ["recent"]
    );
    // A redelivery of a deleted event is taken as new.
    stored(storage.record(&share("old-0")).await.unwrap());

    // The ended bot message goes; the pending one stays.
    let later = cutoff().await;
    assert_eq!(storage.delete_old_bot_outbox(later, 10).await.unwrap(), 1);
    assert_eq!(storage.pending_bot_outbox().await.unwrap(), 1);

    // The ended session goes; the active one stays.
    assert_eq!(storage.delete_old_sessions(later, 10).await.unwrap(), 1);
    assert!(storage.session(&ended.session_id).await.unwrap().is_none());
    assert!(storage.session(&active.session_id).await.unwrap().is_some());
}
