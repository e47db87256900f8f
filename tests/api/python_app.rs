//! Interoperability with the official Standard Webhooks verifier: the real
//! binary in front of `examples/python-app` (FastAPI, `standardwebhooks` from
//! PyPI), which answers only what it verified.
//!
//! Needs a Python with `examples/python-app/requirements.txt` installed, named
//! by `KAKAO_WEBHOOKS_PYTHON` (`.ci/run` makes one). Without it the test says
//! so and passes, except under CI, where it fails.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;

use crate::{
    app_receiver::SIGNING_SECRET,
    bot_replies::{BOT_TOKEN, message},
    helpers::{ADMIN_KEY, APP_ID, ChildProcess, KakaoBotApi, free_addr, skill_request},
};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn python() -> Option<String> {
    match std::env::var("KAKAO_WEBHOOKS_PYTHON") {
        Ok(python) => Some(python),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must set KAKAO_WEBHOOKS_PYTHON (see .ci/run)")
        }
        Err(_) => {
            eprintln!(
                "python_app: skipped; set KAKAO_WEBHOOKS_PYTHON to a Python with examples/python-app/requirements.txt"
            );
            None
        }
    }
}

async fn start_python_app(python: &str, addr: &str) -> Killed {
    let (host, port) = addr.split_once(':').unwrap();
    let child = Command::new(python)
        .args(["-m", "uvicorn", "app:app", "--host", host, "--port", port])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python-app"))
        .env("APP_SIGNING_SECRET", SIGNING_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start the Python app");
    let app = Killed(child);
    for _ in 0..200 {
        if reqwest::get(format!("http://{addr}/received"))
            .await
            .is_ok()
        {
            return app;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Python app did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_verifier_accepts_a_skill_request_a_bot_event_and_a_notification() {
    let Some(python) = python() else { return };
    let python_addr = free_addr();
    let _python_app = start_python_app(&python, &python_addr).await;

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/interop.db", dir.path().display());
    let addr = free_addr();
    let skill = format!("http://{python_addr}/skill");
    let bot = format!("http://{python_addr}/bot");
    let notify = format!("http://{python_addr}/notify");
    let kakao = KakaoBotApi::start().await;
    let kakao_api = kakao.base_url();
    let vars = [
        ("APP_SIGNING_SECRET", SIGNING_SECRET),
        ("SKILL_UPSTREAM_URL", skill.as_str()),
        ("KAKAO_BOT_UPSTREAM_URL", bot.as_str()),
        ("KAKAO_BOT_TOKEN", BOT_TOKEN),
        ("KAKAO_API_BASE_URL", kakao_api.as_str()),
        ("APP_NOTIFY_URL", notify.as_str()),
    ];
    let _service = ChildProcess::serve_with(&database, &addr, &vars).await;
    let client = reqwest::Client::new();

    let answer: Value = client
        .post(format!("http://{addr}/kakao/skill"))
        .header("content-type", "application/json")
        .body(skill_request("파이썬", None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["template"]["outputs"][0]["simpleText"]["text"], "파이썬 앱이 받았어요: 파이썬",
        "the Python app verified and answered: {answer}"
    );

    let status = client
        .post(format!("http://{addr}/kakao/bot"))
        .header("content-type", "application/json")
        .body(message(7, "파이썬 봇", "cb-python"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let calls = kakao
        .platform
        .wait_for_delivered("/v1/bot/callback", 1, Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no reply reached Kakao: {:?}", kakao.platform.calls()));
    assert_eq!(
        calls[0].body["skillResponse"]["template"]["outputs"][0]["simpleText"]["text"],
        "파이썬 봇이 받았어요: 파이썬 봇",
        "the Python app verified the bot event and replied: {:?}",
        calls[0].body
    );

    let unlink = format!(
        "http://{addr}/kakao/unlink?app_id={APP_ID}&user_id=4321&referrer_type=UNLINK_FROM_APPS"
    );
    let status = client
        .request(Method::GET, unlink)
        .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    for _ in 0..200 {
        let received: Vec<Value> = client
            .get(format!("http://{python_addr}/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(unlinked) = received.iter().find(|n| n["type"] == "user.unlinked") {
            assert_eq!(unlinked["data"]["user_id"], "4321");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Python app never verified a user.unlinked notification");
}
