//! `kakao-webhooks doctor` against local TLS servers in front of a real
//! service, with certificates made here by rcgen: a good chain, a chain
//! missing its intermediate, a certificate for another name, an expired one,
//! and a plain-HTTP redirect. The binary's own output and exit code are read.

use std::{net::SocketAddr, path::Path, process::Output, sync::Arc};

use axum::{Router, http::header, response::IntoResponse, routing::get};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{ADMIN_KEY, APP_ID, TestApp};

/// A root CA (what `--ca-file` trusts) and an intermediate it signed.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Pki {
    fn new() -> Self {
        let root = CertifiedIssuer::self_signed(
            ca_params("Doctor Test Root"),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("Doctor Test Intermediate"),
            KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        Self { root, intermediate }
    }

    /// A server certificate for `names` from the intermediate, valid until
    /// `days` from now (negative: already expired).
    fn leaf(&self, names: &[&str], days: i64) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(60);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.intermediate).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    fn write_root(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("root.pem");
        std::fs::write(&path, self.root.pem()).unwrap();
        path
    }
}

/// A TLS front (like a reverse proxy) on a random port, sending `chain` and
/// passing every connection through to `upstream`.
async fn tls_front(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    upstream: SocketAddr,
) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut backend) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut backend).await;
                }
            });
        }
    });
    addr
}

/// The service as deployed: Kakao Login webhooks configured, no API token.
async fn service() -> TestApp {
    TestApp::builder()
        .var("KAKAO_APP_ID", APP_ID)
        .var("KAKAO_ADMIN_KEY", ADMIN_KEY)
        .spawn()
        .await
}

async fn doctor(url: &str, ca_file: Option<&Path>) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kakao-webhooks"));
    command.arg("doctor").arg(url);
    if let Some(path) = ca_file {
        command.arg("--ca-file").arg(path);
    }
    let Output { status, stdout, .. } = command.output().await.unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
    )
}

/// A real service behind a TLS front sending a leaf for `names` valid for
/// `days` (with the intermediate when `full_chain`); doctor's report on it.
async fn doctor_behind_tls(names: &[&str], days: i64, full_chain: bool) -> (bool, String) {
    let app = service().await;
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(names, days);
    let mut chain = vec![leaf];
    if full_chain {
        chain.push(pki.intermediate.der().clone());
    }
    let front = tls_front(chain, key, app.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let root = pki.write_root(dir.path());
    doctor(&format!("https://localhost:{}", front.port()), Some(&root)).await
}

fn line<'a>(report: &'a str, mark_and_name: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.starts_with(mark_and_name))
        .unwrap_or_else(|| panic!("no line starting {mark_and_name:?} in:\n{report}"))
}

#[tokio::test]
async fn a_good_deployment_passes_every_check() {
    let (ok, report) = doctor_behind_tls(&["localhost"], 90, true).await;
    assert!(ok, "{report}");
    line(&report, "✓ certificate chain");
    line(&report, "✓ host name");
    line(&report, "✓ expiry");
    line(&report, "✓ GET /kakao/skill:");
    line(&report, "✓ GET /kakao/skill/:");
    line(&report, "✓ admin key required");
    line(&report, "✓ bot webhook");
    line(&report, "✓ application API hidden");
    assert!(!report.contains('✗'), "{report}");
}

#[tokio::test]
async fn a_missing_intermediate_is_named() {
    let (ok, report) = doctor_behind_tls(&["localhost"], 90, false).await;
    assert!(!ok, "{report}");
    let chain = line(&report, "✗ certificate chain");
    assert!(chain.contains("1 certificate(s) sent"), "{chain}");
    assert!(
        chain.contains("intermediate certificate is missing"),
        "{chain}"
    );
    assert!(chain.contains("Doctor Test Intermediate"), "{chain}");
    assert!(report.contains("fullchain.pem"), "{report}");
    // The name and the dates are still judged on their own.
    line(&report, "✓ host name");
    line(&report, "✓ expiry");
}

#[tokio::test]
async fn a_certificate_for_another_name_fails_the_host_name_check() {
    let (ok, report) = doctor_behind_tls(&["other.example"], 90, true).await;
    assert!(!ok, "{report}");
    let name = line(&report, "✗ host name");
    assert!(name.contains("other.example"), "{name}");
    assert!(name.contains("not localhost"), "{name}");
    line(&report, "✓ certificate chain");
}

#[tokio::test]
async fn an_expired_or_expiring_certificate_fails_the_expiry_check() {
    for (days, expect) in [(-2, "has expired"), (5, "expires in")] {
        let (ok, report) = doctor_behind_tls(&["localhost"], days, true).await;
        assert!(!ok, "{report}");
        let expiry = line(&report, "✗ expiry");
        assert!(expiry.contains(expect), "{days} days: {expiry}");
    }
}

#[tokio::test]
async fn a_plain_http_redirect_is_refused() {
    let redirect = Router::new().fallback(get(|| async {
        (
            axum::http::StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, "https://bot.example.com/kakao/skill")],
        )
            .into_response()
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirect).await });

    let (ok, report) = doctor(&format!("http://{addr}"), None).await;
    assert!(!ok, "{report}");
    line(&report, "✗ https");
    let skill = line(&report, "✗ GET /kakao/skill:");
    assert!(skill.contains("301"), "{skill}");
    assert!(
        skill.contains("https://bot.example.com/kakao/skill"),
        "{skill}"
    );
    assert!(
        report.contains("Kakao does not follow redirects"),
        "{report}"
    );
}

#[tokio::test]
async fn an_api_that_answers_from_outside_is_flagged() {
    let app = TestApp::kakao().spawn().await;
    let (ok, report) = doctor(&format!("http://{}", app.addr), None).await;
    assert!(!ok, "{report}");
    let api = line(&report, "✗ application API hidden");
    assert!(api.contains("401"), "{api}");
    // Over plain HTTP the answers themselves are still checked.
    line(&report, "✓ GET /kakao/skill:");
    line(&report, "✓ admin key required");
}

#[tokio::test]
async fn a_bot_webhook_without_its_secret_is_flagged() {
    let open = TestApp::builder().var("KAKAO_BOT_TOKEN", "t").spawn().await;
    let (ok, report) = doctor(&format!("http://{}", open.addr), None).await;
    assert!(!ok);
    assert!(
        line(&report, "✗ bot webhook").contains("anyone can post"),
        "{report}"
    );
    assert!(report.contains("KAKAO_BOT_WEBHOOK_SECRET"), "{report}");

    let guarded = TestApp::builder()
        .var("KAKAO_BOT_TOKEN", "t")
        .var("KAKAO_BOT_WEBHOOK_SECRET", "s")
        .spawn()
        .await;
    let (_, report) = doctor(&format!("http://{}", guarded.addr), None).await;
    assert!(line(&report, "✓ bot webhook").contains("401"), "{report}");
}
