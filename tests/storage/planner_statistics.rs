//! PostgreSQL's planner statistics kept up with tables that grow faster than
//! autovacuum looks (`Storage::analyze_grown_tables`): a table that at
//! least doubled since its last analyse is analysed, once.

use std::time::{Duration, Instant};

use crate::{backends::TestDb, bot_outbox::queue_messages};

fn names(tables: &[String], name: &str) -> bool {
    tables.iter().any(|table| table == name)
}

#[tokio::test]
async fn postgres_a_table_that_doubled_is_analysed_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    queue_messages(&db.storage, 40).await;
    // Each connection reports its changes to the statistics views within
    // about a second of its transaction, so this waits for them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let analysed = db.storage.analyze_grown_tables(20).await.unwrap();
        if names(&analysed, "bot_outbox") {
            break;
        }
        assert!(Instant::now() < deadline, "bot_outbox was never analysed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let known = db
        .rows("SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = 'bot_outbox'::regclass")
        .await;
    assert_eq!(known, ["40"], "the planner knows the outbox's size");
    let again = db.storage.analyze_grown_tables(20).await.unwrap();
    assert!(!names(&again, "bot_outbox"), "unchanged since: {again:?}");
    db.cleanup().await;
}

#[tokio::test]
async fn sqlite_has_nothing_to_analyse() {
    let db = TestDb::sqlite().await;
    queue_messages(&db.storage, 40).await;
    assert!(
        db.storage
            .analyze_grown_tables(20)
            .await
            .unwrap()
            .is_empty()
    );
    db.cleanup().await;
}
