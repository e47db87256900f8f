//! `--growth`: the SET workload on an empty database, then on one grown to
//! 1,000,000 users and 5,000,000 events, and the ratio of their p99s.
//!
//! The rows are written straight into the SQLite file (one connection,
//! synchronous off: this is set-up, not what is measured), with random
//! dedupe keys so the unique index is as scattered as real `jti`s make it,
//! and payloads the size of a real SET's claims. The WAL is then folded into
//! the database and flushed to disk, so the measured run pays for neither.

use std::{path::Path, time::Instant};

use rusqlite::Connection;

pub const USERS: i64 = 1_000_000;
pub const EVENTS: i64 = 5_000_000;
const CHUNK: i64 = 500_000;

pub fn prefill(database: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut connection = Connection::open(database)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.pragma_update(None, "synchronous", "OFF")?;
    let tx = connection.transaction()?;
    tx.execute(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1)
         INSERT INTO users (user_id, status, linked_at, status_event_at, created_at, updated_at)
         SELECT CAST(20000000 + x AS TEXT), 'linked', 1700000000000, 1700000000000,
                1700000000000, 1700000000000 FROM n",
        [USERS],
    )?;
    tx.commit()?;
    println!("grown: {USERS} users ({:.0?})", started.elapsed());
    for chunk in 0..EVENTS / CHUNK {
        let tx = connection.transaction()?;
        tx.execute(
            "WITH RECURSIVE n(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM n WHERE x < ?2)
             INSERT INTO events (source, dedupe_key, event_type, user_id, event_time,
                                 received_at, applied_at, payload)
             SELECT 'security_event', printf('https://kauth.kakao.com:%016x', random()),
                    'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
                    CAST(20000000 + x % ?3 AS TEXT), 1700000000000 + x, 1700000000000 + x,
                    1700000000000 + x,
                    printf('{\"iss\":\"https://kauth.kakao.com\",\"aud\":\"0123456789abcdef0123456789abcdef\",\"sub\":\"%d\",\"iat\":%d,\"jti\":\"%016x\",\"txn\":\"%016x\",\"events\":{\"https://schemas.openid.net/secevent/risc/event-type/account-disabled\":{\"subject\":{\"subject_type\":\"iss-sub\",\"iss\":\"https://kauth.kakao.com\",\"sub\":\"%d\"},\"reason\":\"hijacking\"}}}',
                           20000000 + x % ?3, 1700000000 + x, random(), random(), 20000000 + x % ?3)
             FROM n",
            [chunk * CHUNK + 1, (chunk + 1) * CHUNK, USERS],
        )?;
        tx.commit()?;
        println!(
            "grown: {} events ({:.0?})",
            (chunk + 1) * CHUNK,
            started.elapsed()
        );
    }
    // FULL for the checkpoint, so it fsyncs the grown file: otherwise the
    // server's first fsync would flush gigabytes of dirty pages (ext4 commits
    // its journal as a whole) and the first batch would stall for seconds.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    std::fs::File::open(database)?.sync_all()?;
    println!("grown: checkpointed ({:.0?})", started.elapsed());
    Ok(())
}
