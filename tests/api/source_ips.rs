//! Only Kakao let in: with `KAKAO_SOURCE_IPS`, Kakao's routes answer only
//! Kakao's addresses (the peer's, or the one a trusted proxy forwards);
//! others get 403, counted as refused. The probes stay open.

use crate::helpers::{TestApp, skill_request};

async fn skill_from(app: &TestApp, forwarded: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/kakao/skill"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(skill_request("안녕", None))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_only_kakaos_addresses_are_answered() {
    let app = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24")
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .spawn()
        .await;
    let (status, body) = skill_from(&app, "203.0.113.9").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_source"), "{body}");
    assert_eq!(skill_from(&app, "198.51.100.7").await.0, 200);
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "the probes stay open"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_webhooks_received_total{family="skill",outcome="refused"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_address_from_an_untrusted_peer_is_not_believed() {
    let app = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24")
        .spawn()
        .await;
    // The peer is loopback, not Kakao, and not a trusted proxy.
    assert_eq!(skill_from(&app, "198.51.100.7").await.0, 403);
    let local = TestApp::builder()
        .var("KAKAO_SOURCE_IPS", "198.51.100.0/24, 127.0.0.1")
        .spawn()
        .await;
    assert_eq!(skill_from(&local, "203.0.113.9").await.0, 200);
}

/// A stand-in for `kapi.kakao.com`'s `GET /v1/system/ips`, recording the
/// `Authorization` header of each call.
struct KakaoIps {
    addr: std::net::SocketAddr,
    authorizations: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl KakaoIps {
    async fn start(answer: serde_json::Value) -> Self {
        use axum::{Json, extract::State, http::HeaderMap, routing::get};
        let authorizations = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let router = axum::Router::new()
            .route(
                "/v1/system/ips",
                get(
                    |State((answer, seen)): State<(
                        serde_json::Value,
                        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
                    )>,
                     headers: HeaderMap| async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        seen.lock().unwrap().push(auth);
                        Json(answer)
                    },
                ),
            )
            .with_state((answer, authorizations.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            addr,
            authorizations,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fetches_kakaos_list_keeps_it_and_refuses_to_start_without_one() {
    let kakao = KakaoIps::start(serde_json::json!({
        "inbound": [
            {"type": "callback", "ips": ["198.51.100.0/24"]},
            {"type": "scrap", "ips": ["203.0.113.0/24"]},
        ],
        "outbound": [{"domain": "kapi.kakao.com", "ips": ["127.0.0.1/32"]}],
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/kept.db", dir.path().display());
    let app = TestApp::kakao()
        .database(&database)
        .var("KAKAO_SOURCE_IPS", "auto")
        .var("KAKAO_API_BASE_URL", kakao.url())
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .spawn()
        .await;
    assert_eq!(
        kakao.authorizations.lock().unwrap().as_slice(),
        [format!("KakaoAK {}", crate::helpers::ADMIN_KEY)],
        "fetched once at start, with the app's admin key"
    );
    // 203.0.113.0/24 is only in the scrap list: Kakao fetching pages, not
    // calling webhooks.
    assert_eq!(skill_from(&app, "203.0.113.9").await.0, 403);
    assert_eq!(skill_from(&app, "198.51.100.7").await.0, 200);
    // The same through RFC 7239's Forwarded header.
    let forwarded = app
        .client
        .post(app.url("/kakao/skill"))
        .header("content-type", "application/json")
        .header("forwarded", "for=198.51.100.8;proto=https")
        .body(skill_request("안녕", None))
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 200);
    let (_, ready) = app.api_get("/ready").await;
    assert_eq!(ready["source_ips"]["networks"], 1, "{ready}");
    app.stop().await.unwrap();

    // Kakao unreachable: the last good list from the database is used.
    let url = kakao.url();
    kakao.server.abort();
    let _ = kakao.server.await;
    let restarted = TestApp::kakao()
        .database(&database)
        .var("KAKAO_SOURCE_IPS", "auto")
        .var("KAKAO_API_BASE_URL", &url)
        .var("TRUSTED_PROXIES", "127.0.0.1, ::1")
        .spawn()
        .await;
    assert_eq!(skill_from(&restarted, "198.51.100.7").await.0, 200);
    assert_eq!(skill_from(&restarted, "203.0.113.9").await.0, 403);
    restarted.stop().await.unwrap();

    // No list ever fetched: start-up is refused, saying what to do.
    let fresh = tempfile::tempdir().unwrap();
    let settings = kakao_webhooks::Settings::from_vars(
        None,
        [
            ("BIND_ADDR", "127.0.0.1:0"),
            (
                "DATABASE_URL",
                format!("sqlite://{}/t.db", fresh.path().display()).as_str(),
            ),
            (
                "SPOOL_DIR",
                fresh.path().join("spool").display().to_string().as_str(),
            ),
            ("KAKAO_APP_ID", crate::helpers::APP_ID),
            ("KAKAO_ADMIN_KEY", crate::helpers::ADMIN_KEY),
            ("KAKAO_SOURCE_IPS", "auto"),
            ("KAKAO_API_BASE_URL", url.as_str()),
        ],
    )
    .unwrap();
    let handler = std::sync::Arc::new(|_req: kakao_webhooks::skill::SkillRequest| async {
        Ok(kakao_webhooks::skill::SkillResponse::text("x"))
    });
    let err = kakao_webhooks::Server::build(settings, handler)
        .await
        .err()
        .expect("refused without a list");
    let message = format!("{err:#}");
    assert!(message.contains("KAKAO_SOURCE_IPS"), "{message}");
    assert!(message.contains("never fetched"), "{message}");
}
