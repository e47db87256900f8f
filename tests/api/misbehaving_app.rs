//! The app misbehaving, as the skill handler (`SKILL_UPSTREAM_URL`) and as
//! the notification receiver (`APP_NOTIFY_URL`): an endless body, a 100 MB
//! body, no answer at all, one byte a second, a reset mid-body, and a TLS
//! certificate for another name. Each is bounded in time and memory and
//! classified: the skill gets the fallback text with why, a notification
//! the error it failed with. The service runs as its own process, so its
//! memory is its own.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{
    app_receiver::SIGNING_SECRET,
    helpers::{ADMIN_KEY, API_TOKEN, APP_ID, ChildProcess, free_addr, resident_kib, skill_request},
};

const FALLBACK: &str = "fallback for tests";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Misbehavior {
    EndlessBody,
    HundredMegabytes,
    NeverAnswers,
    DripsAByteASecond,
    ResetsMidBody,
    CertificateForAnotherName,
}

use Misbehavior::*;

const ALL: [Misbehavior; 6] = [
    EndlessBody,
    HundredMegabytes,
    NeverAnswers,
    DripsAByteASecond,
    ResetsMidBody,
    CertificateForAnotherName,
];

/// Answers every connection with `misbehavior`; its URL, and the root
/// certificate (PEM) a client must trust for the TLS case.
async fn misbehaving_app(misbehavior: Misbehavior) -> (String, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (acceptor, root) = if misbehavior == CertificateForAnotherName {
        let (acceptor, root) = tls_for("other.example");
        (Some(acceptor), root)
    } else {
        (None, String::new())
    };
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    // A well-formed answer: only the name is wrong.
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            answer(tls, b"{}").await;
                        }
                    }
                    None => misbehave(tcp, misbehavior).await,
                }
            });
        }
    });
    let url = match misbehavior {
        CertificateForAnotherName => format!("https://localhost:{port}/app"),
        _ => format!("http://127.0.0.1:{port}/app"),
    };
    (url, root)
}

/// Reads the request's head, then answers 200 with `body`.
async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, body: &[u8]) {
    read_head(&mut stream).await;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.flush().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
}

async fn read_head(stream: &mut (impl AsyncRead + Unpin)) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

async fn misbehave(mut tcp: TcpStream, misbehavior: Misbehavior) {
    read_head(&mut tcp).await;
    let chunk = vec![b' '; 64 * 1024];
    match misbehavior {
        EndlessBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if tcp.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            while tcp.write_all(&framed).await.is_ok() {}
        }
        HundredMegabytes => {
            let total = 100 * 1024 * 1024;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n"
            );
            if tcp.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut sent = 0;
            while sent < total && tcp.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
        }
        NeverAnswers => tokio::time::sleep(Duration::from_secs(120)).await,
        DripsAByteASecond => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
            if tcp.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..1000 {
                if tcp.write_all(b" ").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        ResetsMidBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"versi";
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            // SO_LINGER 0: the close is a reset, not an orderly end.
            let _ = tcp.set_zero_linger();
            drop(tcp);
        }
        CertificateForAnotherName => unreachable!("served over TLS"),
    }
}

/// A TLS acceptor with a certificate for `name`, signed by a root of its
/// own; the root as PEM.
fn tls_for(name: &str) -> (tokio_rustls::TlsAcceptor, String) {
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root =
        rcgen::CertifiedIssuer::self_signed(root_params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &root)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        root.pem(),
    )
}

