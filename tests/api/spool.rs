//! No unlink notice lost to our own faults: with PostgreSQL gone, Kakao's
//! admin-key webhooks are spooled to a local file and answered 200, then
//! stored, in order, once the database is back; a kill -9 in between loses
//! nothing that was answered 200.

use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::Value;

use crate::helpers::{
    ADMIN_KEY, API_TOKEN, APP_ID, ChildProcess, ScratchDatabase, TestApp, free_addr,
};

fn unlink_url(base: &str, user: &str) -> String {
    format!("{base}/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type=UNLINK_FROM_APPS")
}

async fn unlink(client: &Client, base: &str, user: &str) -> u16 {
    client
        .request(Method::GET, unlink_url(base, user))
        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The users of the stored unlinks, in event order, once `count` are stored.
async fn stored_unlinks(client: &Client, base: &str, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let events: Option<Value> = match client
            .get(format!("{base}/api/events?limit=100"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
        {
            Ok(response) if response.status() == 200 => response.json().await.ok(),
            _ => None,
        };
        let users: Vec<String> = events
            .iter()
            .flat_map(|body| body["events"].as_array().cloned().unwrap_or_default())
            .filter(|event| event["type"] == "unlink")
            .map(|event| event["user_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        if users.len() >= count {
            return users;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {users:?} stored"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_gone_unlinks_are_answered_200_and_stored_when_it_returns() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let spool = tempfile::tempdir().unwrap();
    let app = TestApp::kakao()
        .database(&database.url)
        .var("SPOOL_DIR", spool.path().display())
        .spawn()
        .await;
    let base = format!("http://{}", app.addr);
    assert_eq!(unlink(&app.client, &base, "7001").await, 200);

    database.take_away().await;
    for user in ["7002", "7003", "7004"] {
        assert_eq!(unlink(&app.client, &base, user).await, 200, "spooled");
    }
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["spool"]["entries"], 3, "{ready}");
    // The console shows what waits, even with the database gone.
    let health = app
        .console_session()
        .await
        .html(&app, "/console/health")
        .await;
    assert!(health.contains(r#"<p id="spool">3 · "#), "{health}");

    database.bring_back().await;
    let users = stored_unlinks(&app.client, &base, 4).await;
    assert_eq!(users, ["7001", "7002", "7003", "7004"], "in order");
    let started = Instant::now();
    loop {
        let ready: Value = app.get("/ready").await.json().await.unwrap();
        if ready["spool"]["entries"] == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_with_deliveries_in_the_spool_loses_none() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().display().to_string();
    let vars = [("SPOOL_DIR", spool_dir.as_str())];
    let client = Client::new();

    let addr = free_addr();
    let base = format!("http://{addr}");
    let first = ChildProcess::serve_with(&database.url, &addr, &vars).await;
    database.take_away().await;
    for user in ["8001", "8002"] {
        assert_eq!(unlink(&client, &base, user).await, 200, "spooled");
    }
    drop(first); // SIGKILL
    database.bring_back().await;

    let addr = free_addr();
    let base = format!("http://{addr}");
    let _second = ChildProcess::serve_with(&database.url, &addr, &vars).await;
    let users = stored_unlinks(&client, &base, 2).await;
    assert_eq!(users, ["8001", "8002"]);
    database.drop().await;
}
