//! The Bot API gateway client against a real WebSocket server scripting
//! Kakao's side: handshake, heartbeats, DISPATCH down the webhook's path,
//! close codes, RESUME across reconnects and restarts, and one connection
//! across instances.

use std::time::Duration;

use serde_json::Value;

use crate::{
    bot_replies::{BOT_TOKEN, bot_app},
    helpers::{ChildProcess, KakaoBotApi, ScratchDatabase, TestApp, free_addr},
    kakao_gateway::{GatewayConnection, KakaoGateway},
};

const WAIT: Duration = Duration::from_secs(15);
const CALLBACK: &str = "/v1/bot/callback";

async fn gateway_app(kakao: &KakaoBotApi, gateway: &KakaoGateway) -> TestApp {
    bot_app(kakao)
        .var("KAKAO_BOT_GATEWAY", true)
        .var("KAKAO_BOT_GATEWAY_URL", gateway.url())
        .spawn()
        .await
}

/// A service connected and READY under session `sess-1` (30 s heartbeats).
struct Ready {
    kakao: KakaoBotApi,
    gateway: KakaoGateway,
    app: TestApp,
    conn: GatewayConnection,
}

async fn ready() -> Ready {
    let (kakao, mut gateway) = (KakaoBotApi::start().await, KakaoGateway::start().await);
    let app = gateway_app(&kakao, &gateway).await;
    let mut conn = gateway.next_connection(WAIT).await;
    conn.hello(30_000).await;
    conn.ready("sess-1");
    Ready {
        kakao,
        gateway,
        app,
        conn,
    }
}

/// The settings of a service process using `gateway` and `kakao`'s URLs.
fn gateway_vars<'a>(url: &'a str, base: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("KAKAO_BOT_TOKEN", BOT_TOKEN),
        ("KAKAO_API_BASE_URL", base),
        ("KAKAO_BOT_GATEWAY", "true"),
        ("KAKAO_BOT_GATEWAY_URL", url),
    ]
}

async fn callbacks(kakao: &KakaoBotApi, count: usize) -> Vec<String> {
    let calls = kakao
        .platform
        .wait_for_delivered(CALLBACK, count, WAIT)
        .await
        .unwrap_or_else(|| panic!("expected {count} callbacks: {:?}", kakao.platform.calls()));
    calls.into_iter().filter_map(|c| c.callback_token).collect()
}

async fn gateway_state(app: &TestApp) -> Value {
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    ready["gateway"].clone()
}