/// The service as its own process, its app at `url` (trusting `root`).
async fn service(vars: &[(&str, &str)], root: &str) -> (ChildProcess, String) {
    let dir = std::env::temp_dir().join(format!(
        "kw-misbehaving-{}",
        free_addr().replace([':', '.'], "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let database = format!("sqlite://{}", dir.join("events.db").display());
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, root).unwrap();
    let roots = roots.display().to_string();
    let addr = free_addr();
    let mut all: Vec<(&str, &str)> = vec![("APP_SIGNING_SECRET", SIGNING_SECRET)];
    if !root.is_empty() {
        // rustls-native-certs reads the roots from here.
        all.push(("SSL_CERT_FILE", &roots));
    }
    all.extend_from_slice(vars);
    let child = ChildProcess::serve_with(&database, &addr, &all).await;
    (child, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_skill_app_gets_the_fallback_text_with_why_in_bounded_time_and_memory() {
    let cases = ALL.map(|misbehavior| async move {
        let (url, root) = misbehaving_app(misbehavior).await;
        let (service, base) = service(
            &[
                ("SKILL_UPSTREAM_URL", &url),
                ("SKILL_SYNC_BUDGET_MS", "2000"),
                ("SKILL_FALLBACK_TEXT", FALLBACK),
            ],
            &root,
        )
        .await;
        let before = resident_kib(service.id());
        let client = reqwest::Client::new();
        // Three at once: what one costs, three would triple.
        let answers = join_all((0..3).map(|_| {
            client
                .post(format!("{base}/kakao/skill"))
                .header("content-type", "application/json")
                .body(skill_request("안녕", None))
                .timeout(Duration::from_secs(30))
                .send()
        }))
        .await;
        let mut why = String::new();
        for answer in answers {
            let answer = answer.unwrap_or_else(|err| panic!("{misbehavior:?}: {err}"));
            assert_eq!(answer.status(), 200, "{misbehavior:?}");
            why = answer.headers()["kakao-webhooks-fallback"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = answer.json().await.unwrap();
            assert_eq!(
                body.pointer("/template/outputs/0/simpleText/text"),
                Some(&Value::from(FALLBACK)),
                "{misbehavior:?}"
            );
        }
        let grown_mib = resident_kib(service.id()).saturating_sub(before) / 1024;
        (misbehavior, why, grown_mib)
    });
    for (misbehavior, why, grown_mib) in join_all(cases).await {
        let expected = match misbehavior {
            EndlessBody | HundredMegabytes => "larger than",
            NeverAnswers | DripsAByteASecond => "did not answer",
            ResetsMidBody => "reading the answer failed",
            CertificateForAnotherName => "cannot reach",
        };
        assert!(why.contains(expected), "{misbehavior:?}: {why}");
        if misbehavior == CertificateForAnotherName {
            assert!(why.contains("certificate not valid for name"), "{why}");
        }
        // 100 MB offered three times; what is kept is the answer limit.
        assert!(grown_mib < 64, "{misbehavior:?}: grew {grown_mib} MiB");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_notification_receiver_is_retried_with_its_error_in_bounded_time() {
    let cases = ALL.map(|misbehavior| async move {
        let (url, root) = misbehaving_app(misbehavior).await;
        let (service, base) = service(
            &[
                ("APP_NOTIFY_URL", &url),
                ("APP_NOTIFY_TIMEOUT_MS", "2000"),
                ("APP_NOTIFY_RETRY_SCHEDULE_MS", "60000"),
            ],
            &root,
        )
        .await;
        let before = resident_kib(service.id());
        let client = reqwest::Client::new();
        let unlink = client
            .request(
                Method::GET,
                format!("{base}/kakao/unlink?app_id={APP_ID}&user_id=7401&referrer_type=UNLINK_FROM_APPS"),
            )
            .header("authorization", format!("KakaoAK {ADMIN_KEY}"))
            .send()
            .await
            .unwrap();
        assert_eq!(unlink.status(), 200, "{misbehavior:?}");
        // The first attempt ends within its timeout, whatever the app does.
        let mut notification = Value::Null;
        for _ in 0..300 {
            let list: Value = client
                .get(format!("{base}/api/notifications"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            notification = list["notifications"][0].clone();
            if notification["attempts"].as_i64() >= Some(1)
                && (notification["status"] != "pending" || !notification["last_error"].is_null())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let grown_mib = resident_kib(service.id()).saturating_sub(before) / 1024;
        (misbehavior, notification, grown_mib)
    });
    for (misbehavior, notification, grown_mib) in join_all(cases).await {
        match misbehavior {
            // A 2xx came first: the app took it (Standard Webhooks); the
            // body is read to a limit, within the timeout, and dropped.
            EndlessBody | HundredMegabytes | DripsAByteASecond | ResetsMidBody => {
                assert_eq!(
                    notification["status"], "delivered",
                    "{misbehavior:?}: {notification}"
                );
                assert_eq!(notification["last_status"], 200, "{notification}");
            }
            NeverAnswers | CertificateForAnotherName => {
                assert_eq!(notification["status"], "pending", "retried: {notification}");
                let error = notification["last_error"].as_str().unwrap_or_default();
                let expected = match misbehavior {
                    NeverAnswers => "timed out",
                    _ => "certificate not valid for name",
                };
                assert!(error.contains(expected), "{misbehavior:?}: {notification}");
            }
        }
        assert!(grown_mib < 64, "{misbehavior:?}: grew {grown_mib} MiB");
    }
}
