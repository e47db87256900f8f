//! What an operator reads in the log (`LOG_FORMAT=json`, the real binary):
//! one line per stored delivery, saying its family, event id, type, user
//! and outcome (accepted, or duplicate for a repeat), and never a key or
//! token.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, API_TOKEN, APP_ID, ChildProcess, free_addr};

/// The binary, logging JSON to a file.
fn serve_logging(dir: &std::path::Path, addr: &str) -> (ChildProcess, std::path::PathBuf) {
    let log = dir.join("service.log");
    let child = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("BIND_ADDR", addr)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("events.db").display()),
        )
        .env("SPOOL_DIR", dir.join("spool"))
        .env("KAKAO_APP_ID", APP_ID)
        .env("KAKAO_ADMIN_KEY", ADMIN_KEY)
        .env("INTERNAL_API_TOKEN", API_TOKEN)
        .env("LOG_FORMAT", "json")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (ChildProcess(child), log)
}

/// The log's JSON lines about a stored delivery: "webhook stored", or
/// "webhook repeated; already stored".
fn stored_lines(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["message"] == "webhook stored"
                || line["message"] == "webhook repeated; already stored"
        })
        .collect()
}

#[tokio::test]
async fn each_stored_delivery_is_one_line_with_its_outcome_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let (_service, log) = serve_logging(dir.path(), &addr);
    let client = reqwest::Client::new();
    let unlink = format!(
        "http://{addr}/kakao/unlink?app_id={APP_ID}&user_id=8080&referrer_type=UNLINK_FROM_APPS"
    );
    let mut answered = false;
    for _ in 0..200 {
        if let Ok(response) = client
            .request(Method::GET, &unlink)
            .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
            .send()
            .await
        {
            assert_eq!(response.status(), 200);
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the service did not start");
    let again = client
        .get(&unlink)
        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);

    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = stored_lines(&log);
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 2, "one line per delivery: {lines:?}");
    for (line, outcome) in lines.iter().zip(["accepted", "duplicate"]) {
        assert_eq!(line["webhook.family"], "unlink", "{line}");
        assert_eq!(line["event.type"], "unlink", "{line}");
        assert_eq!(line["user.id"], "8080", "{line}");
        assert_eq!(line["outcome"], outcome, "{line}");
    }
    assert!(lines[0]["event.id"].as_i64().is_some(), "{}", lines[0]);
    assert_eq!(lines[1]["message"], "webhook repeated; already stored");
    let whole = std::fs::read_to_string(&log).unwrap();
    for secret in [ADMIN_KEY, API_TOKEN] {
        assert!(!whole.contains(secret), "the log holds {secret}");
    }
}
