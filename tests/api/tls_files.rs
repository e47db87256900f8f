//! The team's own certificate (`TLS_CERT_FILE`, `TLS_KEY_FILE`), made here
//! by rcgen: served over HTTPS, swapped while the server runs (new
//! connections get the new one, without a restart), and a broken pair
//! written in its place leaves the previous certificate served.

use std::{path::Path, time::Duration};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::helpers::TestApp;

const DOMAIN: &str = "files.kakao-webhooks.test";

fn root() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Files Test Root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A new leaf for DOMAIN under `root`, written to the two files; its serial.
fn write_leaf(root: &CertifiedIssuer<'static, KeyPair>, dir: &Path) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![DOMAIN.to_owned()])
        .unwrap()
        .signed_by(&key, root)
        .unwrap();
    // The key first, then the chain: the watcher may read between the two.
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        format!("{}{}", cert.pem(), root.pem()),
    )
    .unwrap();
    serial(cert.der())
}

fn serial(der: &[u8]) -> Vec<u8> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    cert.tbs_certificate.raw_serial().to_vec()
}

async fn served_serial(root: &CertifiedIssuer<'static, KeyPair>, app: &TestApp) -> Option<Vec<u8>> {
    // A new client each time: a pooled connection keeps its first certificate.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root.pem().as_bytes()).unwrap()])
        .resolve(DOMAIN, app.addr)
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://{DOMAIN}:{}/kakao/skill", app.addr.port());
    let response = client.get(url).send().await.ok()?;
    assert_eq!(response.status(), 200);
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    info.peer_certificate().map(serial)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_certificate_files_are_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    let first = write_leaf(&root, dir.path());
    let app = TestApp::builder()
        .var("TLS_CERT_FILE", dir.path().join("cert.pem").display())
        .var("TLS_KEY_FILE", dir.path().join("key.pem").display())
        .var("BIND_ADDR", "127.0.0.1:0")
        .var("HTTP_BIND_ADDR", "")
        .var("TLS_RELOAD_SECONDS", 1)
        .spawn()
        .await;
    assert_eq!(served_serial(&root, &app).await, Some(first.clone()));

    // A broken pair: the previous certificate stays served.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await; // two reload rounds pass
    assert_eq!(served_serial(&root, &app).await, Some(first.clone()));

    let second = write_leaf(&root, dir.path());
    assert_ne!(first, second);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while served_serial(&root, &app).await.as_ref() != Some(&second) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not served within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_not_spoken_on_the_https_listener() {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    write_leaf(&root, dir.path());
    let app = TestApp::kakao()
        .var("TLS_CERT_FILE", dir.path().join("cert.pem").display())
        .var("TLS_KEY_FILE", dir.path().join("key.pem").display())
        .var("BIND_ADDR", "127.0.0.1:0")
        .var("HTTP_BIND_ADDR", "")
        .spawn()
        .await;
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health", app.addr))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // HTTP/1.1 by ALPN too, for clients that do not speak HTTP/2.
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(root.pem().as_bytes()).unwrap()])
        .resolve(DOMAIN, app.addr)
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://{DOMAIN}:{}/health", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.status(), 200);
    // The console's session cookie is Secure over the service's own TLS.
    let signed_in = client
        .post(format!(
            "https://{DOMAIN}:{}/console/login",
            app.addr.port()
        ))
        .form(&[("token", crate::helpers::API_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_in_the_tls_handshake_is_cut_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    let first = write_leaf(&root, dir.path());
    let app = TestApp::builder()
        .var("TLS_CERT_FILE", dir.path().join("cert.pem").display())
        .var("TLS_KEY_FILE", dir.path().join("key.pem").display())
        .var("BIND_ADDR", "127.0.0.1:0")
        .var("HTTP_BIND_ADDR", "")
        .var("HEADER_READ_TIMEOUT_MS", 500)
        .var("MAX_CONNECTIONS", 40)
        .spawn()
        .await;
    // 30 connections: some say nothing, some send half a ClientHello.
    let mut stalled = Vec::new();
    for i in 0..30 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    assert_eq!(
        served_serial(&root, &app).await,
        Some(first),
        "others are served"
    );
    for mut stream in stalled {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut byte)).await;
        // Closed (0 bytes or a reset), never left open.
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a stalled handshake was not cut: {read:?}"
        );
    }
}
