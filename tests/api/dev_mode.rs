//! `serve --dev` and `simulate`, as a newcomer runs them: two processes.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{ChildProcess, TestApp, free_addr};

fn binary(dir: &Path, addr: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"));
    command
        .env_clear()
        .env("BIND_ADDR", addr)
        .env("DEV_DIR", dir.join("dev"))
        .env("DATABASE_URL", format!("sqlite://{}/dev.db", dir.display()));
    command
}

pub(crate) async fn start_dev_server(dir: &Path, addr: &str) -> ChildProcess {
    start_dev_server_with(dir, addr, &[]).await
}

async fn start_dev_server_with(dir: &Path, addr: &str, vars: &[(&str, &str)]) -> ChildProcess {
    let child = binary(dir, addr)
        .args(["serve", "--dev"])
        .envs(vars.iter().copied())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = ChildProcess(child);
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let ready = client.get(format!("http://{addr}/ready")).send().await;
        if let Ok(response) = ready
            && response.status() == 200
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the dev server never became ready");
}

/// `GET url` as JSON, with the dev server's API token when `dir` is given.
async fn get_json(url: String, dir: Option<&Path>) -> Value {
    let mut request = reqwest::Client::new().get(url);
    if let Some(dir) = dir {
        request = request.bearer_auth(api_token(dir));
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// The API token the dev server in `dir` generated.
fn api_token(dir: &Path) -> String {
    kakao_webhooks::dev::DevCredentials::load(&dir.join("dev"))
        .unwrap()
        .api_token
}

async fn simulate(dir: &Path, addr: &str, args: &[&str]) -> Output {
    let mut command = binary(dir, addr);
    command.arg("simulate").args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Runs `simulate args`, asserting it exits 0 with Kakao's approval.
pub(crate) async fn simulate_accepted(dir: &Path, addr: &str, args: &[&str]) {
    let output = simulate(dir, addr, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("✔ Kakao would accept this answer"),
        "{args:?}: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_drives_a_dev_server_through_every_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = start_dev_server(dir.path(), &addr).await;
    let runs: [&[&str]; 6] = [
        &["event", "user-linked", "--user", "5"],
        &[
            "event",
            "user-scope-consent",
            "--user",
            "5",
            "--param",
            "scope=email",
        ],
        &["skill", "--utterance", "메뉴"],
        &["channel", "--user", "5", "--event", "added"],
        &["share", "--arg", "order=42"],
        &["unlink", "--user", "5", "--method", "post"],
    ];
    for args in runs {
        simulate_accepted(dir.path(), &addr, args).await;
    }
    let event = simulate(
        dir.path(),
        &addr,
        &["event", "account-disabled", "--user", "6"],
    )
    .await;
    let printed = String::from_utf8_lossy(&event.stdout);
    assert!(
        printed.contains(r#""typ":"secevent+jwt""#) && printed.contains("account-disabled"),
        "decoded SET printed: {printed}"
    );

    let user = get_json(format!("http://{addr}/api/users/5"), Some(dir.path())).await;
    assert_eq!(user["status"], "unlinked", "{user}");
    assert_eq!(
        user["channels"],
        serde_json::json!([]),
        "the channel relation went with the user: {user}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_credentials_are_generated_per_dev_dir_and_printed() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (addr_one, addr_two) = (free_addr(), free_addr());
    let _first = start_dev_server(one.path(), &addr_one).await;
    let _second = start_dev_server(two.path(), &addr_two).await;
    let (token_one, token_two) = (api_token(one.path()), api_token(two.path()));
    assert_ne!(token_one, token_two, "each dev folder has its own token");

    let banner = std::fs::read_to_string(one.path().join("serve.log")).unwrap();
    assert!(
        banner.contains(&format!("INTERNAL_API_TOKEN={token_one}")),
        "the token is printed: {banner}"
    );
    let status = |addr: String, token: String| async move {
        reqwest::Client::new()
            .get(format!("http://{addr}/api/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status(addr_one.clone(), token_one).await, 200);
    // The fixed string every dev server once accepted, and another's token.
    assert_eq!(status(addr_one.clone(), "dev-api-token".into()).await, 401);
    assert_eq!(status(addr_one, token_two).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_bot_waits_for_the_reply_at_the_local_platform() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = start_dev_server(dir.path(), &addr).await;
    let runs: [&[&str]; 4] = [
        &["bot", "--text", "안녕 봇"],
        &["bot", "--text", "메뉴", "--channel", "--user", "u9"],
        &["bot", "--event", "entrance", "--group", "room-9"],
        &["bot", "--event", "leave", "--group", "room-9"],
    ];
    for args in runs {
        simulate_accepted(dir.path(), &addr, args).await;
    }
    let echo = simulate(dir.path(), &addr, &["bot", "--text", "따라 해 줘"]).await;
    let printed = String::from_utf8_lossy(&echo.stdout);
    assert!(
        printed.contains("말씀하신 내용: 따라 해 줘"),
        "the echo is printed: {printed}"
    );

    let room = get_json(
        format!("http://{addr}/api/bot/rooms/room-9"),
        Some(dir.path()),
    )
    .await;
    assert_eq!(room["present"], false, "{room}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_bot_goes_through_the_dev_gateway_when_the_bot_uses_one() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let gateway = [("KAKAO_BOT_GATEWAY", "true")];
    let _server = start_dev_server_with(dir.path(), &addr, &gateway).await;
    for _ in 0..100 {
        let ready = get_json(format!("http://{addr}/ready"), None).await;
        if ready["gateway"]["state"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut command = binary(dir.path(), &addr);
    command
        .envs(gateway)
        .args(["simulate", "bot", "--text", "게이트웨이로"]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("DISPATCH over the dev gateway"),
        "{printed}"
    );
    assert!(printed.contains("말씀하신 내용: 게이트웨이로"), "{printed}");
    let events = get_json(format!("http://{addr}/api/events"), Some(dir.path())).await;
    assert_eq!(
        events["events"][0]["source"], "bot",
        "stored as a webhook would be"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_bot_fails_without_a_dev_platform_to_see_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    // Acknowledged, but the reply goes to a Kakao nobody can read back.
    let plain = TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", "t")
        .var("KAKAO_API_BASE_URL", format!("http://{}", free_addr()))
        .spawn()
        .await;
    let output = simulate(
        dir.path(),
        &plain.addr.to_string(),
        &["bot", "--text", "hello"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("204"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("serve --dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_fails_when_the_answer_is_not_what_kakao_expects() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = start_dev_server(dir.path(), &addr).await;
    let mut wrong_key = binary(dir.path(), &addr);
    wrong_key
        .env("KAKAO_ADMIN_KEY", "not-the-dev-key")
        .args(["simulate", "unlink", "--user", "1"]);
    let output = tokio::task::spawn_blocking(move || wrong_key.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("401"));

    // A server that is not in dev mode cannot be sent dev-signed SETs.
    let plain = TestApp::kakao().spawn().await;
    let output = simulate(
        dir.path(),
        &plain.addr.to_string(),
        &["event", "user-linked", "--user", "1"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("serve --dev"));
}

#[test]
fn dev_mode_refuses_a_non_loopback_address_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary(dir.path(), "0.0.0.0:1")
        .args(["serve", "--dev"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dev-allow-remote"));
    assert!(
        !dir.path().join("dev").exists(),
        "no key made for a refused start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_judges_a_fallback_answer_a_failure_and_says_why() {
    use crate::app_receiver::{Answer, AppReceiver, SIGNING_SECRET};
    let dir = tempfile::tempdir().unwrap();
    let upstream = AppReceiver::start().await;
    let app = TestApp::builder()
        .var("SKILL_UPSTREAM_URL", upstream.at("/skill"))
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("SKILL_SECRET", "skill-secret")
        .var("SKILL_SYNC_BUDGET_MS", 500)
        .spawn()
        .await;
    let run = |dir: std::path::PathBuf, server: String| async move {
        let mut command = binary(&dir, "127.0.0.1:1");
        command.env("SKILL_SECRET", "skill-secret").args([
            "simulate",
            "--server",
            &server,
            "skill",
            "--utterance",
            "안녕",
        ]);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout)
    };
    // Without a scheme: http://host:port.
    let server = app.addr.to_string();
    let cases = [
        (Answer::Status(500), "answered 500"),
        (Answer::Status(404), "answered 404"),
        (Answer::Hang, "SKILL_SYNC_BUDGET_MS"),
        (
            Answer::Json(r#"{"version":"2.0","template":{"outputs":[]}}"#.into()),
            "breaks Kakao's limits",
        ),
    ];
    for (answer, why) in cases {
        upstream.script([answer], Answer::Status(500));
        let (code, stdout) = run(dir.path().to_owned(), server.clone()).await;
        assert_eq!(code, Some(1), "{stdout}");
        assert!(
            stdout.contains("✘ the user got the fallback text"),
            "{stdout}"
        );
        assert!(stdout.contains(why), "{why}: {stdout}");
    }
    let good = r#"{"version":"2.0","template":{"outputs":[{"simpleText":{"text":"반가워요"}}]}}"#;
    upstream.script([Answer::Json(good.into())], Answer::Status(500));
    let (code, stdout) = run(dir.path().to_owned(), server).await;
    assert_eq!(code, Some(0), "the secret is sent: {stdout}");
    assert!(
        stdout.contains("✔ Kakao would accept this answer"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_bot_completes_at_once_when_no_reply_is_expected() {
    use crate::app_receiver::{Answer, AppReceiver, SIGNING_SECRET};
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let app = AppReceiver::start().await;
    app.script([], Answer::Status(204));
    let bot_url = app.at("/bot");
    let vars = [
        ("KAKAO_BOT_UPSTREAM_URL", bot_url.as_str()),
        ("APP_SIGNING_SECRET", SIGNING_SECRET),
    ];
    let _server = start_dev_server_with(dir.path(), &addr, &vars).await;
    for args in [
        &["bot", "--event", "chat-join", "--group", "room-1"][..],
        &["bot", "--text", "답하지 마"][..],
    ] {
        // Waiting for a reply that never comes would end in ✘ after 10 s.
        let output = simulate(dir.path(), &addr, args).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {stdout}");
        assert!(stdout.contains("✔"), "{stdout}");
    }
    let printed = simulate(dir.path(), &addr, &["bot", "--text", "또"]).await;
    assert!(
        String::from_utf8_lossy(&printed.stdout).contains("chose not to reply"),
        "{}",
        String::from_utf8_lossy(&printed.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_dev_with_auto_source_ips_uses_the_local_stand_in_list() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = start_dev_server_with(dir.path(), &addr, &[("KAKAO_SOURCE_IPS", "auto")]).await;
    // What a second instance pointed at the dev server would fetch.
    let list = get_json(format!("http://{addr}/dev/bot/v1/system/ips"), None).await;
    let networks =
        kakao_protocol::system_ips::inbound_callback_networks(list.to_string().as_bytes(), 0)
            .unwrap();
    assert_eq!(networks, ["127.0.0.0/8", "::1/128"]);
    // Loopback is on it: simulate is let in.
    simulate_accepted(dir.path(), &addr, &["skill", "--utterance", "안녕"]).await;
    let ready = get_json(format!("http://{addr}/ready"), None).await;
    assert_eq!(ready["source_ips"]["networks"], 2, "{ready}");
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("KAKAO_SOURCE_IPS=127.0.0.0/8,::1/128"),
        "{log}"
    );
}
