//! Health, readiness, metrics, start-up errors, migrations and shutdown.

use std::{process::Command, time::Duration};

use kakao_webhooks::skill::{SkillRequest, SkillResponse};
use serde_json::Value;
use sqlx::SqlitePool;

use crate::helpers::{TestApp, skill_request};

/// `kakao-webhooks migrate` on a SQLite file in `dir`, with extra arguments.
fn migrate_in(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    binary()
        .args(args)
        .arg("migrate")
        .env("BIND_ADDR", "127.0.0.1:9")
        .env("DATABASE_URL", format!("sqlite://{}/x.db", dir.display()))
        .output()
        .unwrap()
}

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"));
    // Only what each test sets: a developer's DATABASE_URL must not leak in.
    command.env_clear();
    command
}

#[tokio::test]
async fn health_and_ready_answer_while_the_database_works() {
    let app = TestApp::spawn().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["families"]["skill"], "ready");
    assert_eq!(body["families"]["unlink"], "unconfigured");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.post_skill("{").await;
    app.get("/kakao/skill").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/kakao/skill",status="400"}"#),
        "{text}"
    );
    assert!(text.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/kakao/skill",status="200",le="0.005"}"#), "{text}");
}

#[tokio::test]
async fn metrics_label_a_route_with_parameters_by_its_template_not_its_path() {
    let app = TestApp::kakao().spawn().await;
    assert_eq!(app.api_get("/api/users/4242").await.0, 404);
    // A path that matched, with a method it does not take.
    let wrong_method = app.get("/kakao/events").await;
    assert_eq!(wrong_method.status(), 405);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/users/{id}",status="404"}"#),
        "{text}"
    );
    // Only the labels: a value (a latency sum of 0.2079424…) may hold the digits.
    let id_in_a_label = text.lines().any(|line| {
        line.split('}')
            .next()
            .is_some_and(|labels| labels.contains("4242"))
    });
    assert!(!id_in_a_label, "a user id is no label: {text}");
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/kakao/events",status="405"}"#),
        "{text}"
    );
}

/// The value of one series in the Prometheus text.
async fn series(app: &TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn every_request_is_counted_and_unusual_methods_share_one_label() {
    let app = TestApp::spawn().await;
    const SKILL_GETS: &str =
        r#"http_requests_total{method="GET",route="/kakao/skill",status="200"}"#;
    app.get("/kakao/skill").await;
    let before = series(&app, SKILL_GETS).await;
    for _ in 0..3 {
        app.get("/kakao/skill").await;
    }
    // Other tests in this process count too: at least our three.
    assert!(series(&app, SKILL_GETS).await >= before + 3.0);

    let method = reqwest::Method::from_bytes(b"BREW").unwrap();
    let stray = app
        .client
        .request(method, app.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(stray.status(), 404);
    let body: Value = stray.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "a typed error: {body}");
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"method="other",route="unmatched""#),
        "{text}"
    );
    assert!(
        !text.contains("BREW"),
        "a method a client makes up is no label"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").await;
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "shaped as a UUID: {id}");
    let next = app.get("/health").await;
    assert_ne!(
        next.headers()["x-request-id"].to_str().unwrap(),
        id,
        "one id per request"
    );
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "from-the-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "from-the-proxy");
    // Only a short, visible ASCII id is kept: anything else would travel
    // into every log line of the request.
    for refused in ["a".repeat(65), "has space".to_owned()] {
        let answer = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", &refused)
            .send()
            .await
            .unwrap();
        let id = answer.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, refused);
        assert_eq!(id.len(), 36, "one of ours: {id}");
    }
    let longest = "b".repeat(64);
    let kept = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], longest.as_str());
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let output = binary().env("BIND_ADDR", "nowhere").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid setting BIND_ADDR"), "{stderr}");

    let output = binary()
        .env("SKILL_SYNC_BUDGET_MS", "abc")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SKILL_SYNC_BUDGET_MS"));
}

#[test]
fn a_config_file_is_read_and_environment_variables_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, "bind_addr = \"not an address\"\n").unwrap();
    let output = binary()
        .arg("--config")
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid setting BIND_ADDR"));

    // BIND_ADDR from the environment wins over the file's bad value.
    let output = migrate_in(dir.path(), &["--config".as_ref(), file.as_os_str()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn migrate_creates_the_schema_in_a_new_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("nested/folder");
    let output = migrate_in(&folder, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let url = format!("sqlite://{}/x.db", folder.display());
    let pool = SqlitePool::connect(&url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    for table in ["channel_relations", "events", "sessions", "users"] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let app = TestApp::builder()
        .handler(|_: SkillRequest| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(SkillResponse::text("finished"))
        })
        .spawn()
        .await;
    let request = app
        .client
        .post(app.url("/kakao/skill"))
        .body(skill_request("x", None))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let shutdown = app.shutdown_token();
    shutdown.cancel();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["template"]["outputs"][0]["simpleText"]["text"],
        "finished"
    );
    app.stop().await.expect("server stops cleanly");
}

// Multi-threaded: the blocking `output()` calls must not starve the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_for_a_live_server_and_1_otherwise() {
    let app = TestApp::spawn().await;
    let live = binary()
        .arg("healthcheck")
        .env("BIND_ADDR", app.addr.to_string())
        .output()
        .unwrap();
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    // 0.0.0.0 (as in the container) is asked on loopback.
    let any = binary()
        .arg("healthcheck")
        .env("BIND_ADDR", format!("0.0.0.0:{}", app.addr.port()))
        .output()
        .unwrap();
    assert_eq!(any.status.code(), Some(0));

    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = binary()
        .arg("healthcheck")
        .env("BIND_ADDR", free.to_string())
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dead.stderr).contains("unreachable"));
}

/// mimalloc marks its arena for transparent huge pages unless built with
/// `no_thp`: each 2 MiB page it touches is then resident whole, and an idle
/// server held 36 MiB instead of 20 (BENCHMARKS.md). Checked where the
/// kernel gives huge pages only on request (`madvise`, as on Debian); where
/// it gives them to every process (`always`), the image's
/// `MIMALLOC_ALLOW_THP=0` turns them off instead.
#[tokio::test]
async fn the_server_heap_is_not_backed_by_huge_pages() {
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if !thp.contains("[madvise]") {
        eprintln!("skipped: transparent huge pages are not given on request here ({thp:?})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = crate::helpers::free_addr();
    let database = format!("sqlite://{}/heap.db", dir.path().display());
    let server = crate::helpers::ChildProcess::serve(&database, &addr).await;
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let response = client
            .get(format!("http://{addr}/kakao/skill"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", server.id())).unwrap();
    let huge_kib: u64 = rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("smaps_rollup has AnonHugePages");
    assert_eq!(huge_kib, 0, "huge pages in the server's memory:\n{rollup}");
}
