//! `--soak MINUTES`: a mixed workload for a long while, with notifications
//! on, watching for what grows. Skill POSTs, distinct unlinks, distinct
//! SETs, distinct bot messages and API reads, paced at `--soak-rate`
//! requests a second over 16 connections; the app receiving the
//! notifications is a local one answering 204 at once. Every 10 s it samples
//! the server's RSS, its open file descriptors, the app outbox's pending
//! rows and the p99 of those 10 s, then prints the slope of each after
//! warm-up (the first fifth, at least a minute) and p99 at the end against
//! p99 after warm-up. The goal (issue 36): flat, and within 1.2x.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Options, Server, Shot, get, post, raw_client, sign_sets, skill_payload};

/// The server's settings for a soak: notifications on, to a local app.
pub const API_TOKEN: &str = "loadtest-soak-api-token-0123456789";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A local app that answers every notification 204 at once; its URL.
pub async fn notified_app() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    // A whole request (head and content-length body), then 204.
                    while let Some(end) = request_end(&pending) {
                        pending.drain(..end);
                        let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                        if tcp.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}/notifications"))
}

/// Where the first whole request in `bytes` ends, if one is there.
fn request_end(bytes: &[u8]) -> Option<usize> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let length = String::from_utf8_lossy(&bytes[..head])
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (bytes.len() >= head + length).then_some(head + length)
}

pub fn server_vars(app_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("APP_NOTIFY_URL", app_url.to_owned()),
        ("APP_SIGNING_SECRET", SECRET.to_owned()),
        ("INTERNAL_API_TOKEN", API_TOKEN.to_owned()),
        // Above what the mix changes a second: the outbox keeps up or it is a finding.
        ("APP_NOTIFY_MAX_PER_SECOND", "1000".to_owned()),
    ]
}

/// One sample.
struct Sample {
    minute: f64,
    rss_mib: f64,
    fds: f64,
    pending: f64,
    p99_ms: f64,
    requests: usize,
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn fds(pid: u32) -> f64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(f64::NAN, |dir| dir.count() as f64)
}

