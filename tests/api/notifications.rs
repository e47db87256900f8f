//! Notifications to the app (`APP_NOTIFY_URL`): one per applied change,
//! queued in the change's transaction, signed (Standard Webhooks), retried
//! under one `webhook-id`, delivered once across instances and restarts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    app_receiver::{Answer, AppReceiver, SIGNING_SECRET},
    helpers::{APP_ID, ChildProcess, ScratchDatabase, TestApp, TestAppBuilder, free_addr},
};

const WAIT: Duration = Duration::from_secs(15);

fn notifying(receiver: &AppReceiver) -> TestAppBuilder {
    TestApp::kakao()
        .var("APP_NOTIFY_URL", receiver.url())
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50,50,50")
}

fn channel(user: &str, event: &str, second: u32) -> Value {
    json!({
        "event": event, "id": user, "id_type": "app_user_id", "channel_public_id": "_FLX",
        "updated_at": format!("2024-01-01T00:00:{second:02}Z"),
    })
}

async fn send_channel(app: &TestApp, resource_id: &str, body: &Value) {
    let response = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", resource_id)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn notifications(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.api_get(&format!("/api/notifications{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["notifications"].as_array().unwrap().clone()
}

/// Polls the API until `query` lists `count` notifications.
async fn wait_listed(app: &TestApp, query: &str, count: usize) -> Vec<Value> {
    for _ in 0..300 {
        let listed = notifications(app, query).await;
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} notification(s) for {query}: {:?}",
        notifications(app, "").await
    );
}

#[tokio::test]
async fn an_unlink_is_notified_signed_with_the_source_event_id() {
    let receiver = AppReceiver::start().await;
    let app = notifying(&receiver).spawn().await;
    app.login("77").await;
    let unlink = format!("/kakao/unlink?app_id={APP_ID}&user_id=77&referrer_type=UNLINK_FROM_APPS");
    let answer = app
        .kakao_request(Method::GET, &unlink)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let received = receiver.wait_for(2, WAIT).await;
    let event_id = app.events().await[0]["event_id"].clone();
    let mut types: Vec<String> = Vec::new();
    for request in &received {
        assert!(request.signed_with(SIGNING_SECRET), "{request:?}");
        let body = request.json();
        assert_eq!(body["data"]["user_id"], "77");
        assert_eq!(body["data"]["event_id"], event_id, "{body}");
        let sent_at: i64 = request.timestamp.parse().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - sent_at).abs() < 300, "webhook-timestamp {sent_at}");
        types.push(body["type"].as_str().unwrap().to_owned());
    }
    types.sort();
    assert_eq!(types, ["session.revoked", "user.unlinked"]);
    assert_eq!(received[0].json()["data"]["reason"], "UNLINK_FROM_APPS");
    assert_ne!(received[0].id, received[1].id, "one id per notification");
    let wrong = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(!received[0].signed_with(wrong), "the check can fail");
}

#[tokio::test]
async fn a_repeat_or_an_older_change_notifies_nothing() {
    let receiver = AppReceiver::start().await;
    let app = notifying(&receiver).spawn().await;
    send_channel(&app, "newer", &channel("5", "blocked", 30)).await;
    send_channel(&app, "newer", &channel("5", "blocked", 30)).await; // a redelivery
    send_channel(&app, "older", &channel("5", "added", 10)).await; // ignored as older

    assert_eq!(
        app.events().await.len(),
        2,
        "both distinct events are stored"
    );
    let listed = wait_listed(&app, "?status=delivered", 1).await;
    assert_eq!(notifications(&app, "").await.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["type"], "channel.blocked");
    assert_eq!(
        listed[0]["body"]["data"],
        json!({"user_id": "5", "channel_public_id": "_FLX", "event_id": listed[0]["event_id"]})
    );
}

