//! Hostile connections: stalled clients time out without starving others,
//! and oversized headers are refused.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, skill_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_time_out_without_starving_others() {
    let app = TestApp::builder()
        .var("REQUEST_TIMEOUT_MS", 1000)
        .spawn()
        .await;
    // 50 clients announce a body and then send almost none of it.
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let head = "POST /kakao/skill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    // Everyone else is still served.
    for _ in 0..20 {
        assert_eq!(
            app.skill_json(skill_request("안녕", None)).await["version"],
            "2.0"
        );
    }
    // The stalled ones are answered (503 from the request timeout) or closed.
    let started = Instant::now();
    for mut stream in stalled {
        let mut answer = vec![0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
        let n = read
            .expect("a stalled client is cut off by the request timeout")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 503"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(512 * 1024);
    let answer = app
        .client
        .get(app.url("/kakao/skill"))
        .header("x-padding", huge)
        .send()
        .await;
    match answer {
        Ok(response) => assert_eq!(response.status(), 431, "refused, not served"),
        Err(err) => assert!(
            err.is_request() || err.is_connect() || err.to_string().contains("closed"),
            "{err}"
        ),
    }
    // And the server is still fine.
    assert_eq!(app.get("/health").await.status(), 200);
}
