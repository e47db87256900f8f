//! `EVENT_STREAM_URL`: every notification published into a real broker
//! running here (Redis Streams, NATS JetStream, RabbitMQ), through the
//! durable outbox: each broker gets exactly the ids the outbox holds, a
//! broker that is down costs Kakao's deliveries nothing (an alert is raised
//! and the messages go out when it returns), and a misconfigured one stops
//! start-up with what to set.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestAppBuilder};

const WAIT: Duration = Duration::from_secs(30);

fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

fn streaming(url: &str) -> TestAppBuilder {
    TestApp::kakao()
        .var("EVENT_STREAM_URL", url)
        .var("APP_NOTIFY_RETRY_SCHEDULE_MS", "200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200")
        .var("ALERT_WINDOW_SECONDS", 3)
}

async fn channel_change(app: &TestApp, user: &str, second: u32) {
    let body = json!({
        "event": "added", "id": user, "id_type": "app_user_id", "channel_public_id": "_FLX",
        "updated_at": format!("2024-01-01T00:00:{second:02}Z"),
    });
    let response = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", format!("r-{user}-{second}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "Kakao's deliveries never wait on the broker"
    );
}

/// The `webhook_id`s of the stream's notifications, once `count` are delivered.
async fn delivered_ids(app: &TestApp, count: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = app
            .api_get("/api/notifications?destination=stream&status=delivered")
            .await;
        let ids: Vec<String> = body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["webhook_id"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() >= count {
            let mut ids = ids;
            ids.sort();
            return ids;
        }
        assert!(Instant::now() < deadline, "delivered: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn xrange(url: &str, key: &str) -> Vec<(String, String, Value)> {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .unwrap();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            (
                field("id"),
                field("type"),
                serde_json::from_str(&field("body")).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gets_exactly_the_ids_the_outbox_holds() {
    let key = unique("kakao-webhooks-test-");
    let url = format!("redis://127.0.0.1:6379/0?stream={key}");
    let app = streaming(&url).spawn().await;
    for second in 1..=3 {
        channel_change(&app, &second.to_string(), second).await;
    }
    let ids = delivered_ids(&app, 3).await;
    let entries = xrange("redis://127.0.0.1:6379/0", &key).await;
    let mut published: Vec<String> = entries.iter().map(|(id, _, _)| id.clone()).collect();
    published.sort();
    published.dedup();
    assert_eq!(published, ids);
    for (id, kind, body) in &entries {
        assert_eq!(kind, "channel.added");
        assert_eq!(body["id"], id.as_str(), "the message carries its id");
        assert_eq!(body["type"], "channel.added");
    }
    // Without APP_NOTIFY_URL the app's rows are held, not sent.
    let (_, app_rows) = app.api_get("/api/notifications").await;
    let statuses: Vec<&str> = app_rows["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["held", "held", "held"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_gets_each_id_as_its_msg_id() {
    let prefix = unique("kt");
    let app = streaming(&format!("nats://127.0.0.1:4222/{prefix}"))
        .var("EVENT_STREAM_CREATE", "true")
        .spawn()
        .await;
    for second in 1..=3 {
        channel_change(&app, &second.to_string(), second).await;
    }
    let ids = delivered_ids(&app, 3).await;
    let client = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let name = format!("KAKAO_WEBHOOKS_{}", prefix.to_ascii_uppercase());
    let stream = jetstream.get_stream(&name).await.unwrap();
    let mut published = Vec::new();
    for sequence in 1..=3 {
        let message = stream.get_raw_message(sequence).await.unwrap();
        assert_eq!(message.subject.as_str(), format!("{prefix}.channel.added"));
        let id = message
            .headers
            .get("Nats-Msg-Id")
            .unwrap()
            .as_str()
            .to_owned();
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["id"], id.as_str());
        published.push(id);
    }
    published.sort();
    assert_eq!(published, ids);
    jetstream.delete_stream(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_without_a_stream_for_the_subjects_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("nostream");
    let settings = kakao_webhooks::Settings::from_vars(
        None,
        [
            ("BIND_ADDR", "127.0.0.1:0"),
            (
                "DATABASE_URL",
                format!("sqlite://{}/t.db", dir.path().display()).as_str(),
            ),
            (
                "SPOOL_DIR",
                dir.path().join("spool").display().to_string().as_str(),
            ),
            (
                "EVENT_STREAM_URL",
                format!("nats://127.0.0.1:4222/{prefix}").as_str(),
            ),
        ],
    )
    .unwrap();
    let handler = std::sync::Arc::new(|_req: kakao_webhooks::skill::SkillRequest| async {
        Ok(kakao_webhooks::skill::SkillResponse::text("x"))
    });
    let err = kakao_webhooks::Server::build(settings, handler)
        .await
        .err()
        .expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("EVENT_STREAM_URL"), "{message}");
    assert!(message.contains("EVENT_STREAM_CREATE=true"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_gets_persistent_confirmed_messages_with_their_ids() {
    use futures_util::StreamExt;
    use lapin::{options::*, types::FieldTable};
    let exchange = unique("kakao-test-");
    let connection = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.name().clone(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let app = streaming(&format!(
        "amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}"
    ))
    .spawn()
    .await;
    for second in 1..=3 {
        channel_change(&app, &second.to_string(), second).await;
    }
    let ids = delivered_ids(&app, 3).await;
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut published = Vec::new();
    for _ in 0..3 {
        let delivery = tokio::time::timeout(WAIT, consumer.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(delivery.routing_key.as_str(), "channel.added");
        assert_eq!(delivery.properties.delivery_mode(), &Some(2), "persistent");
        let id = delivery
            .properties
            .message_id()
            .clone()
            .unwrap()
            .to_string();
        let body: Value = serde_json::from_slice(&delivery.data).unwrap();
        assert_eq!(body["id"], id.as_str());
        published.push(id);
    }
    published.sort();
    assert_eq!(published, ids);
    channel
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
}

/// A private Redis with its data on disk, so a restart keeps what it took.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<crate::helpers::ChildProcess>,
}

impl OwnRedis {
    async fn start(port: u16, dir: tempfile::TempDir) -> Self {
        let process = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian's redis-server)");
        let url = format!("redis://127.0.0.1:{port}/0");
        let deadline = Instant::now() + WAIT;
        loop {
            let client = redis::Client::open(url.as_str()).unwrap();
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            port,
            dir,
            process: Some(crate::helpers::ChildProcess(process)),
        }
    }

    fn stop(mut self) -> (u16, tempfile::TempDir) {
        drop(self.process.take()); // SIGKILL
        (self.port, self.dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_costs_kakao_nothing_raises_an_alert_and_the_backlog_follows() {
    let port: u16 = crate::helpers::free_addr()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let redis = OwnRedis::start(port, tempfile::tempdir().unwrap()).await;
    let key = "kakao-outage";
    let url = format!("redis://127.0.0.1:{port}/0?stream={key}");
    let app = streaming(&url).spawn().await;
    channel_change(&app, "1", 1).await;
    channel_change(&app, "2", 2).await;
    delivered_ids(&app, 2).await;

    // The broker goes away: Kakao is still answered, the outbox holds on.
    let (port, dir) = redis.stop();
    channel_change(&app, "3", 3).await;
    channel_change(&app, "4", 4).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, alerts) = app.api_get("/api/alerts").await;
        let raised = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "event_stream" && a["state"] == "raised");
        if raised {
            break;
        }
        assert!(Instant::now() < deadline, "no event_stream alert: {alerts}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, failed) = app
        .api_get("/api/notifications?destination=stream&status=failed")
        .await;
    assert_eq!(
        failed["notifications"],
        json!([]),
        "nothing lost while the broker is down"
    );

    // Back, with what it took before: the backlog follows, each id once.
    let _redis = OwnRedis::start(port, dir).await;
    let ids = delivered_ids(&app, 4).await;
    let entries = xrange(&format!("redis://127.0.0.1:{port}/0"), key).await;
    let mut published: Vec<String> = entries.iter().map(|(id, _, _)| id.clone()).collect();
    published.sort();
    published.dedup();
    assert_eq!(published, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_consumer_prints_what_the_service_published() {
    let Some(python) = crate::python_app::python() else {
        return;
    };
    let key = unique("kakao-webhooks-example-");
    let app = streaming(&format!("redis://127.0.0.1:6379/0?stream={key}"))
        .spawn()
        .await;
    channel_change(&app, "42", 1).await;
    let ids = delivered_ids(&app, 1).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/stream-consumer/consume.py"
    );
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(python)
            .arg(script)
            .args(["--url", "redis://127.0.0.1:6379/0", "--stream", &key])
            .args(["--group", "example", "--count", "1"])
            .output(),
    )
    .await
    .expect("the consumer read one entry")
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.starts_with(&format!("{} channel.added", ids[0])),
        "{printed}"
    );
    assert!(printed.contains(r#""user_id": "42""#), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_publish_each_message_once() {
    let Some(database) = crate::helpers::ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let key = unique("kakao-webhooks-two-");
    let url = format!("redis://127.0.0.1:6379/0?stream={key}");
    let one = streaming(&url).database(&database.url).spawn().await;
    let two = streaming(&url).database(&database.url).spawn().await;
    for n in 0..30u32 {
        let app = if n % 2 == 0 { &one } else { &two };
        channel_change(app, &format!("{}", 100 + n), 1).await;
    }
    let ids = delivered_ids(&one, 30).await;
    let entries = xrange("redis://127.0.0.1:6379/0", &key).await;
    assert_eq!(entries.len(), 30, "each published once");
    let mut published: Vec<String> = entries.into_iter().map(|(id, _, _)| id).collect();
    published.sort();
    assert_eq!(published, ids);
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_while_publishing_publishes_the_rest_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/killed.db", dir.path().display());
    let key = unique("kakao-webhooks-killed-");
    let url = format!("redis://127.0.0.1:6379/0?stream={key}");
    let addr = crate::helpers::free_addr();
    let vars = [
        ("EVENT_STREAM_URL", url.as_str()),
        ("APP_NOTIFY_MAX_PER_SECOND", "5"),
    ];
    let service = crate::helpers::ChildProcess::serve_with(&database, &addr, &vars).await;
    let client = reqwest::Client::new();
    for n in 0..20u32 {
        let body = json!({
            "event": "added", "id": format!("{}", 200 + n), "id_type": "app_user_id",
            "channel_public_id": "_FLX", "updated_at": "2024-01-01T00:00:01Z",
        });
        let response = client
            .post(format!("http://{addr}/kakao/channel"))
            .header(
                "authorization",
                format!("KakaoAK {}", crate::helpers::ADMIN_KEY),
            )
            .header("x-kakao-resource-id", format!("killed-{n}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // At five a second, the kill comes mid-way through the twenty.
    let deadline = Instant::now() + WAIT;
    while xrange("redis://127.0.0.1:6379/0", &key).await.len() < 3 {
        assert!(Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(service); // SIGKILL
    let before = xrange("redis://127.0.0.1:6379/0", &key).await.len();
    assert!(before < 20, "killed before the end ({before} published)");
    let _service = crate::helpers::ChildProcess::serve_with(&database, &addr, &vars).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let mut ids: Vec<String> = xrange("redis://127.0.0.1:6379/0", &key)
            .await
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() == 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 20 after the restart",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A private NATS server with JetStream on disk, so a restart keeps its stream.
fn own_nats(port: u16, store: &std::path::Path) -> crate::helpers::ChildProcess {
    let process = std::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server is installed (Debian's nats-server)");
    crate::helpers::ChildProcess(process)
}

async fn nats_ids(port: u16, stream: &str) -> Option<Vec<String>> {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .ok()?;
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(stream).await.ok()?;
    let count = stream.info().await.ok()?.state.messages;
    let mut ids = Vec::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.ok()?;
        ids.push(message.headers.get("Nats-Msg-Id")?.as_str().to_owned());
    }
    ids.sort();
    Some(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_while_changes_arrive_gets_each_id_once() {
    let port: u16 = crate::helpers::free_addr()
        .rsplit_once(':')
        .unwrap()
        .1
        .parse()
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let nats = own_nats(port, store.path());
    let prefix = unique("kr");
    let name = format!("KAKAO_WEBHOOKS_{}", prefix.to_ascii_uppercase());
    let deadline = Instant::now() + WAIT;
    while async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nats-server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = streaming(&format!("nats://127.0.0.1:{port}/{prefix}"))
        .var("EVENT_STREAM_CREATE", "true")
        .spawn()
        .await;
    channel_change(&app, "1", 1).await;
    channel_change(&app, "2", 2).await;
    delivered_ids(&app, 2).await;
    drop(nats); // SIGKILL
    channel_change(&app, "3", 3).await;
    channel_change(&app, "4", 4).await;
    let _nats = own_nats(port, store.path());
    let ids = delivered_ids(&app, 4).await;
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(published) = nats_ids(port, &name).await {
            let mut unique_ids = published.clone();
            unique_ids.dedup();
            if unique_ids == ids {
                assert_eq!(
                    published, ids,
                    "JetStream dedupes on Nats-Msg-Id: each id once"
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "JetStream: {:?} vs {ids:?}",
            nats_ids(port, &name).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