async fn wait_state(app: &TestApp, state: &str) -> Value {
    for _ in 0..200 {
        let now = gateway_state(app).await;
        if now["state"] == state {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the gateway never became {state}: {}",
        gateway_state(app).await
    );
}

#[tokio::test]
async fn a_dispatch_is_stored_and_answered_once_and_heartbeats_keep_the_interval() {
    let (kakao, mut gateway) = (KakaoBotApi::start().await, KakaoGateway::start().await);
    let app = gateway_app(&kakao, &gateway).await;
    let mut conn = gateway.next_connection(WAIT).await;
    let identify = conn.hello(1000).await;
    assert_eq!(identify["op"], 2);
    assert_eq!(
        identify["d"]["token"], BOT_TOKEN,
        "the raw token, no KakaoAK"
    );
    conn.ready("sess-1");
    wait_state(&app, "connected").await;
    conn.dispatch_message(1, 869_509_512_613_945_331, "cb-1");

    assert_eq!(callbacks(&kakao, 1).await, ["cb-1"]);
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["source"], "bot");
    let (first, _) = conn.recv_op(1, Duration::from_secs(5)).await;
    let (second, _) = conn.recv_op(1, Duration::from_secs(5)).await;
    let gap = second - first;
    assert!(
        gap > Duration::from_millis(500) && gap < Duration::from_millis(1500),
        "a heartbeat about every 0.9 × 1000 ms: {gap:?}"
    );
    // The webhook is not another way in while the gateway is used.
    let webhook = app
        .client
        .post(app.url("/kakao/bot"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(webhook.status(), 404);
}

#[tokio::test]
async fn close_1001_resumes_with_the_session_and_last_s_and_a_replay_is_answered_once() {
    let Ready {
        kakao,
        mut gateway,
        app: _app,
        conn,
    } = ready().await;
    conn.dispatch_message(4, 10, "cb-10");
    callbacks(&kakao, 1).await;
    conn.close(1001);

    let mut again = gateway.next_connection(WAIT).await;
    let resume = again.hello(30_000).await;
    assert_eq!(resume["op"], 6, "{resume}");
    assert_eq!(resume["d"]["session_id"], "sess-1");
    assert_eq!(resume["d"]["seq"], 4);
    assert_eq!(resume["d"]["token"], BOT_TOKEN);
    again.ready("sess-1");
    // Kakao may redeliver under another s: one reply all the same.
    again.dispatch_message(5, 10, "cb-10-again");
    again.dispatch_message(6, 11, "cb-11");
    assert_eq!(callbacks(&kakao, 2).await, ["cb-10", "cb-11"]);
}

#[tokio::test]
async fn close_4009_forgets_the_session_and_identifies_afresh() {
    let Ready {
        kakao,
        mut gateway,
        app: _app,
        conn,
    } = ready().await;
    conn.dispatch_message(1, 20, "cb-20");
    callbacks(&kakao, 1).await;
    conn.close(4009);
    let mut again = gateway.next_connection(WAIT).await;
    assert_eq!(again.hello(30_000).await["op"], 2, "IDENTIFY, not RESUME");
}

#[tokio::test]
async fn a_failed_resume_falls_back_to_identify() {
    let Ready {
        kakao: _kakao,
        mut gateway,
        app: _app,
        conn,
    } = ready().await;
    conn.close(1001);
    let mut resuming = gateway.next_connection(WAIT).await;
    assert_eq!(resuming.hello(30_000).await["op"], 6);
    resuming.close(1000); // refused, before any READY
    let mut fresh = gateway.next_connection(WAIT).await;
    assert_eq!(fresh.hello(30_000).await["op"], 2);
}

#[tokio::test]
async fn close_4004_stops_reconnecting_and_ready_says_why() {
    let Ready {
        kakao: _kakao,
        mut gateway,
        app,
        conn,
    } = ready().await;
    wait_state(&app, "connected").await;
    conn.close(4004);

    let stopped = wait_state(&app, "stopped").await;
    assert!(
        stopped["reason"].as_str().unwrap().contains("4004"),
        "{stopped}"
    );
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["families"]["bot"], "failing");
    assert!(
        !gateway.connects_within(Duration::from_secs(3)).await,
        "no reconnect"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"kakao_bot_gateway_reconnects_total{reason="stopped_4004"} 1"#));
}

#[tokio::test]
async fn no_heartbeat_ack_replaces_the_connection() {
    let (kakao, mut gateway) = (KakaoBotApi::start().await, KakaoGateway::start().await);
    let _app = gateway_app(&kakao, &gateway).await;
    let mut conn = gateway.next_connection(WAIT).await;
    conn.stop_acking();
    conn.hello(1000).await;
    conn.ready("sess-1");
    conn.recv_op(1, Duration::from_secs(5)).await;
    let mut again = gateway.next_connection(WAIT).await;
    assert_eq!(again.hello(30_000).await["op"], 6, "a dead link resumes");
}

#[tokio::test]
async fn bad_frames_are_ignored_and_the_next_dispatch_still_stored() {
    let Ready {
        kakao,
        gateway: _gateway,
        app,
        conn,
    } = ready().await;
    conn.send_raw(tokio_tungstenite::tungstenite::Message::text("not json\n{"));
    conn.send(serde_json::json!({"op": 42, "d": {"new": true}}));
    conn.send(serde_json::json!({"op": 0, "s": 1, "d": {}})); // no t
    conn.send(serde_json::json!({"op": 0, "s": 2, "t": "SOMETHING_NEW", "d": {"x": 1}}));
    conn.send_raw(tokio_tungstenite::tungstenite::Message::binary(vec![
        0u8;
        16
    ]));
    conn.dispatch_message(3, 30, "cb-30");
    assert_eq!(callbacks(&kakao, 1).await.last().unwrap(), "cb-30");
    let types: Vec<Value> = app
        .events()
        .await
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        types,
        ["SOMETHING_NEW", "MESSAGE_CREATE"],
        "an unknown type is stored too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_resumes_with_the_persisted_s() {
    let (kakao, mut gateway) = (KakaoBotApi::start().await, KakaoGateway::start().await);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/gateway.db", dir.path().display());
    let (url, base) = (gateway.url(), kakao.base_url());
    let vars = gateway_vars(&url, &base);
    let addr = free_addr();
    let service = ChildProcess::serve_with(&database, &addr, &vars).await;
    let mut conn = gateway.next_connection(WAIT).await;
    conn.hello(30_000).await;
    conn.ready("sess-7");
    conn.dispatch_message(7, 70, "cb-70");
    callbacks(&kakao, 1).await;

    // A second process on the same SQLite file is refused, naming why.
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("serve")
        .env_clear()
        .env("BIND_ADDR", free_addr())
        .env("DATABASE_URL", &database)
        .envs(vars)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another kakao-webhooks process runs the bot gateway")
    );

    drop(service); // SIGKILL
    let _again = ChildProcess::serve_with(&database, &addr, &vars).await;
    let mut resumed = gateway.next_connection(WAIT).await;
    let resume = resumed.hello(30_000).await;
    assert_eq!(
        (resume["op"].clone(), resume["d"]["seq"].clone()),
        (6.into(), 7.into()),
        "{resume}"
    );
    assert_eq!(resume["d"]["session_id"], "sess-7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_hold_one_connection_and_the_other_takes_over_when_the_holder_dies() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let (kakao, mut gateway) = (KakaoBotApi::start().await, KakaoGateway::start().await);
    let (url, base) = (gateway.url(), kakao.base_url());
    let vars = gateway_vars(&url, &base);
    let (addr_one, addr_two) = (free_addr(), free_addr());
    let mut one = Some(ChildProcess::serve_with(&database.url, &addr_one, &vars).await);
    let mut two = Some(ChildProcess::serve_with(&database.url, &addr_two, &vars).await);
    let mut conn = gateway.next_connection(WAIT).await;
    conn.hello(30_000).await;
    conn.ready("sess-pg");
    conn.dispatch_message(1, 90, "cb-90");
    callbacks(&kakao, 1).await;
    assert!(
        !gateway.connects_within(Duration::from_secs(3)).await,
        "one connection at a time"
    );

    let state = |addr: String| async move {
        let ready: Value = reqwest::get(format!("http://{addr}/ready"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ready["gateway"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let holder_is_one = state(addr_one.clone()).await == "connected";
    assert_eq!(
        state(if holder_is_one {
            addr_two.clone()
        } else {
            addr_one.clone()
        })
        .await,
        "standby"
    );
    if holder_is_one {
        one.take()
    } else {
        two.take()
    }; // SIGKILL the holder
    let killed = std::time::Instant::now();
    let mut taken_over = gateway.next_connection(Duration::from_secs(12)).await;
    eprintln!(
        "gateway failover: a new connection {:?} after the kill",
        killed.elapsed()
    );
    let resume = taken_over.hello(30_000).await;
    assert_eq!(
        resume["op"], 6,
        "the survivor resumes the stored session: {resume}"
    );
    assert_eq!(resume["d"]["seq"], 1);
    drop((one, two));
    database.drop().await;
}
