//! The operator's console in a real browser (Debian's chromium through
//! chromedriver, driven by fantoccini), and its guards over plain HTTP.
//! Screenshots of each page are kept under `target/console-screenshots/`.
//!
//! Needs `chromedriver` and `chromium` (`.ci/run` installs them). Without
//! them the browser test says so and passes, except under CI.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{
    app_receiver::{Answer, AppReceiver, SIGNING_SECRET},
    helpers::{ADMIN_KEY, API_TOKEN, APP_ID, TestApp, free_addr},
};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver and a headless chromium session, or `None` (skipped).
async fn browser() -> Option<(Driver, Client)> {
    let driver =
        std::env::var("KAKAO_WEBHOOKS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let addr = free_addr();
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let child = match Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => Driver(child),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must have chromedriver (see .ci/run)")
        }
        Err(_) => {
            eprintln!("console: browser test skipped; install chromium and chromium-driver");
            return None;
        }
    };
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"]}),
    );
    for _ in 0..100 {
        let connected =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://{addr}"))
                .await;
        if let Ok(client) = connected {
            return Some((child, client));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// axe-core's WCAG 2 A and AA violations on the current page (`[]` when
/// none). axe comes from npm (`KAKAO_WEBHOOKS_AXE` names `axe.min.js`;
/// `.ci/run` installs it); without it the check says so and passes, except
/// under CI.
async fn accessibility_violations(client: &Client) -> Vec<String> {
    let Ok(path) = std::env::var("KAKAO_WEBHOOKS_AXE") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set KAKAO_WEBHOOKS_AXE (see .ci/run)"
        );
        eprintln!("console: accessibility check skipped; set KAKAO_WEBHOOKS_AXE to axe.min.js");
        return Vec::new();
    };
    let axe = std::fs::read_to_string(path).unwrap();
    let script = format!(
        "{axe}\nconst done = arguments[arguments.length - 1];
         axe.run(document, {{runOnly: ['wcag2a', 'wcag2aa']}})
            .then(r => done(r.violations.map(v => v.id + ' (' + v.nodes.length + '): ' + v.help)));"
    );
    let found = client.execute_async(&script, Vec::new()).await.unwrap();
    serde_json::from_value(found).unwrap()
}

async fn screenshot(client: &Client, name: &str) {
    let violations = accessibility_violations(client).await;
    assert!(violations.is_empty(), "{name}: {violations:?}");
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/target/console-screenshots");
    std::fs::create_dir_all(folder).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(format!("{folder}/{name}.png"), png).unwrap();
}

