//! A real server on a random port with its own SQLite file, a client, and a
//! local stand-in for Kakao's callback endpoint.

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use kakao_webhooks::{
    Server, Settings,
    bot::BotHandler,
    dev::bot_platform::BotPlatform,
    skill::{SkillHandler, SkillRequest, SkillResponse},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tempfile::TempDir;
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub const APP_ID: &str = "123456";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const API_TOKEN: &str = "test-api-token";

pub struct TestApp {
    pub addr: SocketAddr,
    /// `INTERNAL_BIND_ADDR`'s listener, when the test sets one.
    pub internal_addr: Option<SocketAddr>,
    pub client: reqwest::Client,
    /// The server's own storage handle.
    pub storage: kakao_webhooks::storage::Storage,
    _dir: TempDir,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct TestAppBuilder {
    vars: Vec<(String, String)>,
    handler: Arc<dyn SkillHandler>,
    bot_handler: Option<Arc<dyn BotHandler>>,
    database: Option<String>,
    config: Option<std::path::PathBuf>,
}

impl TestAppBuilder {
    /// Sets a setting as its environment variable would.
    pub fn var(mut self, key: &str, value: impl ToString) -> Self {
        self.vars.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn handler(mut self, handler: impl SkillHandler) -> Self {
        self.handler = Arc::new(handler);
        self
    }

    /// A KakaoTalk bot in place of the demo bot.
    pub fn bot_handler(mut self, handler: impl BotHandler) -> Self {
        self.bot_handler = Some(Arc::new(handler));
        self
    }

    /// Settings from this TOML file too (under the variables).
    pub fn config_file(mut self, path: &std::path::Path) -> Self {
        self.config = Some(path.to_owned());
        self
    }

    /// This database instead of a fresh SQLite file.
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let database = self
            .database
            .unwrap_or_else(|| format!("sqlite://{}/test.db", dir.path().display()));
        let mut vars = vec![
            ("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("DATABASE_URL".to_owned(), database),
            (
                "SPOOL_DIR".to_owned(),
                dir.path().join("spool").display().to_string(),
            ),
        ];
        vars.extend(self.vars);
        let settings = Settings::from_vars(
            self.config.as_deref(),
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .expect("test settings are valid");
        let bot = self
            .bot_handler
            .unwrap_or_else(|| Arc::new(kakao_webhooks::bot::demo::demo_bot()));
        let server = Server::build_with_bot(settings, self.handler, bot)
            .await
            .expect("server builds");
        let addr = server.local_addr();
        let internal_addr = server.internal_addr();
        let storage = server.storage().clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(server.run(shutdown.clone()));
        TestApp {
            addr,
            internal_addr,
            client: reqwest::Client::new(),
            storage,
            _dir: dir,
            shutdown,
            server: Some(server),
        }
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            vars: Vec::new(),
            bot_handler: None,
            database: None,
            config: None,
            handler: Arc::new(|req: SkillRequest| async move {
                Ok(SkillResponse::text(format!(
                    "echo: {}",
                    req.user_request.utterance
                )))
            }),
        }
    }

    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A builder with the Kakao app, its admin key and the API token set.
    pub fn kakao() -> TestAppBuilder {
        Self::builder()
            .var("KAKAO_APP_ID", APP_ID)
            .var("KAKAO_ADMIN_KEY", ADMIN_KEY)
            .var("INTERNAL_API_TOKEN", API_TOKEN)
    }

    /// A request with the admin key, as Kakao sends its webhooks.
    pub fn kakao_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
            .header("user-agent", "KakaoOpenAPI/1.0")
    }

    /// GET on the application API; returns the status and the JSON body.
    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        self.api_call(reqwest::Method::GET, path).await
    }

    /// A call on the application API with the token; the status and the JSON body.
    pub async fn api_call(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Starts a session for `user_id` through the API; returns its id.
    pub async fn login(&self, user_id: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/sessions"))
            .bearer_auth(API_TOKEN)
            .json(&json!({"user_id": user_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["session_id"].as_str().unwrap().to_owned()
    }

    /// Every accepted event, through the API.
    pub async fn events(&self) -> Vec<Value> {
        let (status, body) = self.api_get("/api/events?limit=1000").await;
        assert_eq!(status, 200);
        body["events"].as_array().unwrap().clone()
    }

    /// `path` on the listener that serves it: `/api` and `/metrics` on the
    /// internal one when it is set.
    pub fn url(&self, path: &str) -> String {
        let internal = path.starts_with("/api") || path.starts_with("/metrics");
        match self.internal_addr {
            Some(addr) if internal => format!("http://{addr}{path}"),
            _ => self.public_url(path),
        }
    }

    /// Signs in to the console with the API token: a client that follows no
    /// redirect, and the sign-in answer (its `Set-Cookie` is the session).
    pub async fn console_sign_in(&self) -> (reqwest::Client, reqwest::Response) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let signed_in = client
            .post(self.url("/console/login"))
            .form(&[("token", API_TOKEN)])
            .send()
            .await
            .unwrap();
        (client, signed_in)
    }

    /// A signed-in console session (the API token on the sign-in form).
    pub async fn console_session(&self) -> ConsoleSession {
        let (client, signed_in) = self.console_sign_in().await;
        assert_eq!(signed_in.status(), 303);
        let cookie = signed_in.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        ConsoleSession { client, cookie }
    }

    /// `path` on the public listener (`BIND_ADDR`), whatever it is.
    pub fn public_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_skill(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url("/kakao/skill"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a skill request, expects 200, returns the JSON answer.
    pub async fn skill_json(&self, body: impl Into<reqwest::Body>) -> Value {
        let response = self.post_skill(body).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.take().expect("running").await.unwrap()
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A request fixture from tests/fixtures/skill_requests.
/// A signed-in console: GETs pages with its session cookie.
pub struct ConsoleSession {
    pub client: reqwest::Client,
    pub cookie: String,
}

impl ConsoleSession {
    /// A console page's status and HTML.
    pub async fn page(&self, app: &TestApp, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// A console page's HTML, expecting 200.
    pub async fn html(&self, app: &TestApp, path: &str) -> String {
        let (status, html) = self.page(app, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        html
    }
}

pub fn request_fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/skill_requests/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A skill request body with this utterance (and a callback URL if given).
pub fn skill_request(utterance: &str, callback_url: Option<&str>) -> String {
    let mut body = request_fixture("live_callback");
    body["userRequest"]["utterance"] = json!(utterance);
    match callback_url {
        Some(url) => body["userRequest"]["callbackUrl"] = json!(url),
        None => {
            body["userRequest"]
                .as_object_mut()
                .unwrap()
                .remove("callbackUrl");
        }
    }
    body.to_string()
}

/// Kakao's callback endpoint, played locally: records each POST and answers
/// like Kakao does (`taskId`, `status`).
#[derive(Clone)]
pub struct CallbackReceiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
}

impl CallbackReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            arrived: Arc::default(),
        };
        let app = Router::new()
            .route("/callback/{token}", post(record))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/callback/one-time-token", self.addr)
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` POSTs arrived, or panics after `limit`.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Value> {
        tokio::time::timeout(limit, async {
            loop {
                let notified = self.arrived.notified();
                if self.received().len() >= count {
                    return self.received();
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "expected {count} callback POST(s), got {:?}",
                self.received()
            )
        })
    }
}

async fn record(State(receiver): State<CallbackReceiver>, Json(body): Json<Value>) -> Json<Value> {
    receiver.received.lock().unwrap().push(body);
    receiver.arrived.notify_waiters();
    Json(json!({
        "taskId": "3f1c2d7e-0000-4000-8000-000000000001",
        "status": "SUCCESS",
        "message": "",
        "timestamp": 1700000000
    }))
}

/// The Bot API's REST side (`kapi.kakao.com`), played locally by the dev
/// platform on its own port: records calls, can be scripted to fail.
pub struct KakaoBotApi {
    pub addr: SocketAddr,
    pub platform: BotPlatform,
}

impl KakaoBotApi {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let platform = BotPlatform::new();
        let (app, _templates) = platform.router().into_parts();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, platform }
    }

    /// The value for `KAKAO_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            kakao_webhooks::dev::bot_platform::PREFIX
        )
    }
}

/// A PostgreSQL database of its own, dropped at the end.
pub struct ScratchDatabase {
    admin: PgPool,
    name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create() -> Option<Self> {
        let base = std::env::var("TEST_DATABASE_URL").ok()?;
        let admin = PgPool::connect(&base).await.unwrap();
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!(
            "kw_{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&name);
        Some(Self {
            admin,
            name,
            url: url.to_string(),
        })
    }

    /// Sets `parameter` as the database's default for new sessions, and
    /// ends the open ones so that the pool reconnects with it.
    pub async fn set_default(&self, parameter: &str, value: &str) {
        self.sql(&format!(
            "ALTER DATABASE {} SET {parameter} = {value}",
            self.name
        ))
        .await;
        self.end_sessions().await;
    }

    /// Ends every open connection to the database.
    async fn end_sessions(&self) {
        self.sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        ))
        .await;
    }

    /// Refuses new connections and ends the open ones: the database is gone.
    pub async fn take_away(&self) {
        self.sql(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            self.name
        ))
        .await;
        self.end_sessions().await;
    }

    pub async fn bring_back(&self) {
        self.sql(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        ))
        .await;
    }

    async fn sql(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.admin)
            .await
            .unwrap();
    }

    pub async fn drop(self) {
        self.bring_back().await;
        self.sql(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await;
    }
}

/// An address on loopback that nothing listens on right now.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A child process of the binary, killed (SIGKILL) when dropped.
pub struct ChildProcess(pub std::process::Child);

impl ChildProcess {
    /// Starts the built binary (`serve`) on `database` at `addr`, with the
    /// test Kakao settings, and waits until it answers.
    pub async fn serve(database: &str, addr: &str) -> ChildProcess {
        Self::serve_with(database, addr, &[]).await
    }

    /// [`ChildProcess::serve`] with more settings.
    pub async fn serve_with(database: &str, addr: &str, vars: &[(&str, &str)]) -> ChildProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
            .arg("serve")
            .env_clear()
            .env("BIND_ADDR", addr)
            .env("DATABASE_URL", database)
            .env("KAKAO_APP_ID", APP_ID)
            .env("KAKAO_ADMIN_KEY", ADMIN_KEY)
            .env("INTERNAL_API_TOKEN", API_TOKEN)
            // Its own spool, should the database go away (a test may name one).
            .env(
                "SPOOL_DIR",
                std::env::temp_dir().join(format!(
                    "kakao-webhooks-spool-{}",
                    addr.replace([':', '.'], "-")
                )),
            )
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let service = Self(child);
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client
                .get(format!("http://{addr}/health"))
                .send()
                .await
                .is_ok()
            {
                return service;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the service did not start");
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process's resident memory (VmRSS), in KiB.
pub fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
