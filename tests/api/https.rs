//! HTTPS built in, against a real ACME CA (pebble, `tests/api/pebble.rs`):
//! certificates obtained by TLS-ALPN-01 and by HTTP-01, the verification
//! answer served over HTTP/2 to a client that trusts only pebble's root,
//! renewal of short-lived certificates inside the test, two instances on
//! PostgreSQL ending with one certificate, `doctor` passing, and the team's
//! own certificate files swapped while serving.

use std::time::Duration;

use kakao_webhooks::{Server, Settings};

use crate::{
    helpers::{ADMIN_KEY, APP_ID, ScratchDatabase, TestApp, TestAppBuilder},
    pebble::{Pebble, Ports},
};

const DOMAIN: &str = "bot.kakao-webhooks.test";
const VERIFICATION: &str = r#"{"version":"2.0","data":{}}"#;

fn with_acme(builder: TestAppBuilder, pebble: &Pebble, ports: &Ports) -> TestAppBuilder {
    builder
        .var("BIND_ADDR", format!("127.0.0.1:{}", ports.https))
        .var("HTTP_BIND_ADDR", format!("127.0.0.1:{}", ports.http))
        .var("TLS_DOMAINS", DOMAIN)
        .var("ACME_EMAIL", "ops@kakao-webhooks.test")
        .var("ACME_DIRECTORY_URL", &pebble.directory)
        .var("ACME_CA_FILE", pebble.ca_file.display())
        .var("TLS_RELOAD_SECONDS", 1)
}

