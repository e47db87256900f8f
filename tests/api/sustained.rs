//! A bounded minute of mixed load on the built binary: every request answered
//! 2xx, every acknowledged webhook stored, and the process's memory flat.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;

use crate::helpers::{ADMIN_KEY, APP_ID, ChildProcess, free_addr, resident_kib, skill_request};

const LOAD: Duration = Duration::from_secs(60);
/// Memory is compared between these two windows, after a warm-up (SQLite's
/// page cache, the allocator's pools).
const BASELINE: std::ops::Range<u64> = 15..25;
const FINAL: std::ops::Range<u64> = 50..60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_mixed_load_has_no_errors_and_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/sustained.db", dir.path().display());
    let addr = free_addr();
    let service = ChildProcess::serve(&database, &addr).await;
    let pid = service.id();

    let stop = Arc::new(AtomicBool::new(false));
    let webhooks = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let (addr, stop, webhooks, failures) =
                (addr.clone(), stop.clone(), webhooks.clone(), failures.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let skill = skill_request("안녕하세요, 예약하고 싶어요", None);
                for n in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = worker * 10_000_000 + n;
                    let request = match n % 3 {
                        0 => client
                            .post(format!("http://{addr}/kakao/skill"))
                            .header("content-type", "application/json")
                            .body(skill.clone()),
                        1 => client.get(format!(
                            "http://{addr}/kakao/unlink?app_id={APP_ID}&user_id={id}&referrer_type=UNLINK_FROM_APPS"
                        )),
                        _ => client
                            .post(format!("http://{addr}/kakao/channel"))
                            .header("x-kakao-resource-id", format!("sustained-{id}"))
                            .json(&json!({
                                "event": "added", "id": id.to_string(), "id_type": "app_user_id",
                                "channel_public_id": "_FLX", "updated_at": "2024-01-01T00:00:00Z",
                            })),
                    };
                    let answer = request
                        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
                        .send()
                        .await;
                    match answer {
                        Ok(response) if response.status().is_success() => {
                            if n % 3 != 0 {
                                webhooks.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(response) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{n}: {}", response.status())),
                        Err(err) => failures.lock().unwrap().push(format!("{n}: {err}")),
                    }
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut rss_kib = Vec::new();
    while started.elapsed() < LOAD {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_kib.push((started.elapsed().as_secs(), resident_kib(pid)));
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of the requests failed, first: {:?}",
        failures.len(),
        failures.iter().take(5).collect::<Vec<_>>()
    );
    let acknowledged = webhooks.load(Ordering::Relaxed);
    assert!(
        acknowledged > 1000,
        "too little load to say anything: {acknowledged}"
    );
    assert_eq!(
        stored_events(&database).await,
        acknowledged,
        "every acknowledged webhook is stored"
    );
    let peak = |window: &std::ops::Range<u64>| {
        rss_kib
            .iter()
            .filter(|(at, _)| window.contains(at))
            .map(|(_, kib)| *kib)
            .max()
            .unwrap()
    };
    let (baseline, last) = (peak(&BASELINE), peak(&FINAL));
    println!(
        "{acknowledged} webhooks stored; peak RSS {baseline} KiB at 15-25 s, {last} KiB at 50-60 s; every second: {rss_kib:?}"
    );
    // Flat: the last window within a quarter (plus 4 MiB) of the baseline.
    // A leak of a few hundred bytes a request grows far beyond that.
    assert!(
        last <= baseline + baseline / 4 + 4096,
        "memory grew from {baseline} KiB to {last} KiB: {rss_kib:?}"
    );
    drop(service);
}

async fn stored_events(database: &str) -> usize {
    let pool = sqlx::SqlitePool::connect(database).await.unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count as usize
}