/// The app outbox's pending rows, from `/metrics`.
async fn pending(addr: &str) -> f64 {
    let Ok(response) = reqwest::get(format!("http://{addr}/metrics")).await else {
        return f64::NAN;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find(|l| {
            l.starts_with("kakao_outbox_rows{")
                && l.contains(r#"outbox="app""#)
                && l.contains(r#"status="pending""#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let points: Vec<_> = points.iter().filter(|(_, y)| y.is_finite()).collect();
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

/// The mix: which shot the `i`-th request is.
fn shot(addr: &str, i: usize, sets: &[Shot], skill: &Shot) -> Option<Shot> {
    Some(match i % 10 {
        0..=3 => skill.clone(),
        4 | 5 => get(
            addr,
            &format!(
                "/kakao/unlink?app_id={}&user_id={}&referrer_type=UNLINK_FROM_APPS",
                kakao_webhooks::dev::DEV_APP_ID,
                20_000_000 + i
            ),
        ),
        6 | 7 => sets.get(i / 5)?.clone(),
        8 => crate::bot_messages_from(addr, i, 1).pop()?,
        _ => raw_client::encode(
            "GET",
            "/api/events?limit=20",
            addr,
            &format!("Bearer {API_TOKEN}"),
            None,
        ),
    })
}

pub async fn run(
    options: &Options,
    dir: &std::path::Path,
    server: Server,
    minutes: u64,
) -> anyhow::Result<()> {
    let addr = server.addr.clone();
    let pid = server.child.id();
    let rate = options.soak_rate.max(1);
    let total = Duration::from_secs(minutes * 60);
    // A fifth of the requests are SETs; each is signed ahead.
    let sets = Arc::new(sign_sets(
        &addr,
        dir,
        (rate as u64 * minutes * 60 / 5 + 100) as usize,
    )?);
    crate::pinning::pin_self(1, !options.unpinned);
    let skill = Arc::new(post(
        &addr,
        "/kakao/skill",
        "application/json",
        &skill_payload(),
    ));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let connections = 16;
    let interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, sets, skill, latencies, errors, sent) = (
                addr.clone(),
                sets.clone(),
                skill.clone(),
                latencies.clone(),
                errors.clone(),
                sent.clone(),
            );
            tokio::spawn(async move {
                let mut connection: Option<raw_client::Connection> = None;
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while started.elapsed() < total {
                    tick.tick().await;
                    let i = sent.fetch_add(1, Ordering::Relaxed);
                    let Some(shot) = shot(&addr, i, &sets, &skill) else {
                        continue;
                    };
                    let at = Instant::now();
                    let status = match connection.as_mut() {
                        Some(c) => c.send(&shot).await,
                        None => match raw_client::Connection::open(&addr, None).await {
                            Ok(c) => connection.insert(c).send(&shot).await,
                            Err(err) => Err(err),
                        },
                    };
                    let micros = at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    latencies.lock().unwrap().push(micros);
                    match status {
                        Ok(200..=299) => {}
                        Ok(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            connection = None;
                        }
                    }
                }
            })
        })
        .collect();
    println!(
        "soak: {minutes} min at {rate} req/s (4 skill : 2 unlink : 2 SET : 1 bot : 1 API read), notifications on\n"
    );
    println!(
        "{:>6} {:>9} {:>6} {:>9} {:>9} {:>9}",
        "min", "RSS MiB", "fds", "pending", "p99 ms", "req/s"
    );
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    while started.elapsed() < total {
        tick.tick().await;
        let mut window = std::mem::take(&mut *latencies.lock().unwrap());
        window.sort_unstable();
        let p99 = window
            .get(((window.len().max(1) - 1) as f64 * 0.99) as usize)
            .map_or(f64::NAN, |us| *us as f64 / 1000.0);
        let sample = Sample {
            minute: started.elapsed().as_secs_f64() / 60.0,
            rss_mib: rss_mib(pid),
            fds: fds(pid),
            pending: pending(&addr).await,
            p99_ms: p99,
            requests: window.len(),
        };
        println!(
            "{:>6.1} {:>9.1} {:>6.0} {:>9.0} {:>9.2} {:>9.0}",
            sample.minute,
            sample.rss_mib,
            sample.fds,
            sample.pending,
            sample.p99_ms,
            sample.requests as f64 / 10.0
        );
        samples.push(sample);
    }
    for worker in workers {
        let _ = worker.await;
    }
    let warm_up = (minutes as f64 / 5.0).max(1.0);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.minute >= warm_up).collect();
    let line = |f: fn(&Sample) -> f64| -> Vec<(f64, f64)> {
        after.iter().map(|s| (s.minute, f(s))).collect()
    };
    let p99_start = after.iter().take(3).map(|s| s.p99_ms).sum::<f64>() / 3.0;
    let p99_end = after.iter().rev().take(3).map(|s| s.p99_ms).sum::<f64>() / 3.0;
    println!(
        "\nafter {warm_up:.0} min of warm-up, slopes per minute: RSS {:+.3} MiB, fds {:+.3}, pending {:+.2}, p99 {:+.3} ms",
        slope(&line(|s| s.rss_mib)),
        slope(&line(|s| s.fds)),
        slope(&line(|s| s.pending)),
        slope(&line(|s| s.p99_ms)),
    );
    println!(
        "p99 at the end / p99 after warm-up = {:.2} (mean of three samples each; the goal is at most 1.2); {} requests, {} errors",
        p99_end / p99_start,
        sent.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slope_is_the_least_squares_line() {
        assert_eq!(super::slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), 2.0);
        assert_eq!(super::slope(&[(0.0, 1.0), (1.0, 1.0)]), 0.0);
        assert!(super::slope(&[(0.0, 1.0)]).is_nan());
    }

    #[test]
    fn a_request_ends_after_its_body() {
        let request = b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcPOST";
        assert_eq!(super::request_end(request), Some(request.len() - 4));
        assert_eq!(
            super::request_end(b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nab"),
            None
        );
    }
}
