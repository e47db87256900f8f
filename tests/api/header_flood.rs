//! A thousand connections each holding the largest request head the server
//! reads, never finished: the server's memory stays within 64 MiB, and it
//! still answers. A head past the limit is refused, not buffered.
//!
//! The binary under test is the debug build, which idles at about 36 MiB
//! (the release build at about 20), so the bound is on what the flood adds:
//! 28 MiB, what a release server may grow by and stay within 64 MiB.

use std::time::{Duration, Instant};

use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::helpers::{ChildProcess, free_addr, resident_kib};

const CONNECTIONS: usize = 1000;
/// The server reads heads up to 8 KiB (`MAX_HEAD_BYTES`); each client
/// sends just under it, and never the blank line that ends a head.
const HEAD_BYTES: usize = 8 * 1024 - 512;
const GROWTH_LIMIT_KIB: u64 = 28 * 1024;

/// A request head of about `bytes`, in headers of 1 KiB, left unfinished.
fn unfinished_head(bytes: usize) -> Vec<u8> {
    let mut head = b"POST /kakao/skill HTTP/1.1\r\nhost: x\r\n".to_vec();
    let mut n = 0;
    while head.len() + 1024 < bytes {
        head.extend_from_slice(format!("x-pad-{n}: {}\r\n", "a".repeat(1000)).as_bytes());
        n += 1;
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_maximal_heads_stay_within_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let database = format!("sqlite://{}/flood.db", dir.path().display());
    // Long enough to measure before the header timer cuts them.
    let server =
        ChildProcess::serve_with(&database, &addr, &[("HEADER_READ_TIMEOUT_MS", "60000")]).await;
    let before = resident_kib(server.id());

    let head = unfinished_head(HEAD_BYTES);
    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(&head).await.unwrap();
        held.push(stream);
    }
    // The server reads what arrived; sample its memory for a while.
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        peak = peak.max(resident_kib(server.id()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(health.status(), 200, "the server still answers");
    assert!(
        peak.saturating_sub(before) <= GROWTH_LIMIT_KIB,
        "{CONNECTIONS} heads of {HEAD_BYTES} bytes: RSS {before} KiB before, peak {peak} KiB"
    );
    eprintln!(
        "{CONNECTIONS} heads of {HEAD_BYTES} bytes: RSS {before} KiB before, peak {peak} KiB"
    );

    // A head past the limit is answered 431 and the connection closed.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let _ = stream.write_all(&unfinished_head(64 * 1024)).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    drop(held);
}
