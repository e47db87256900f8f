//! Alerts: raised when a family's failures pass the ratio, resolved once
//! clear for a window, sent to a real local receiver standing in for a
//! Slack-compatible webhook and to the app, once per condition however many
//! instances share the database.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    app_receiver::{Answer, AppReceiver, Received, SIGNING_SECRET},
    helpers::{API_TOKEN, APP_ID, ChildProcess, ScratchDatabase, TestApp, free_addr},
};

/// Room for a loaded 2-core CI: the condition is judged every 250 ms.
const WAIT: Duration = Duration::from_secs(30);

fn unlink_path(user: &str) -> String {
    format!("/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type=UNLINK_FROM_APPS")
}

/// An unlink for user `n` with a wrong admin key, at `base`: refused.
async fn refused_unlink(client: &reqwest::Client, base: &str, n: usize) {
    let refused = client
        .get(format!("{base}{}", unlink_path(&format!("60{n}"))))
        .header("authorization", "KakaoAK the-old-key")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

/// A console page, signed in with the API token.
async fn console_page(app: &TestApp, path: &str) -> String {
    app.console_session().await.html(app, path).await
}

/// The alerts among what a receiver got (the app also gets user changes).
fn alerts(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .map(Received::json)
        .filter(|body| {
            body.get("alert").is_some()
                || body["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("alert."))
        })
        .collect()
}

/// Waits until `receiver` got `count` alerts, or panics.
async fn wait_alerts(receiver: &AppReceiver, count: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    while started.elapsed() < WAIT {
        let got = alerts(&receiver.received());
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} alert(s), got {:?}",
        alerts(&receiver.received())
    );
}

#[tokio::test]
async fn an_alert_is_raised_after_refused_unlinks_and_resolved_after_good_ones() {
    let hook = AppReceiver::start().await;
    let app_side = AppReceiver::start().await;
    let app = TestApp::kakao()
        .var("ALERT_WEBHOOK_URL", hook.at("/slack"))
        .var("APP_NOTIFY_URL", app_side.url())
        .var("APP_SIGNING_SECRET", SIGNING_SECRET)
        .var("ALERT_WINDOW_SECONDS", 2)
        .spawn()
        .await;

    // A wrong admin key after a rotation: every unlink refused.
    for n in 0..6 {
        refused_unlink(&app.client, &app.public_url(""), n).await;
    }
    let raised = wait_alerts(&hook, 1).await;
    let body = &raised[0];
    assert_eq!(body["alert"]["name"], "webhook_failures", "{body}");
    assert_eq!(body["alert"]["state"], "raised");
    assert_eq!(body["alert"]["family"], "unlink");
    assert_eq!(body["alert"]["value"], 1.0);
    assert_eq!(body["alert"]["threshold"], 0.1);
    assert!(body["alert"]["since"].as_str().unwrap().ends_with('Z'));
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("경보 발생") && text.contains("Alert raised"),
        "{text}"
    );
    // Judged every 250 ms: after the fifth refusal or the sixth.
    assert!(
        text.contains("deliveries failed in the last 2 s (100%, threshold 10%)"),
        "{text}"
    );
    assert!(
        hook.received()[0].signed_with(SIGNING_SECRET),
        "signed like every request we send"
    );

    let (status, listed) = app.api_get("/api/alerts").await;
    assert_eq!(status, 200);
    assert_eq!(listed["active"][0]["family"], "unlink", "{listed}");
    // The console: a banner on every page, the family red on the health page.
    let health = console_page(&app, "/console/health").await;
    assert!(
        health.contains(r#"<section class="alerts" role="alert""#),
        "{health}"
    );
    assert!(
        health.contains("unlink webhook:") && health.contains("deliveries failed"),
        "{health}"
    );
    assert!(
        health.contains(r#"<tr class="bad"><td>unlink</td>"#),
        "{health}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_webhooks_received_total{family="unlink",outcome="refused"}"#),
        "refusals are counted"
    );
    assert!(metrics.contains("# HELP kakao_webhooks_received_total"));

    // The key fixed: good unlinks until the failures have aged out of the
    // window and it has been clear for a whole one.
    let started = std::time::Instant::now();
    let mut user = 0;
    while alerts(&hook.received()).len() < 2 && started.elapsed() < WAIT {
        user += 1;
        let accepted = app
            .kakao_request(Method::GET, &unlink_path(&format!("70{user}")))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let both = wait_alerts(&hook, 2).await;
    assert_eq!(both[1]["alert"]["state"], "resolved", "{both:?}");
    assert_eq!(
        both[1]["alert"]["since"], both[0]["alert"]["since"],
        "since it was raised"
    );
    assert!(both[1]["text"].as_str().unwrap().contains("Alert resolved"));
    let (_, listed) = app.api_get("/api/alerts").await;
    assert_eq!(listed["active"], json!([]), "{listed}");
    let health = console_page(&app, "/console/health").await;
    assert!(
        !health.contains(r#"class="alerts""#),
        "no banner once resolved"
    );
    assert_eq!(listed["alerts"][0]["state"], "resolved");

    // The app heard both, signed, as notifications of their own type.
    let started = std::time::Instant::now();
    let mut types = Vec::new();
    while types.len() < 2 && started.elapsed() < WAIT {
        types = alerts(&app_side.received())
            .iter()
            .map(|b| b["type"].as_str().unwrap().to_owned())
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(types, ["alert.raised", "alert.resolved"]);
    assert!(
        app_side
            .received()
            .iter()
            .all(|r| r.signed_with(SIGNING_SECRET))
    );
    assert_eq!(
        alerts(&hook.received()).len(),
        2,
        "raised once, resolved once"
    );
}

#[tokio::test]
async fn a_fallback_answer_is_a_failure_that_raises_the_skill_alert() {
    let hook = AppReceiver::start().await;
    // The chat webhook itself is failing: the alert waits in the outbox.
    hook.script([], Answer::Status(500));
    let app = TestApp::builder()
        .handler(|_req: kakao_webhooks::skill::SkillRequest| async {
            Err::<kakao_webhooks::skill::SkillResponse, _>(anyhow::anyhow!("the app is down"))
        })
        .var("ALERT_WEBHOOK_URL", hook.at("/slack"))
        .var("ALERT_WINDOW_SECONDS", 2)
        .var("INTERNAL_API_TOKEN", API_TOKEN)
        .spawn()
        .await;
    for _ in 0..5 {
        let answer = app
            .post_skill(crate::helpers::skill_request("안녕", None))
            .await;
        assert_eq!(answer.status(), 200, "Kakao still gets an answer");
        let why = answer.headers()["kakao-webhooks-fallback"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(why.contains("the app is down"), "{why}");
    }
    let raised = wait_alerts(&hook, 1).await;
    assert_eq!(raised[0]["alert"]["family"], "skill", "{raised:?}");
    assert_eq!(raised[0]["alert"]["state"], "raised");
    assert!(
        hook.received()[0].signature.is_empty(),
        "unsigned without APP_SIGNING_SECRET"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_webhooks_received_total{family="skill",outcome="fallback"}"#),
        "{metrics}"
    );
    // Its failed attempt is counted, and the console's outbox page shows it.
    let started = std::time::Instant::now();
    loop {
        let outbox = console_page(&app, "/console/outboxes").await;
        if outbox.contains("<td>alert</td>") && outbox.contains("answered 500") {
            break;
        }
        assert!(started.elapsed() < WAIT, "{outbox}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_alert_notifications_total{outcome="retried"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_metric_has_its_help_line() {
    let app = TestApp::kakao().spawn().await;
    app.post_skill(crate::helpers::skill_request("안녕", None))
        .await;
    app.kakao_request(Method::GET, &unlink_path("1"))
        .send()
        .await
        .unwrap();
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(
                metrics.contains(&format!("# HELP {name} ")),
                "{name} has no # HELP line"
            );
        }
    }
}

/// Two real processes on one PostgreSQL database, each seeing too few
/// refusals to judge alone: the shared tally raises one alert, sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_send_one_alert() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let hook = AppReceiver::start().await;
    let settings = [
        ("ALERT_WEBHOOK_URL", hook.at("/slack")),
        ("ALERT_WINDOW_SECONDS", "2".to_owned()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let addrs = [free_addr(), free_addr()];
    let one = ChildProcess::serve_with(&database.url, &addrs[0], &settings).await;
    let two = ChildProcess::serve_with(&database.url, &addrs[1], &settings).await;
    let client = reqwest::Client::new();
    for n in 0..6 {
        refused_unlink(&client, &format!("http://{}", addrs[n % 2]), n).await;
    }
    let raised = wait_alerts(&hook, 1).await;
    assert_eq!(raised[0]["alert"]["family"], "unlink");
    // Both instances judge it raised, from the same rows.
    for addr in &addrs {
        let started = std::time::Instant::now();
        loop {
            let metrics = client
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if metrics.contains(r#"kakao_alerts_active{name="webhook_failures"} 1"#) {
                break;
            }
            assert!(
                started.elapsed() < WAIT,
                "{addr} never saw the alert: {metrics}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Many more judgements by both (every 250 ms): still one alert sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        alerts(&hook.received()).len(),
        1,
        "{:?}",
        alerts(&hook.received())
    );
    drop((one, two));
    database.drop().await;
}