/// The leaf certificate `client` is served at `url`, once it answers `200`
/// with the verification body (waiting for the certificate to be obtained).
async fn served_certificate(client: &reqwest::Client, url: &str, within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match client.get(url).send().await {
            Ok(response) => {
                let status = response.status();
                let version = response.version();
                let leaf = response
                    .extensions()
                    .get::<reqwest::tls::TlsInfo>()
                    .and_then(|info| info.peer_certificate().map(<[u8]>::to_vec));
                let body = response.text().await.unwrap_or_default();
                assert_eq!(status, 200, "{body}");
                assert_eq!(body, VERIFICATION);
                // HTTP/2 by ALPN.
                assert_eq!(version, reqwest::Version::HTTP_2);
                return leaf.expect("a TLS peer certificate");
            }
            Err(err) => format!("{err:?}"),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "no HTTPS answer at {url} within {within:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn https_url(port: u16, path: &str) -> String {
    format!("https://{DOMAIN}:{port}{path}")
}

fn serial(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.tbs_certificate.raw_serial().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_tls_alpn_01_serves_the_verification_answer_over_https() {
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, None).await;
    let app = with_acme(TestApp::builder(), &pebble, &ports).spawn().await;
    let client = pebble.client(DOMAIN, app.addr);
    served_certificate(
        &client,
        &https_url(ports.https, "/kakao/skill"),
        Duration::from_secs(90),
    )
    .await;

    // The plain listener: /health answers, anything else is sent to https with 308.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let http = format!("http://127.0.0.1:{}", ports.http);
    let health = plain.get(format!("{http}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let moved = plain
        .get(format!("{http}/kakao/skill?x=1"))
        .header("host", format!("{DOMAIN}:{}", ports.http))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 308);
    assert_eq!(
        moved.headers()["location"],
        format!("https://{DOMAIN}:{}/kakao/skill?x=1", ports.https).as_str()
    );
    let ready: serde_json::Value = client
        .get(https_url(ports.https, "/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["tls"]["certificate"], "served", "{ready}");
    assert_eq!(ready["tls"]["names"][0], DOMAIN, "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_http_01_is_obtained_on_the_plain_listener() {
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, None).await;
    let app = with_acme(TestApp::builder(), &pebble, &ports)
        .var("ACME_CHALLENGE", "http-01")
        .spawn()
        .await;
    let client = pebble.client(DOMAIN, app.addr);
    served_certificate(
        &client,
        &https_url(ports.https, "/kakao/skill"),
        Duration::from_secs(90),
    )
    .await;
    let stored = app
        .storage
        .certificate(DOMAIN)
        .await
        .unwrap()
        .expect("the certificate is kept in the database");
    assert!(stored.cert_pem.unwrap().contains("BEGIN CERTIFICATE"));
    assert!(stored.failed_since.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_certificate_is_renewed_and_its_expiry_raises_an_alert() {
    let ports = Ports::pick();
    // Renewal is due two thirds into a 30 s life.
    let pebble = Pebble::start(&ports, Some(30)).await;
    let app = with_acme(TestApp::kakao(), &pebble, &ports)
        .var("KEEP_ALIVE_TIMEOUT_MS", 300_000)
        .spawn()
        .await;
    let client = pebble.client(DOMAIN, app.addr);
    let url = https_url(ports.https, "/kakao/skill");
    let first = served_certificate(&client, &url, Duration::from_secs(90)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        // A new connection each time: a connection keeps the certificate it began with.
        let fresh = pebble.client(DOMAIN, app.addr);
        let now = served_certificate(&fresh, &url, Duration::from_secs(30)).await;
        if serial(&now) != serial(&first) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not renewed within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The connection opened before the renewal was not dropped: it still
    // has the certificate it began with.
    let kept = served_certificate(&client, &url, Duration::from_secs(30)).await;
    assert_eq!(
        serial(&kept),
        serial(&first),
        "the open connection was kept"
    );
    // Every certificate here is within 14 days of expiry: the alert is raised.
    let alerts = app.storage.alerts(100).await.unwrap();
    let expiry = alerts.iter().find(|a| a.name == "tls_expiry");
    assert!(expiry.is_some_and(|a| a.state == "raised"), "{alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_end_up_with_one_certificate() {
    let Some(database) = ScratchDatabase::create().await else {
        eprintln!("skipped: no PostgreSQL at TEST_DATABASE_URL");
        return;
    };
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, None).await;
    // Pebble validates on the first instance's port only; the challenge is
    // in the database, so it answers whichever instance ordered.
    let first = with_acme(TestApp::builder(), &pebble, &ports)
        .database(&database.url)
        .spawn()
        .await;
    let second = with_acme(TestApp::builder(), &pebble, &ports)
        .database(&database.url)
        .var("BIND_ADDR", "127.0.0.1:0")
        .var("HTTP_BIND_ADDR", "")
        .spawn()
        .await;
    let a = served_certificate(
        &pebble.client(DOMAIN, first.addr),
        &https_url(first.addr.port(), "/kakao/skill"),
        Duration::from_secs(90),
    )
    .await;
    let b = served_certificate(
        &pebble.client(DOMAIN, second.addr),
        &https_url(second.addr.port(), "/kakao/skill"),
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(serial(&a), serial(&b), "both serve the one certificate");
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_the_pebble_issued_certificate() {
    let ports = Ports::pick();
    let pebble = Pebble::start(&ports, None).await;
    let app = with_acme(TestApp::builder(), &pebble, &ports)
        .var("KAKAO_APP_ID", APP_ID)
        .var("KAKAO_ADMIN_KEY", ADMIN_KEY)
        .spawn()
        .await;
    let url = https_url(ports.https, "");
    served_certificate(
        &pebble.client(DOMAIN, app.addr),
        &format!("{url}/kakao/skill"),
        Duration::from_secs(90),
    )
    .await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"))
        .arg("doctor")
        .arg(&url)
        .arg("--ca-file")
        .arg(&pebble.issuing_root_file)
        .arg("--resolve")
        .arg(app.addr.to_string())
        .env_clear()
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{report}");
    assert!(report.contains("✓ certificate chain"), "{report}");
    assert!(report.contains("✓ expiry: valid for"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ca_raises_the_certificate_alert_and_start_up_still_serves() {
    // No CA at this address: every attempt fails, and is recorded.
    let unreachable = crate::helpers::free_addr();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("none.pem");
    std::fs::write(
        &ca,
        rcgen::generate_simple_self_signed(vec!["x".into()])
            .unwrap()
            .cert
            .pem(),
    )
    .unwrap();
    let app = TestApp::kakao()
        .var("BIND_ADDR", "127.0.0.1:0")
        .var("HTTP_BIND_ADDR", "")
        .var("TLS_DOMAINS", DOMAIN)
        .var("ACME_DIRECTORY_URL", format!("https://{unreachable}/dir"))
        .var("ACME_CA_FILE", ca.display())
        .var("TLS_RELOAD_SECONDS", 1)
        .var("ALERT_WINDOW_SECONDS", 3)
        .spawn()
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let alerts = app.storage.alerts(100).await.unwrap();
        if alerts
            .iter()
            .any(|a| a.name == "tls_certificate" && a.state == "raised")
        {
            let alert = alerts.iter().find(|a| a.name == "tls_certificate").unwrap();
            assert!(alert.summary.contains(DOMAIN), "{alert:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no alert: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = app.storage.certificate(DOMAIN).await.unwrap().unwrap();
    assert!(stored.cert_pem.is_none());
    assert!(stored.last_error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_configured_https_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_vars(
        None,
        [
            ("BIND_ADDR", "127.0.0.1:0"),
            ("HTTP_BIND_ADDR", ""),
            ("TLS_CERT_FILE", "/nonexistent/cert.pem"),
            ("TLS_KEY_FILE", "/nonexistent/key.pem"),
            (
                "DATABASE_URL",
                &format!("sqlite://{}/t.db", dir.path().display()),
            ),
            ("SPOOL_DIR", &dir.path().join("spool").display().to_string()),
        ],
    )
    .unwrap();
    let handler = std::sync::Arc::new(|_req: kakao_webhooks::skill::SkillRequest| async {
        Ok(kakao_webhooks::skill::SkillResponse::text("x"))
    });
    let err = Server::build(settings, handler)
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("TLS_CERT_FILE"), "{err:#}");
}
