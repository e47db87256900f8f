//! The team's own app, played locally: records every signed request it gets
//! and answers as scripted, and checks Standard Webhooks signatures the way
//! the official verifiers do (independently of the service's code).

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// The secret the tests give the service: `whsec_` + base64 of 32 bytes.
pub const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";

/// One request as the app received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether the signature is the Standard Webhooks one for `secret`.
    pub fn signed_with(&self, secret: &str) -> bool {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", self.id, self.timestamp).as_bytes());
        mac.update(&self.body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.signature.split(' ').any(|one| one == expected)
    }
}

/// What the app answers next.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// A redirect elsewhere (which must not be followed).
    Redirect,
    /// Never answers.
    Hang,
    /// 200 with this JSON body.
    Json(String),
    /// The answer, after a while.
    Late(Duration, Box<Answer>),
    /// This status with `Retry-After: seconds`.
    RetryAfter(u16, u64),
}

#[derive(Clone)]
pub struct AppReceiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    otherwise: Arc<Mutex<Answer>>,
    arrived: Arc<Notify>,
}

impl AppReceiver {
    /// Answers 200 unless scripted otherwise.
    pub async fn start() -> Self {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    pub fn start_on(listener: tokio::net::TcpListener) -> Self {
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            script: Arc::default(),
            otherwise: Arc::new(Mutex::new(Answer::Status(200))),
            arrived: Arc::default(),
        };
        let app = Router::new()
            .fallback(post(record))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}/notify", self.addr)
    }

    /// `path` on this app, for the skill and bot handlers.
    pub fn at(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next answers, in order; then `otherwise`.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>, otherwise: Answer) {
        self.script.lock().unwrap().extend(answers);
        *self.otherwise.lock().unwrap() = otherwise;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests arrived, or panics after `limit`.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
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
            let types: Vec<Value> = self
                .received()
                .iter()
                .map(|r| r.json()["type"].clone())
                .collect();
            panic!("expected {count} request(s) at the app, got {types:?}")
        })
    }
}

async fn record(State(app): State<AppReceiver>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    app.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    });
    app.arrived.notify_waiters();
    let answer = app
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| app.otherwise.lock().unwrap().clone());
    answer_with(answer, app.addr).await
}

async fn answer_with(answer: Answer, addr: SocketAddr) -> Response {
    match answer {
        Answer::Json(body) => ([("content-type", "application/json")], body).into_response(),
        Answer::Late(wait, answer) => {
            tokio::time::sleep(wait).await;
            Box::pin(answer_with(*answer, addr)).await
        }
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::RetryAfter(code, seconds) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Redirect => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", format!("http://{addr}/elsewhere"))],
        )
            .into_response(),
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
