//! SQLite migrations that rebuild a table, run on a database that already
//! holds data, as an upgrade meets it.

use std::{borrow::Cow, path::Path};

use kakao_webhooks::{config::DatabaseUrl, storage::Storage};
use sqlx::{Row, SqlitePool, sqlite::SqliteConnectOptions};
use tokio_util::task::TaskTracker;

/// The migrations up to and including `last`, as an older release shipped them.
async fn migrate_up_to(pool: &SqlitePool, last: i64) {
    let mut migrator = sqlx::migrate::Migrator::new(Path::new("migrations/sqlite"))
        .await
        .unwrap();
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|migration| migration.version <= last)
        .cloned()
        .collect();
    migrator.migrations = Cow::Owned(older);
    migrator.run(pool).await.unwrap();
}

/// Every row of `table`, each as its columns' text, in key order.
async fn rows(pool: &SqlitePool, table: &str, key: &str) -> Vec<Vec<Option<String>>> {
    let sql = format!("SELECT * FROM {table} ORDER BY {key}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.try_get::<Option<String>, _>(i)
                        .or_else(|_| {
                            row.try_get::<Option<i64>, _>(i)
                                .map(|n| n.map(|n| n.to_string()))
                        })
                        .unwrap()
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn rebuilding_users_keeps_every_user_their_sessions_and_scopes_and_the_status_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upgraded.db");
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .foreign_keys(true);
    let old = SqlitePool::connect_with(options.clone()).await.unwrap();
    migrate_up_to(&old, 8).await;
    sqlx::raw_sql(
        "INSERT INTO users (user_id, status, email, linked_at, status_event_at, created_at, updated_at)
             VALUES ('101', 'linked', 'a@example.com', 5, 5, 5, 6),
                    ('102', 'purged', NULL, NULL, 9, 7, 9);
         INSERT INTO sessions (session_id, user_id, created_at) VALUES ('s-1', '101', 10);
         INSERT INTO user_scopes (user_id, scope, consented, changed_at) VALUES ('101', 'talk_message', 1, 11);",
    )
    .execute(&old)
    .await
    .unwrap();
    let users_before = rows(&old, "users", "user_id").await;
    old.close().await;

    let url = DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap();
    let storage = Storage::connect(&url, &TaskTracker::new()).await.unwrap();
    storage.migrate().await.unwrap();
    storage.close().await;

    let pool = SqlitePool::connect_with(options).await.unwrap();
    assert_eq!(rows(&pool, "users", "user_id").await, users_before);
    assert_eq!(rows(&pool, "sessions", "session_id").await.len(), 1);
    assert_eq!(rows(&pool, "user_scopes", "user_id").await.len(), 1);
    let broken: Vec<_> = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "foreign keys broken by the rebuild");
    // The sessions still point at the rebuilt table, with foreign keys on.
    let orphan = sqlx::query(
        "INSERT INTO sessions (session_id, user_id, created_at) VALUES ('s-2', 'nobody', 1)",
    )
    .execute(&pool)
    .await;
    assert!(orphan.is_err(), "a session for no user was accepted");
    // The status rule holds, written without an IN list.
    let odd = sqlx::query(
        "INSERT INTO users (user_id, status, created_at, updated_at) VALUES ('103', 'odd', 1, 1)",
    )
    .execute(&pool)
    .await;
    assert!(odd.unwrap_err().to_string().contains("CHECK"));
    let schema: String = sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'users'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!schema.contains(" IN ("), "{schema}");
    let leftovers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'users_rebuilt'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(leftovers, 0);
}
