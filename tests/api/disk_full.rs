//! SQLite on a disk that fills up: the `disk_space` alert is raised while
//! it can still be written; full, deliveries get 503, never a 2xx for what
//! was not stored, and `/ready` says why; the service recovers without a
//! restart once space is freed; everything acknowledged before is still
//! there.
//!
//! The test mounts a small tmpfs (as root). Where mounting is not allowed it
//! says so and passes, except under CI.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A size-limited tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Self { dir });
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run the tests as root)"
        );
        eprintln!("disk_full: skipped; mounting a tmpfs needs root");
        None
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file until at most `leave` bytes are free (0: full).
    fn fill(&self, leave: u64) {
        use std::io::Write;
        let mut filler = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("filler"))
            .unwrap();
        let block = vec![0u8; 16 * 1024];
        while self.free_bytes() > leave && filler.write_all(&block).is_ok() {}
        let _ = filler.sync_all();
    }

    fn free_bytes(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.dir.path()).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    fn free(&self) {
        std::fs::remove_file(self.path("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: the service may still hold the database open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn channel_notice(app: &TestApp, resource_id: &str) -> u16 {
    let body = json!({
        "event": "added", "id": "77", "id_type": "app_user_id",
        "channel_public_id": "_FLX", "updated_at": "2024-01-01T00:00:00Z",
        // Room to fill pages: the notice as Kakao might pad it.
        "extra": "x".repeat(2000),
        "note": resource_id,
    });
    app.kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", resource_id)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/ready").await;
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The stored notices' ids (their `note`).
pub(crate) async fn stored(app: &TestApp) -> Vec<String> {
    app.events()
        .await
        .iter()
        .map(|e| e["payload"]["note"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The service with its database and spool in `folder`.
pub(crate) async fn app_in(folder: &Path) -> TestApp {
    TestApp::kakao()
        .var(
            "DATABASE_URL",
            format!("sqlite://{}", folder.join("events.db").display()),
        )
        // The spool is on the same disk: nothing durable is left to take them.
        .var("SPOOL_DIR", folder.join("spool").display())
        // Alerts judged every second.
        .var("ALERT_WINDOW_SECONDS", "30")
        .spawn()
        .await
}

/// The console's health page shows the database as `/ready` judged it,
/// from this instance's own checks, in the banner and in its section.
pub(crate) async fn console_says(app: &TestApp, korean: &str) {
    let page = app
        .console_session()
        .await
        .html(app, "/console/health")
        .await;
    let section = format!(r#"<p id="database" class="bad">{korean}"#);
    assert!(page.contains(&section), "{section} in {page}");
    let banner = format!(r#"<p class="warn" role="alert">데이터베이스: {korean}"#);
    assert!(page.contains(&banner), "{banner} in {page}");
}

/// Sends notices `prefix-0..n`; the ids answered 2xx, and how many 503.
pub(crate) async fn send(app: &TestApp, prefix: &str, n: usize) -> (Vec<String>, usize) {
    let (mut acknowledged, mut unavailable) = (Vec::new(), 0);
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        match channel_notice(app, &id).await {
            200..=299 => acknowledged.push(id),
            503 => unavailable += 1,
            other => panic!("{id}: {other}"),
        }
    }
    (acknowledged, unavailable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_503s_says_why_and_recovers_without_a_restart() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let app = app_in(disk.dir.path()).await;
    let (before, refused) = send(&app, "before", 5).await;
    assert_eq!((before.len(), refused), (5, 0));

    // Running out: the alert is raised while it can still be written.
    disk.fill(600 * 1024);
    let mut raised = false;
    for _ in 0..300 {
        let (_, alerts) = app.api_get("/api/alerts").await;
        raised = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "disk_space" && a["state"] == "raised");
        if raised {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        raised,
        "the disk_space alert is raised before the disk is full"
    );

    disk.fill(0);
    let (during, unavailable) = send(&app, "during", 40).await;
    assert!(unavailable > 0, "a full disk refuses what it cannot store");
    let (status, body) = ready(&app).await;
    assert_eq!(
        (status, body["database"].as_str()),
        (503, Some("full")),
        "{body}"
    );
    console_says(&app, "디스크 가득 참").await;

    disk.free();
    let mut after = Vec::new();
    for i in 0..100 {
        let (acknowledged, _) = send(&app, &format!("after{i}"), 1).await;
        if !acknowledged.is_empty() {
            after = acknowledged;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!after.is_empty(), "stores again once space is freed");
    let kept = stored(&app).await;
    for id in before.iter().chain(&during).chain(&after) {
        assert!(
            kept.contains(id),
            "{id} was acknowledged and must be stored"
        );
    }
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
}
