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
    let mut timed_out = 0;
    for mut stream in stalled {
        let mut answer = vec![0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await;
        let n = read
            .expect("a stalled client is cut off by the request timeout")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 503"), "{text}");
        timed_out += usize::from(n > 0);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(timed_out > 0, "the request timeout answered some with 503");
    // The edge's own answers are counted under the route, like any other.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let counted: f64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"http_requests_total{method="POST",route="/kakao/skill",status="503"}"#,
            )?
            .trim()
            .parse()
            .ok()
        })
        .unwrap_or(0.0);
    assert!(counted >= timed_out as f64, "{counted} < {timed_out}");
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

/// One HTTP/1.1 answer read off a raw connection: its head and body.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// Waits for the server to close `stream`; false if it is still open at `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_trickling_headers_are_cut_off_and_others_still_served() {
    let app = TestApp::builder()
        .var("HEADER_READ_TIMEOUT_MS", 1000)
        .spawn()
        .await;
    // 300 clients send a request line and then a header byte every 200 ms,
    // never finishing: each would hold its connection for ever.
    let addr = app.addr;
    let tricklers: Vec<_> = (0..300)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .unwrap();
                let started = Instant::now();
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => {
                            assert!(matches!(read, Ok(0) | Err(_)), "a trickler got an answer");
                            return started.elapsed();
                        }
                        () = tokio::time::sleep(Duration::from_millis(200)) => {
                            if stream.write_all(b"X").await.is_err() {
                                return started.elapsed();
                            }
                        }
                    }
                    assert!(started.elapsed() < Duration::from_secs(30), "never cut off");
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile a normal client is answered.
    for _ in 0..5 {
        assert_eq!(
            app.skill_json(skill_request("안녕", None)).await["version"],
            "2.0"
        );
    }
    for trickler in tricklers {
        let held = trickler.await.unwrap();
        assert!(held < Duration::from_secs(30), "cut off after {held:?}");
    }
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_kept_until_its_own_timeout() {
    // The idle limit is separate from the header limit, in both directions.
    let app = TestApp::builder()
        .var("HEADER_READ_TIMEOUT_MS", 300)
        .var("KEEP_ALIVE_TIMEOUT_MS", 1500)
        .spawn()
        .await;
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the header limit: still open, and reused.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(request).await.unwrap();
    assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    // Idle past the keep-alive limit: the server closes it.
    assert!(closed_by_server(&mut stream, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn max_connections_caps_open_connections() {
    let app = TestApp::builder().var("MAX_CONNECTIONS", 4).spawn().await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream); // kept alive, holding a slot
    }
    // A fifth waits in the kernel's queue: connected, not served.
    let mut fifth = TcpStream::connect(app.addr).await.unwrap();
    fifth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(800), fifth.read(&mut buf)).await;
    assert!(early.is_err(), "served past MAX_CONNECTIONS");
    // One slot freed: the fifth is served.
    drop(held.pop());
    assert!(read_answer(&mut fifth).await.starts_with("HTTP/1.1 200"));
}
