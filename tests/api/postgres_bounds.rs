//! No lock wait can stall the service on PostgreSQL: every connection gives
//! up waiting for a lock after `lock_timeout`, so a transaction of another
//! client holding what a webhook needs costs that webhook a 503, and the
//! event writer goes on with the others. The spool is kept from taking the
//! refused webhooks (`SPOOL_MAX_BYTES=1`), so that a refusal shows as 503.

use std::time::Duration;

use reqwest::Method;
use sqlx::{Connection, PgConnection};

use crate::helpers::{APP_ID, ScratchDatabase, TestApp};

async fn unlink(app: &TestApp, user: &str, referrer: &str) -> u16 {
    app.kakao_request(
        Method::GET,
        &format!("/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type={referrer}"),
    )
    .timeout(Duration::from_secs(30))
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Sends unlinks of `user` (a new referrer each time) until one is stored.
async fn until_stored(app: &TestApp, user: &str) {
    let started = std::time::Instant::now();
    for attempt in 0.. {
        if unlink(app, user, &format!("RETRY_{attempt}")).await == 200 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{user} was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_locked_by_another_client_does_not_stall_the_writer() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let app = TestApp::kakao()
        .database(&database.url)
        .var("SPOOL_MAX_BYTES", 1)
        .spawn()
        .await;
    assert_eq!(unlink(&app, "1001", "UNLINK_FROM_APPS").await, 200);

    // Another client locks user 1001's row and sits on it.
    let mut other = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT 1 FROM users WHERE user_id = '1001' FOR UPDATE")
        .execute(&mut other)
        .await
        .unwrap();
    // A webhook about that user cannot be stored: 503, not a hang.
    assert_eq!(unlink(&app, "1001", "UNLINK_FROM_ADMIN").await, 503);
    // Another user's is stored while the lock is still held: the writer
    // gave up waiting instead of stalling every webhook behind it.
    until_stored(&app, "2002").await;

    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    until_stored(&app, "1001").await;
    drop(other);
    app.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_advisory_lock_held_elsewhere_costs_a_503_not_a_hang() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let app = TestApp::kakao()
        .database(&database.url)
        .var("SPOOL_MAX_BYTES", 1)
        .spawn()
        .await;
    let mut other = PgConnection::connect(&database.url).await.unwrap();
    // The lock every instance's event writer takes for a batch.
    sqlx::raw_sql("SELECT pg_advisory_lock(7438201)")
        .execute(&mut other)
        .await
        .unwrap();
    assert_eq!(unlink(&app, "3003", "UNLINK_FROM_APPS").await, 503);
    sqlx::raw_sql("SELECT pg_advisory_unlock(7438201)")
        .execute(&mut other)
        .await
        .unwrap();
    until_stored(&app, "3003").await;
    drop(other);
    app.stop().await.unwrap();
    database.drop().await;
}