#[tokio::test]
async fn a_failing_app_gets_the_same_id_and_body_on_every_attempt_and_no_redirect_is_followed() {
    let receiver = AppReceiver::start().await;
    receiver.script([Answer::Status(500), Answer::Redirect], Answer::Status(204));
    let app = notifying(&receiver).spawn().await;
    send_channel(&app, "r-1", &channel("6", "added", 1)).await;

    let received = receiver.wait_for(3, WAIT).await;
    let delivered = wait_listed(&app, "?status=delivered", 1).await;
    assert_eq!(delivered[0]["attempts"], 3, "{delivered:?}");
    assert_eq!(received.len(), 3, "the redirect was not followed");
    for attempt in &received {
        assert_eq!(attempt.id, received[0].id);
        assert_eq!(attempt.body, received[0].body);
        assert!(attempt.signed_with(SIGNING_SECRET));
    }
    assert_eq!(delivered[0]["webhook_id"], received[0].id.as_str());
}

#[tokio::test]
async fn a_notification_fails_after_its_schedule_and_a_retry_through_the_api_delivers_it() {
    let receiver = AppReceiver::start().await;
    receiver.script([], Answer::Status(503));
    let app = notifying(&receiver)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50")
        .spawn()
        .await;
    send_channel(&app, "r-1", &channel("7", "added", 1)).await;

    let failed = wait_listed(&app, "?status=failed", 1).await;
    assert_eq!(failed[0]["attempts"], 2, "{failed:?}");
    assert_eq!(failed[0]["last_status"], 503);
    let id = failed[0]["notification_id"].as_i64().unwrap();

    receiver.script([], Answer::Status(200));
    let retry = format!("/api/notifications/{id}/retry");
    let (status, body) = app.api_call(Method::POST, &retry).await;
    assert_eq!(status, 202, "{body}");
    let delivered = wait_listed(&app, "?status=delivered", 1).await;
    assert_eq!(delivered[0]["attempts"], 3);
    assert_eq!(
        app.api_call(Method::POST, &retry).await.0,
        409,
        "delivered stays delivered"
    );
    assert_eq!(
        app.api_call(Method::POST, "/api/notifications/999/retry")
            .await
            .0,
        404
    );
    assert_eq!(app.api_get("/api/notifications?status=lost").await.0, 400);
    let ids: Vec<String> = receiver.received().iter().map(|r| r.id.clone()).collect();
    assert!(ids.iter().all(|one| *one == ids[0]), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_interrupted_by_a_crash_is_delivered_after_the_restart() {
    let receiver = AppReceiver::start().await;
    receiver.script([Answer::Hang], Answer::Status(200));
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/crash.db", dir.path().display());
    let addr = free_addr();
    let url = receiver.url();
    let vars = [
        ("APP_NOTIFY_URL", url.as_str()),
        ("APP_SIGNING_SECRET", SIGNING_SECRET),
        ("APP_NOTIFY_TIMEOUT_MS", "1000"),
    ];
    let service = ChildProcess::serve_with(&database, &addr, &vars).await;
    let unlink = format!(
        "http://{addr}/kakao/unlink?app_id={APP_ID}&user_id=88&referrer_type=UNLINK_FROM_APPS"
    );
    let answer = reqwest::Client::new()
        .get(&unlink)
        .header(
            "authorization",
            format!("KakaoAK {}", crate::helpers::ADMIN_KEY),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The attempt is under way (the app hangs) when the service dies.
    receiver.wait_for(1, WAIT).await;
    drop(service); // SIGKILL

    let _again = ChildProcess::serve_with(&database, &addr, &vars).await;
    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(received[0].id, received[1].id, "the same notification");
    assert_eq!(received[1].json()["type"], "user.unlinked");
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_notification_once() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let receiver = AppReceiver::start().await;
    let one = notifying(&receiver)
        .var("DATABASE_URL", &database.url)
        .spawn()
        .await;
    let two = notifying(&receiver)
        .var("DATABASE_URL", &database.url)
        .spawn()
        .await;
    for n in 0..30u32 {
        let app = if n % 2 == 0 { &one } else { &two };
        send_channel(
            app,
            &format!("multi-{n}"),
            &channel(&format!("{}", 100 + n), "added", 1),
        )
        .await;
    }
    wait_listed(&one, "?status=delivered&limit=1000", 30).await;
    let mut ids: Vec<String> = receiver.received().iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 30, "each sent once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "thirty distinct notifications");
}
