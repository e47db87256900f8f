//! The writer may write many events in one transaction (and PostgreSQL's a
//! statement per kind for a whole wave of them): what is left must be what
//! the same events leave written one at a time. One run records a mixed
//! sequence all at once (queued together, so written in few batches),
//! another records it event by event, each on a fresh database of the same
//! backend; every table an event touches must come out the same.

use std::future::Future;

use futures_util::future::maybe_done;
use kakao_webhooks::{
    clock::now_millis,
    storage::{Dedupe, Effect, NewEvent, Recorded, Relation, Source, Storage},
};
use serde_json::json;

use crate::{
    backends::TestDb,
    contract::{channel, started, uid, unlink},
};

/// An hour ahead: later than every session the test starts.
fn later() -> i64 {
    now_millis() + 3_600_000
}

fn set(jti: &str, user: &str, time: i64, effects: Vec<Effect>) -> NewEvent {
    NewEvent {
        source: Source::SecurityEvent,
        dedupe: Dedupe::Key(jti.into()),
        event_type: "test".into(),
        user_id: Some(uid(user)),
        event_time: Some(time),
        payload: json!({"jti": jti}).into(),
        effects,
        unapplied_reason: None,
    }
}

fn bot_message(key: &str) -> NewEvent {
    NewEvent {
        source: Source::Bot,
        dedupe: Dedupe::Key(key.into()),
        event_type: "MESSAGE_CREATE".into(),
        user_id: None,
        event_time: Some(1),
        payload: json!({"id": key}).into(),
        effects: vec![Effect::QueueBotReply {
            dedupe_key: key.into(),
            callback_token: Some(format!("token-{key}")),
            expires_at: 1_000,
        }],
        unapplied_reason: None,
    }
}

/// Links, unlinks (some twice: repeats), relinks and unlinks again, late
/// unlinks that change nothing, scope changes (no set-based form), channel
/// relations and profile jobs for the unlinks to drop, and bot messages.
/// The first round goes a step at a time over all users (wide waves), the
/// second a user at a time (each user's events back to back).
fn sequence(at: i64) -> Vec<NewEvent> {
    let mut rounds = Vec::new();
    for round in 0..2 {
        let mut steps: Vec<Vec<NewEvent>> = vec![Vec::new(); 6];
        for n in 0..24 {
            let user = format!("{}", 100 + n);
            let time = at + round * 1_000 + n;
            let link = Effect::Link {
                user_id: uid(&user),
            };
            steps[0].push(set(&format!("link-{round}-{n}"), &user, time, vec![link]));
            if n % 4 == 0 {
                let scopes = Effect::Scopes {
                    user_id: uid(&user),
                    scopes: vec!["email".into(), "phone".into()],
                    consented: true,
                };
                let refresh = Effect::QueueProfileRefresh {
                    user_id: uid(&user),
                };
                steps[1].push(set(
                    &format!("scopes-{round}-{n}"),
                    &user,
                    time + 1,
                    vec![scopes],
                ));
                steps[1].push(channel(
                    &format!("channel-{round}-{n}"),
                    &user,
                    Relation::Added,
                    time + 1,
                ));
                steps[1].push(set(
                    &format!("job-{round}-{n}"),
                    &user,
                    time + 1,
                    vec![refresh],
                ));
            }
            steps[2].push(bot_message(&format!("bot-{round}-{n}")));
            steps[3].push(unlink(&user, "UNLINK_FROM_APPS", Some(time + 2)));
            if n % 3 == 0 {
                steps[4].push(unlink(&user, "UNLINK_FROM_APPS", Some(time + 2)));
            }
            if n % 5 == 1 {
                steps[5].push(unlink(&user, "LATE", Some(time - 10_000)));
            }
        }
        rounds.push(steps);
    }
    let mut events: Vec<NewEvent> = rounds.remove(0).into_iter().flatten().collect();
    let by_user = |event: &NewEvent| event.user_id.clone();
    let mut second: Vec<NewEvent> = rounds.remove(0).into_iter().flatten().collect();
    // Stable: each user's events keep their order.
    second.sort_by_key(by_user);
    events.extend(second);
    events
}

