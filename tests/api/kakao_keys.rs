//! Kakao's side of the account status change webhook, played locally: a key
//! server (sse-configuration + JWKS) that can fail or hang, and SETs signed
//! like Kakao's with the test-only keys in tests/fixtures/keys.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const REST_API_KEY: &str = "8c67b0f5d0e4a1b2c3d4e5f6a7b8c9d0";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Fail,
    Hang,
}

struct KeyServerState {
    keys: Mutex<Vec<Value>>,
    mode: Mutex<Mode>,
    jwks_fetches: AtomicUsize,
    issuer: String,
}

#[derive(Clone)]
pub struct KeyServer {
    state: Arc<KeyServerState>,
}

impl KeyServer {
    /// Serves the public halves of the named fixture keys (`kakao-a`, …).
    pub async fn start(keys: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(KeyServerState {
            keys: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Serve),
            jwks_fetches: AtomicUsize::new(0),
            issuer: format!("http://{addr}"),
        });
        let server = Self { state };
        server.serve_keys(keys);
        let app = Router::new()
            .route("/.well-known/sse-configuration", get(configuration))
            .route("/jwks.json", get(jwks))
            .with_state(Arc::clone(&server.state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    /// The issuer URL, as the SETs' `iss` and `KAKAO_ISSUER` name it.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    pub fn serve_keys(&self, keys: &[&str]) {
        let jwks = keys
            .iter()
            .map(|name| serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).unwrap())
            .collect();
        *self.state.keys.lock().unwrap() = jwks;
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }
}

async fn configuration(State(state): State<Arc<KeyServerState>>) -> Json<Value> {
    Json(json!({
        "issuer": state.issuer,
        "jwks_uri": format!("{}/jwks.json", state.issuer),
        "delivery_methods_supported": "http://schemas.openid.net/secevent/risc/delivery-method/push",
    }))
}

async fn jwks(State(state): State<Arc<KeyServerState>>) -> axum::response::Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Serve => {
            let keys = state.keys.lock().unwrap().clone();
            (
                [("cache-control", "max-age=3600")],
                Json(json!({"keys": keys})),
            )
                .into_response()
        }
        Mode::Fail => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

/// Signs SETs the way Kakao does: RS256, `typ` secevent+jwt, a `kid`.
pub struct Signer {
    key: EncodingKey,
    pub kid: String,
    pub issuer: String,
}

static NEXT_JTI: AtomicUsize = AtomicUsize::new(1);

impl Signer {
    pub fn new(key_fixture: &str, kid: &str, issuer: &str) -> Self {
        let pem = fixture(&format!("{key_fixture}.pem"));
        Self {
            key: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            kid: kid.to_owned(),
            issuer: issuer.to_owned(),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("secevent+jwt".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// An identifier event as Kakao shapes it: the subject is the old email
    /// (no iss/sub in it); a top-level `sub` only when `user` is given.
    pub fn identifier_claims(
        &self,
        event: &str,
        user: Option<&str>,
        old_email: &str,
        new_value: Option<&str>,
    ) -> Value {
        let mut claims = self.claims(event, user.unwrap_or("-"), json!({}), now());
        let body = claims["events"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .next()
            .unwrap();
        body["subject"] = json!({"subject_type": "email", "email": old_email});
        if let Some(new_value) = new_value {
            body["new-value"] = json!(new_value);
        }
        if user.is_none() {
            claims.as_object_mut().unwrap().remove("sub");
        }
        claims
    }

    /// Claims shaped like Kakao's example: one event about `user`, whose
    /// subject sits inside the event; `fields` are the event's own.
    pub fn claims(&self, event: &str, user: &str, fields: Value, iat: i64) -> Value {
        let mut body =
            json!({"subject": {"sub": user, "subject_type": "iss-sub", "iss": self.issuer}});
        if let Value::Object(extra) = fields {
            body.as_object_mut().unwrap().extend(extra);
        }
        json!({
            "iss": self.issuer,
            "aud": REST_API_KEY,
            "sub": user,
            "txm": "92a79799-3ae3-4112-8fe2-921c710daa38",
            "iat": iat,
            "jti": format!("jti-{}", NEXT_JTI.fetch_add(1, Ordering::SeqCst)),
            "events": {event_uri(event): body},
        })
    }
}

/// The full URI of a short event name.
pub fn event_uri(name: &str) -> String {
    let category = match name {
        "tokens-revoked"
        | "user-linked"
        | "user-unlinked"
        | "user-scope-consent"
        | "user-scope-withdraw" => "https://schemas.openid.net/secevent/oauth/event-type/",
        "assurance-level-change" | "credential-change" => {
            "https://schemas.openid.net/secevent/caep/event-type/"
        }
        "user-profile-changed" => "https://schemas.kakao.com/platevent/kakao/event-type/",
        _ => "https://schemas.openid.net/secevent/risc/event-type/",
    };
    format!("{category}{name}")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
