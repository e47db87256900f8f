//! kill -9 during a burst: after a restart, every webhook that was answered
//! 2xx is stored and applied. Nothing acknowledged is lost.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::helpers::{ADMIN_KEY, API_TOKEN, APP_ID, ChildProcess, ScratchDatabase, free_addr};

/// Sends a burst of unlinks (distinct users), kills the service with SIGKILL
/// while they run, restarts it and checks every acknowledged one.
async fn burst_kill_restart(database: &str) {
    let addr = free_addr();
    let mut service = ChildProcess::serve(database, &addr).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..32)
        .map(|worker| {
            let (client, addr, acknowledged) = (client.clone(), addr.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0..1000 {
                    let user = format!("{}", 7_000_000 + worker * 1000 + n);
                    let url = format!("http://{addr}/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type=UNLINK_FROM_APPS");
                    let answer = client.get(url).header("authorization", format!("KakaoAK {ADMIN_KEY}")).send().await;
                    match answer {
                        Ok(response) if response.status() == 200 => acknowledged.lock().unwrap().push(user),
                        Ok(_) => {}
                        Err(_) => break, // the service is gone
                    }
                }
            })
        })
        .collect();
    // Let the burst build up, then pull the plug mid-flight.
    while acknowledged.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.0.kill().unwrap(); // SIGKILL: no shutdown, no flush
    service.0.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300);

    let addr = free_addr();
    let _restarted = ChildProcess::serve(database, &addr).await;
    for user in &acknowledged {
        let user: serde_json::Value = client
            .get(format!("http://{addr}/api/users/{user}"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["status"], "unlinked", "acknowledged but lost: {user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_acknowledged_webhook_is_kept_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    burst_kill_restart(&format!("sqlite://{}/crash.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_acknowledged_webhook_is_kept_postgres() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    burst_kill_restart(&database.url).await;
    database.drop().await;
}