/// `kakao-webhooks simulate …` against `app`, expecting success.
fn simulate(app: &TestApp, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .args(["simulate", "--server", &app.public_url("")])
        .args(args)
        .env_clear()
        .env("KAKAO_ADMIN_KEY", ADMIN_KEY)
        .env("KAKAO_APP_ID", APP_ID)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "simulate {args:?}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sign_in(client: &Client, token: &str) {
    let field = client
        .wait()
        .for_element(Locator::Id("token"))
        .await
        .unwrap();
    field.send_keys(token).await.unwrap();
    client
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_watches_a_delivery_arrive_opens_the_user_retries_and_signs_out() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let app_side = AppReceiver::start().await;
    app_side.script([], Answer::Status(503));
    let app = TestApp::kakao()
        .var("APP_NOTIFY_URL", app_side.url())
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "50")
        // Tallies for the charts are written every second.
        .var("ALERT_WINDOW_SECONDS", "30")
        .spawn()
        .await;
    let console = app.url("/console");

    // Closed until signed in; a wrong token is refused.
    client.goto(&console).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    screenshot(&client, "login").await;
    sign_in(&client, "not-the-token").await;
    assert!(!text_of(&client, "#login-error").await.is_empty());
    sign_in(&client, API_TOKEN).await;
    client
        .wait()
        .for_element(Locator::Id("deliveries"))
        .await
        .unwrap();

    // A webhook sent with simulate appears without a reload.
    simulate(&app, &["unlink", "--user", "4242"]);
    let row = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(
            "#deliveries tbody tr a[href='/console/users/4242']",
        ))
        .await
        .expect("the delivery appears live");
    assert!(
        client
            .find(Locator::Id("live-empty"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .map(|shown| !shown)
            .unwrap(),
        "the empty state goes once a delivery arrives"
    );
    screenshot(&client, "live").await;

    // Its delivery page: what it changed, the answer against the deadline,
    // in Seoul time with UTC on hover.
    client
        .find(Locator::Css(
            "#deliveries tbody tr a[href^='/console/deliveries/']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&client, "#changed").await.contains("앱 연결 해제"));
    assert!(text_of(&client, "#answer").await.contains("/ 3000 ms"));
    let received = client.find(Locator::Css("#summary time")).await.unwrap();
    assert!(received.text().await.unwrap().ends_with(" KST"));
    let utc = received.attr("datetime").await.unwrap().unwrap();
    assert!(utc.ends_with('Z'), "{utc}");
    screenshot(&client, "delivery").await;

    // That user, with the event in the timeline.
    drop(row);
    client.goto(&app.url("/console/users/4242")).await.unwrap();
    assert!(text_of(&client, "#facts").await.contains("연결 해제됨"));
    assert!(text_of(&client, "#timeline").await.contains("앱 연결 해제"));
    screenshot(&client, "user").await;

    // A user known only from a channel event is shown as such.
    simulate(&app, &["channel", "--user", "5151", "--event", "added"]);
    client.goto(&app.url("/console/users/5151")).await.unwrap();
    assert!(
        text_of(&client, "#not-known")
            .await
            .contains("채널이나 봇 이벤트로만")
    );
    screenshot(&client, "user-channel-only").await;

    // The app refused the notification until it failed; retry it.
    for _ in 0..100 {
        client.goto(&app.url("/console/outboxes")).await.unwrap();
        if client.find(Locator::Css(".retry")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&client, "outboxes").await;
    app_side.script([], Answer::Status(200));
    client
        .find(Locator::Css(".retry"))
        .await
        .expect("a retry button")
        .click()
        .await
        .unwrap();
    let delivered = async {
        for _ in 0..100 {
            let (_, body) = app.api_get("/api/notifications?status=delivered").await;
            if !body["notifications"].as_array().unwrap().is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(delivered.await, "the retried notification was delivered");

    // The health page charts the deliveries, each with a text alternative.
    let mut chart = None;
    for _ in 0..100 {
        client.goto(&app.url("/console/health")).await.unwrap();
        if let Ok(found) = client.find(Locator::Css("svg#volume-unlink")).await {
            chart = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chart = chart.expect("a chart of the unlinks");
    assert_eq!(chart.attr("role").await.unwrap().as_deref(), Some("img"));
    let summary = chart.attr("aria-label").await.unwrap().unwrap();
    assert!(summary.contains("전달 1건"), "{summary}");
    screenshot(&client, "health").await;
    client
        .goto(&app.url("/console/health?range=day"))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("svg#times-unlink"))
        .await
        .unwrap();
    screenshot(&client, "health-day").await;
    client.goto(&app.url("/console/settings")).await.unwrap();
    client.wait().for_element(Locator::Css("h1")).await.unwrap();
    screenshot(&client, "settings").await;
    client
        .goto(&app.url("/console/settings?lang=en"))
        .await
        .unwrap();
    assert!(
        text_of(&client, "h1").await.contains("Settings"),
        "English on request"
    );

    // Signed out, the console is closed again.
    client
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.goto(&console).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_familys_delivery_page_reads_in_korean_and_passes_axe() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let kakao = crate::console_pages::one_delivery_of_each_family().await;
    let app = &kakao.app;
    client.goto(&app.url("/console")).await.unwrap();
    sign_in(&client, API_TOKEN).await;
    client
        .wait()
        .for_element(Locator::Id("deliveries"))
        .await
        .unwrap();
    let live = client.source().await.unwrap();
    let mut pages = Vec::new();
    for (name, event_type, changed) in [
        ("set", "user-scope-consent", "동의 항목 추가: talk_message"),
        ("channel", "channel.blocked", "채널 차단"),
        ("share", "share.delivered", "카카오톡 공유 메시지 전송됨"),
        ("bot", "MESSAGE_CREATE", "메시지 받음: 답장 대기"),
    ] {
        let id = crate::console_pages::event_id(app, event_type).await;
        pages.push((name, format!("/console/deliveries/{id}"), changed));
    }
    for (name, family, outcome, changed) in [
        ("refused", "unlink", "refused", "저장한 것이 없어"),
        ("skill", "skill", "answered", "저장한 것이 없어"),
    ] {
        let link = crate::console_pages::live_link(&live, family, outcome);
        pages.push((name, link, changed));
    }
    for (name, path, changed) in pages {
        client.goto(&app.url(&path)).await.unwrap();
        let said = text_of(&client, "#changed").await;
        assert!(said.contains(changed), "{name}: {said}");
        screenshot(&client, &format!("delivery-{name}")).await;
    }
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_console_is_absent_without_the_api_token_and_its_forms_need_the_session_token() {
    let closed = TestApp::builder().spawn().await;
    assert_eq!(closed.get("/console").await.status(), 404);
    assert_eq!(closed.get("/console/login").await.status(), 404);

    let app = TestApp::kakao().spawn().await;
    let (client, signed_in) = app.console_sign_in().await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    // A cross-site form cannot know the CSRF token.
    let forged = client
        .post(app.url("/console/logout"))
        .header("cookie", &session)
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let page = client
        .get(app.url("/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("실시간 수신"),
        "Korean first"
    );
    let https = client
        .post(app.url("/console/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", API_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(
        https.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}
