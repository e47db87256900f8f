//! Recovering after the app was down: a bulk replay by filter under the
//! notifications' own ids, a destination paused after failing for long (or
//! at once on `410 Gone`) that loses nothing and sends its backlog oldest
//! first at the rate limit once resumed, and `Retry-After` honoured. All
//! against a real local app (`AppReceiver`).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    app_receiver::{Answer, AppReceiver, SIGNING_SECRET},
    helpers::{TestApp, TestAppBuilder},
};

const WAIT: Duration = Duration::from_secs(30);

fn notifying(receiver: &AppReceiver) -> TestAppBuilder {
    TestApp::kakao()
        .var("APP_NOTIFY_URL", receiver.url())
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("ALERT_WINDOW_SECONDS", 3)
}

/// A Kakao Talk Channel change for `user` at second `second` (each one a
/// notification).
async fn channel_change(app: &TestApp, user: &str, second: u32) {
    let event = if second.is_multiple_of(2) {
        "added"
    } else {
        "blocked"
    };
    let body = json!({
        "event": event, "id": user, "id_type": "app_user_id", "channel_public_id": "_FLX",
        "updated_at": format!("2024-01-01T00:{:02}:{:02}Z", second / 60, second % 60),
    });
    let response = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", format!("r-{user}-{second}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.api_get(&format!("/api/notifications{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["notifications"].as_array().unwrap().clone()
}

/// Polls until `check` holds of what `query` lists.
async fn until_listed(app: &TestApp, query: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = listed(app, query).await;
        if check(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "{query}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn destination(app: &TestApp) -> Value {
    let (status, body) = app.api_get("/api/notifications/destination").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn until_paused(app: &TestApp) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = destination(app).await;
        if state["state"] == "paused" {
            return state;
        }
        assert!(Instant::now() < deadline, "never paused: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(crate::helpers::API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The notification id inside a `webhook-id` (`ntf_{created}_{id}`).
fn notification_id(webhook_id: &str) -> i64 {
    webhook_id.rsplit('_').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_replay_queues_matching_notifications_again_under_their_ids() {
    let receiver = AppReceiver::start().await;
    receiver.script([], Answer::Status(503));
    let app = notifying(&receiver)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50")
        .spawn()
        .await;
    for second in 1..=3 {
        channel_change(&app, "7", second).await;
    }
    channel_change(&app, "8", 1).await;
    let failed = until_listed(&app, "?status=failed", |rows| rows.len() == 4).await;
    let sevens: Vec<String> = failed
        .iter()
        .filter(|row| row["body"]["data"]["user_id"] == "7")
        .map(|row| row["webhook_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sevens.len(), 3);
    let attempts_before = receiver.received().len();

    for bad in [
        json!({"status": ["pending"]}),
        json!({"status": ["lost"]}),
        json!({"since": "yesterday"}),
        json!({"user": "7"}),
    ] {
        let (status, body) = post_json(&app, "/api/notifications/replay", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (_, nothing) = post_json(
        &app,
        "/api/notifications/replay",
        json!({"status": ["failed"], "since": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(nothing, json!({"queued": 0}));

    receiver.script([], Answer::Status(200));
    let (status, queued) = post_json(
        &app,
        "/api/notifications/replay",
        json!({"status": ["failed"], "user_id": "7", "type": ["channel.added", "channel.blocked"]}),
    )
    .await;
    assert_eq!((status, queued), (200, json!({"queued": 3})));
    // The alerts about the failures reach the app too: only the channel's count.
    let deadline = Instant::now() + WAIT;
    let mut replayed: Vec<String> = loop {
        let ids: Vec<String> = receiver.received()[attempts_before..]
            .iter()
            .filter(|r| r.json()["type"].as_str().unwrap().starts_with("channel."))
            .map(|r| r.id.clone())
            .collect();
        if ids.len() >= 3 {
            break ids;
        }
        assert!(Instant::now() < deadline, "replayed: {ids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    replayed.sort();
    let mut expected = sevens.clone();
    expected.sort();
    assert_eq!(
        replayed, expected,
        "the same webhook-ids, so the app can dedupe"
    );
    let channel = |rows: &[Value]| {
        rows.iter()
            .filter(|r| r["type"].as_str().unwrap().starts_with("channel."))
            .count()
    };
    until_listed(&app, "?status=delivered", |rows| channel(rows) == 3).await;
    let still: Vec<Value> = listed(&app, "?status=failed")
        .await
        .into_iter()
        .filter(|r| r["type"].as_str().unwrap().starts_with("channel."))
        .collect();
    assert_eq!(still.len(), 1);
    assert_eq!(still[0]["body"]["data"]["user_id"], "8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_app_is_paused_loses_nothing_and_gets_its_backlog_in_order_at_the_rate_limit() {
    let receiver = AppReceiver::start().await;
    receiver.script([], Answer::Status(500));
    let app = notifying(&receiver)
        .var(
            "APP_NOTIFY_RETRY_SCHEDULE_MS",
            "300,300,300,300,300,300,300,300,300,300",
        )
        .var("APP_NOTIFY_PAUSE_AFTER_SECONDS", 1)
        .var("APP_NOTIFY_MAX_PER_SECOND", 5)
        .spawn()
        .await;
    channel_change(&app, "7", 1).await;
    let paused = until_paused(&app).await;
    assert!(
        paused["reason"].as_str().unwrap().contains("500"),
        "{paused}"
    );
    // Raised as the app_notifications alert.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, alerts) = app.api_get("/api/alerts").await;
        let raised = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "app_notifications" && a["state"] == "raised");
        if raised {
            break;
        }
        assert!(Instant::now() < deadline, "{alerts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Queued while paused: nothing is attempted, nothing becomes failed.
    for second in 2..=13 {
        channel_change(&app, "7", second).await;
    }
    let attempts = receiver.received().len();
    // The 13 changes, and the alert about the pause (it goes to the app too).
    let channel = |rows: &[Value]| {
        rows.iter()
            .filter(|r| r["type"].as_str().unwrap().starts_with("channel."))
            .count()
    };
    let pending = until_listed(&app, "?status=pending", |rows| channel(rows) == 13).await;
    assert_eq!(listed(&app, "?status=failed").await.len(), 0);
    // An absence: given two of the notifier's polls (500 ms each) to show.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        receiver.received().len(),
        attempts,
        "nothing attempted while paused"
    );
    let oldest_first: Vec<i64> = pending
        .iter()
        .map(|r| r["notification_id"].as_i64().unwrap())
        .collect();
    let backlog = oldest_first.len();

    receiver.script([], Answer::Status(200));
    let (status, resumed) = post_json(&app, "/api/notifications/resume", json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["state"], "active");
    assert_eq!(resumed["resumed"], true);
    let started = Instant::now();
    let received = receiver.wait_for(attempts + backlog, WAIT).await;
    let spread = started.elapsed();
    let order: Vec<i64> = received[attempts..attempts + backlog]
        .iter()
        .map(|r| notification_id(&r.id))
        .collect();
    // A second's worth at once, then one at a time, oldest first.
    let mut first: Vec<i64> = order[..5].to_vec();
    first.sort();
    assert_eq!(first, oldest_first[..5], "{order:?}");
    assert_eq!(order[5..], oldest_first[5..], "{order:?}");
    // 13 or more at 5 a second, 5 at once: at least 8 / 5 s (a floor, never a speed).
    assert!(
        spread >= Duration::from_millis(1500),
        "{spread:?} for {backlog} at 5/s"
    );
    until_listed(&app, "?status=delivered", |rows| channel(rows) == 13).await;
    assert_eq!(destination(&app).await["failing_since"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_gone_pauses_at_once() {
    let receiver = AppReceiver::start().await;
    receiver.script([Answer::Status(410)], Answer::Status(200));
    let app = notifying(&receiver)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50")
        .spawn()
        .await;
    channel_change(&app, "7", 1).await;
    let paused = until_paused(&app).await;
    assert!(
        paused["reason"].as_str().unwrap().contains("410"),
        "{paused}"
    );
    assert_eq!(receiver.received().len(), 1, "one attempt, then paused");
    let pending = listed(&app, "?status=pending").await;
    assert_eq!(pending.len(), 1, "not failed: it waits for the resume");
    post_json(&app, "/api/notifications/resume", json!({})).await;
    until_listed(&app, "?status=delivered", |rows| {
        rows.iter().any(|r| r["type"] != "alert.raised")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_a_503_is_waited_out_even_when_the_schedule_is_shorter() {
    let receiver = AppReceiver::start().await;
    receiver.script([Answer::RetryAfter(503, 2)], Answer::Status(200));
    let app = notifying(&receiver)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50,50")
        .spawn()
        .await;
    channel_change(&app, "7", 1).await;
    receiver.wait_for(1, WAIT).await;
    let first = Instant::now();
    receiver.wait_for(2, WAIT).await;
    let waited = first.elapsed();
    assert!(
        waited >= Duration::from_millis(1800),
        "retried after {waited:?}"
    );
    until_listed(&app, "?status=delivered", |rows| !rows.is_empty()).await;
    assert_eq!(destination(&app).await["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_paused_app_resumes_it_and_retries_all_failed() {
    let receiver = AppReceiver::start().await;
    receiver.script([Answer::Status(410)], Answer::Status(200));
    let app = notifying(&receiver)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50")
        .spawn()
        .await;
    let console = app.console_session().await;
    let (client, session) = (console.client.clone(), console.cookie.clone());
    let page = |lang: &'static str| {
        let (console, app) = (&console, &app);
        async move {
            console
                .html(app, &format!("/console/outboxes?lang={lang}"))
                .await
        }
    };
    assert!(
        page("en").await.contains("Nothing to send."),
        "the empty outbox says what appears there"
    );
    channel_change(&app, "7", 1).await;
    until_paused(&app).await;
    let shown = page("ko").await;
    assert!(shown.contains("APP_NOTIFY_URL 일시 중지됨"), "{shown}");
    assert!(shown.contains("410"), "{shown}");
    let csrf = shown
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let post = |path: &'static str| {
        let client = client.clone();
        let session = session.clone();
        let csrf = csrf.clone();
        let url = app.url(path);
        async move {
            let response = client
                .post(url)
                .header("cookie", session)
                .form(&[("csrf", csrf)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 303);
        }
    };
    post("/console/notifications/resume").await;
    assert_eq!(destination(&app).await["state"], "active");
    until_listed(&app, "?status=delivered", |rows| !rows.is_empty()).await;

    // Failed for good, then all retried from the console.
    receiver.script([], Answer::Status(500));
    channel_change(&app, "8", 2).await;
    channel_change(&app, "9", 3).await;
    until_listed(&app, "?status=failed", |rows| rows.len() >= 2).await;
    receiver.script([], Answer::Status(200));
    let shown = page("en").await;
    assert!(shown.contains("Retry all failed ("), "{shown}");
    post("/console/notifications/retry-failed").await;
    until_listed(&app, "?status=delivered", |rows| {
        rows.iter()
            .filter(|r| r["type"].as_str().unwrap().starts_with("channel."))
            .count()
            == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renotify_sends_the_changes_applied_before_app_notify_url_was_set_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/renotify.db", dir.path().display());
    // No APP_NOTIFY_URL yet: the changes are applied, their notifications held.
    let before = TestApp::kakao().database(&database).spawn().await;
    for second in 1..=3 {
        channel_change(&before, "7", second).await;
    }
    assert_eq!(listed(&before, "?status=held").await.len(), 3);
    before.stop().await.unwrap();

    let receiver = AppReceiver::start().await;
    let app = notifying(&receiver).database(&database).spawn().await;
    for bad in [
        json!({}),
        json!({"since": "soon"}),
        json!({"since": "2020-01-01T00:00:00Z", "user": "7"}),
    ] {
        let (status, body) = post_json(&app, "/api/events/renotify", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let since = json!({"since": "2020-01-01T00:00:00Z", "type": ["user.unlinked"]});
    assert_eq!(
        post_json(&app, "/api/events/renotify", since).await,
        (200, json!({"queued": 0, "already": 0}))
    );
    // An absence: held rows are not sent by themselves (two of the
    // notifier's polls of 500 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(receiver.received().len(), 0, "held rows wait for renotify");

    let all = json!({"since": "2020-01-01T00:00:00Z"});
    assert_eq!(
        post_json(&app, "/api/events/renotify", all.clone()).await,
        (200, json!({"queued": 3, "already": 0}))
    );
    let received = receiver.wait_for(3, WAIT).await;
    let mut kinds: Vec<String> = received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["channel.added", "channel.blocked", "channel.blocked"]
    );
    assert!(received.iter().all(|r| r.signed_with(SIGNING_SECRET)));
    // Twice: nothing new is queued.
    assert_eq!(
        post_json(&app, "/api/events/renotify", all).await,
        (200, json!({"queued": 0, "already": 3}))
    );
    until_listed(&app, "?status=delivered", |rows| rows.len() == 3).await;
}
