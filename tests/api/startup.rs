//! Settings checked at start-up, as an operator meets them: the real binary
//! with an environment, one line naming the variable and what is wrong.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::free_addr;

/// Runs `serve` with `vars` (and a fresh database) until it exits, or for
/// `limit`; the exit code (`None`: still running, killed) and its output.
async fn serve(vars: &[(&str, &str)], limit: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("BIND_ADDR", free_addr())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_what_would_fail_only_when_kakao_calls() {
    // A spool that could not be written, found before an outage needs it.
    let read_only = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        read_only.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let spool = read_only.path().join("spool").display().to_string();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("SPOOL_DIR", spool.as_str())],
            "invalid setting SPOOL_DIR",
        ),
        (
            &[("KAKAO_APP_ID", "abc")],
            "invalid setting KAKAO_APP_ID: \"abc\" is not digits",
        ),
        (
            &[("KAKAO_ADMIN_KEY", "k")],
            "invalid setting KAKAO_ADMIN_KEY: is set without KAKAO_APP_ID",
        ),
        (
            &[("KAKAO_APP_ID", "123456")],
            "invalid setting KAKAO_APP_ID: is set without KAKAO_ADMIN_KEY",
        ),
        (
            &[("KAKAO_BOT_GATEWAY", "true")],
            "invalid setting KAKAO_BOT_GATEWAY: is set without KAKAO_BOT_TOKEN",
        ),
        (
            &[("KAKAO_ADMINKEY", "k"), ("KAKAO_APP_ID", "123456")],
            "invalid setting KAKAO_ADMINKEY: is not a setting; did you mean KAKAO_ADMIN_KEY?",
        ),
        (
            &[("ALERT_FAILURE_RATIO", "2")],
            "invalid setting ALERT_FAILURE_RATIO",
        ),
    ];
    for (vars, expected) in cases {
        let (code, output) = serve(vars, Duration::from_secs(60)).await;
        assert!(
            matches!(code, Some(c) if c != 0),
            "{vars:?} must not start: {output}"
        );
        assert!(output.contains(expected), "{vars:?}: {output}");
        let lines = output
            .lines()
            .filter(|l| l.starts_with("kakao-webhooks:"))
            .count();
        assert_eq!(lines, 1, "one line: {output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_variable_with_our_prefix_is_warned_of_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let log = dir.path().join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("BIND_ADDR", &addr)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .env("KAKAO_SOMETHING_NEW", "x")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = crate::helpers::ChildProcess(child);
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(60), "it starts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let output = std::fs::read_to_string(&log).unwrap();
    assert!(
        output.contains("KAKAO_SOMETHING_NEW is not a setting and is ignored"),
        "{output}"
    );
    assert!(
        !output.contains('\u{1b}'),
        "no colour codes off a terminal: {output:?}"
    );
}

/// Runs `serve` with `vars` until `/health` answers on `addr`'s port (on
/// loopback), then stops it; its output.
async fn serve_until_healthy(vars: &[(&str, &str)], addr: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .envs(vars.iter().copied())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = crate::helpers::ChildProcess(child);
    let health = format!("http://{}/health", addr.replace("0.0.0.0", "127.0.0.1"));
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    while client.get(&health).send().await.is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "{vars:?} exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{vars:?} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    std::fs::read_to_string(&log).unwrap()
}

/// `0.0.0.0` and a free port: reachable from outside, as in a container.
fn public_addr() -> String {
    free_addr().replace("127.0.0.1", "0.0.0.0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_bind_addr_is_refused_until_every_entry_point_is_guarded() {
    let public = public_addr();
    let internal = free_addr();
    let short_token = "a-token-of-31-characters-xxxxxx";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("BIND_ADDR", &public)],
            "invalid setting SKILL_SECRET: BIND_ADDR",
        ),
        (
            vec![("BIND_ADDR", &public), ("SKILL_SECRET", "s")],
            "invalid setting INTERNAL_BIND_ADDR: BIND_ADDR",
        ),
        (
            vec![
                ("BIND_ADDR", &public),
                ("SKILL_SECRET", "s"),
                ("INTERNAL_BIND_ADDR", &internal),
                ("KAKAO_BOT_TOKEN", "t"),
            ],
            "invalid setting KAKAO_BOT_WEBHOOK_SECRET: BIND_ADDR",
        ),
        (
            vec![
                ("BIND_ADDR", &public),
                ("SKILL_SECRET", "s"),
                ("INTERNAL_API_PUBLIC", "true"),
                ("INTERNAL_API_TOKEN", short_token),
            ],
            "invalid setting INTERNAL_API_TOKEN: must be at least 32 characters",
        ),
    ];
    for (vars, expected) in &cases {
        let (code, output) = serve(vars, Duration::from_secs(60)).await;
        assert!(
            matches!(code, Some(c) if c != 0),
            "{vars:?} must not start: {output}"
        );
        assert!(output.contains(expected), "{vars:?}: {output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_bind_addr_starts_once_guarded_or_with_logged_opt_outs() {
    let token = "0123456789abcdef0123456789abcdef";
    let guarded_addr = public_addr();
    let internal = free_addr();
    let guarded = [
        ("BIND_ADDR", guarded_addr.as_str()),
        ("SKILL_SECRET", "s"),
        ("INTERNAL_BIND_ADDR", internal.as_str()),
        ("KAKAO_BOT_TOKEN", "t"),
        ("KAKAO_BOT_WEBHOOK_SECRET", "h"),
    ];
    let output = serve_until_healthy(&guarded, &guarded_addr).await;
    assert!(!output.contains("open by choice"), "{output}");

    let opted_out_addr = public_addr();
    let opted_out = [
        ("BIND_ADDR", opted_out_addr.as_str()),
        ("SKILL_ALLOW_ANY_CALLER", "true"),
        ("INTERNAL_API_PUBLIC", "true"),
        ("INTERNAL_API_TOKEN", token),
        ("KAKAO_BOT_TOKEN", "t"),
        ("KAKAO_BOT_ALLOW_ANY_CALLER", "true"),
    ];
    let output = serve_until_healthy(&opted_out, &opted_out_addr).await;
    for setting in [
        "SKILL_ALLOW_ANY_CALLER=true",
        "INTERNAL_API_PUBLIC=true",
        "KAKAO_BOT_ALLOW_ANY_CALLER=true",
    ] {
        assert!(output.contains(setting), "{setting} is warned of: {output}");
    }
}