/// What each table an event touches holds, without the columns that record
/// when the row was written (those differ between runs).
async fn contents(db: &TestDb) -> Vec<String> {
    const QUERIES: &[&str] = &[
        "SELECT event_id, source, dedupe_key, event_type, user_id, event_time, payload, applied_at IS NULL, unapplied_reason, payload_erased_at IS NULL, changed_nothing FROM events ORDER BY event_id",
        "SELECT user_id, status, linked_at, unlinked_at, unlink_reason, status_event_at, email, phone_number FROM users ORDER BY user_id",
        "SELECT user_id, scope, consented, changed_at FROM user_scopes ORDER BY user_id, scope",
        "SELECT user_id, revoked_at IS NULL, revoked_reason FROM sessions ORDER BY user_id, created_at",
        "SELECT notification_id, notification_type, event_id, destination, status, body FROM notifications ORDER BY notification_id",
        "SELECT kind, event_id, callback_token, expires_at FROM bot_outbox ORDER BY event_id",
        "SELECT user_id, channel_public_id, relation FROM channel_relations ORDER BY user_id",
        "SELECT kind, user_id FROM jobs ORDER BY user_id",
    ];
    let mut rows = Vec::new();
    for query in QUERIES {
        for row in db.rows(query).await {
            // A notification's body says when it was written.
            const STAMP: &str = "\"timestamp\":\"";
            let row = match row.find(STAMP).map(|at| at + STAMP.len()) {
                Some(start) => {
                    let end = start + row[start..].find('"').expect("a closed string");
                    format!("{}{}", &row[..start], &row[end..])
                }
                None => row,
            };
            rows.push(row);
        }
    }
    rows
}

async fn prepare(storage: &Storage) {
    for n in (0..24).step_by(2) {
        started(storage, &format!("{}", 100 + n)).await;
    }
}

fn outcome(recorded: Recorded) -> String {
    format!("{recorded:?}")
}

async fn written_together_as_one_at_a_time(together: TestDb, one_by_one: TestDb) {
    let at = later();
    let (fast, slow) = (
        together.storage.clone().notifying_stream(),
        one_by_one.storage.clone().notifying_stream(),
    );
    prepare(&fast).await;
    prepare(&slow).await;
    let events = sequence(at);
    // Queued together, in order (one poll each queues an event), so the
    // writer takes them as one or a few batches.
    let mut queued: Vec<_> = events
        .iter()
        .map(|event| Box::pin(maybe_done(fast.record(event))))
        .collect();
    // Unconstrained: tokio's budget would hold back all but the first 128.
    tokio::task::unconstrained(std::future::poll_fn(|cx| {
        for record in &mut queued {
            let _ = record.as_mut().poll(cx);
        }
        std::task::Poll::Ready(())
    }))
    .await;
    let mut batched = Vec::new();
    for record in &mut queued {
        record.as_mut().await;
        batched.push(outcome(record.as_mut().take_output().unwrap().unwrap()));
    }
    let mut single = Vec::new();
    for event in &events {
        single.push(outcome(slow.record(event).await.unwrap()));
    }
    assert_eq!(batched, single, "each event's outcome");
    assert_eq!(
        fast.batches_rewritten(),
        0,
        "no batch failed and went event by event"
    );
    assert!(
        batched.iter().any(|o| o.contains("Duplicate")),
        "the sequence repeats some events"
    );
    let (left_together, left_one_by_one) = (contents(&together).await, contents(&one_by_one).await);
    for (a, b) in left_together.iter().zip(&left_one_by_one) {
        assert_eq!(a, b);
    }
    assert_eq!(left_together.len(), left_one_by_one.len());
    for kind in ["user.unlinked", "user.linked", "session.revoked", "bot|"] {
        assert!(
            left_together.iter().any(|row| row.contains(kind)),
            "the sequence leaves {kind}"
        );
    }
    let late = left_together.iter().filter(|row| row.contains(":LATE:"));
    assert!(
        late.clone().count() > 0
            && late
                .clone()
                .all(|row| row.ends_with("|true") || row.ends_with("|1")),
        "a late unlink changed nothing, and says so"
    );
    together.cleanup().await;
    one_by_one.cleanup().await;
}

#[tokio::test]
async fn sqlite_events_written_together_leave_what_one_at_a_time_leave() {
    written_together_as_one_at_a_time(TestDb::sqlite().await, TestDb::sqlite().await).await;
}

#[tokio::test]
async fn postgres_events_written_together_leave_what_one_at_a_time_leave() {
    let (Some(together), Some(one_by_one)) = (TestDb::postgres().await, TestDb::postgres().await)
    else {
        return;
    };
    written_together_as_one_at_a_time(together, one_by_one).await;
}
