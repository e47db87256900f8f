//! Driving a workload over keep-alive connections and printing its line.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{Options, Server, Shot, raw_client};

pub struct Report {
    pub requests: usize,
    /// Unexpected answers by status, and failed exchanges by I/O error kind.
    pub errors: BTreeMap<String, usize>,
    pub elapsed: Duration,
    pub latencies_us: Vec<u32>,
    /// The server's CPU time during the run, where it was read.
    pub server_cpu: Option<Duration>,
}

/// Drives `shots` over `options.connections` keep-alive connections (over
/// TLS with `options.tls_connector`; a new connection a request with
/// `options.fresh_connections`, each timed to its open). A workload of one
/// shot repeats it; a longer one sends each shot once.
pub async fn drive(addr: &str, shots: Arc<Vec<Shot>>, expected: u16, options: &Options) -> Report {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..options.connections)
        .map(|_| {
            let (addr, shots, next, errors) =
                (addr.to_owned(), shots.clone(), next.clone(), errors.clone());
            let (tls, fresh) = (options.tls_connector.clone(), options.fresh_connections);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut connection = None;
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= shots.len() && shots.len() > 1 {
                        break;
                    }
                    let shot = &shots[i % shots.len()];
                    let sent = Instant::now();
                    let mut opened = None;
                    let status = match connection.as_mut() {
                        Some(c) => raw_client::Connection::send(c, shot).await,
                        None => match raw_client::Connection::open(&addr, tls.as_ref()).await {
                            Ok(c) => {
                                opened = Some(sent.elapsed());
                                connection.insert(c).send(shot).await
                            }
                            Err(err) => Err(err),
                        },
                    };
                    // With a new connection a request, the time is the
                    // connection's: TCP and, over TLS, the handshake.
                    let took = match (fresh, opened) {
                        (true, Some(opened)) => opened,
                        _ => sent.elapsed(),
                    };
                    latencies.push(took.as_micros().min(u32::MAX as u128) as u32);
                    if fresh {
                        connection = None;
                    }
                    let error = match status {
                        Ok(status) if status == expected => continue,
                        Ok(status) => format!("status {status}"),
                        Err(err) => {
                            connection = None;
                            format!("{:?}", err.kind())
                        }
                    };
                    *errors.lock().unwrap().entry(error).or_default() += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for worker in workers {
        latencies_us.extend(worker.await.unwrap_or_default());
    }
    Report {
        requests: latencies_us.len(),
        errors: std::mem::take(&mut errors.lock().unwrap()),
        elapsed: started.elapsed(),
        latencies_us,
        server_cpu: None,
    }
}

/// [`drive`], with the server's CPU time over the run.
pub async fn drive_server(
    server: &Server,
    shots: Arc<Vec<Shot>>,
    expected: u16,
    options: &Options,
) -> Report {
    let before = server.cpu_time();
    let mut report = drive(&server.addr, shots, expected, options).await;
    report.server_cpu = before.zip(server.cpu_time()).map(|(a, b)| b - a);
    report
}

/// Requests per second of a run.
pub fn rate(report: &Report) -> f64 {
    report.requests as f64 / report.elapsed.as_secs_f64()
}

/// Prints a workload's line; returns its p99 in milliseconds.
pub fn print(name: &str, mut report: Report, rss_kib: Option<u64>) -> f64 {
    report.latencies_us.sort_unstable();
    let at = |q: f64| {
        let n = report.latencies_us.len();
        if n == 0 {
            0.0
        } else {
            report.latencies_us[((n - 1) as f64 * q) as usize] as f64 / 1000.0
        }
    };
    println!(
        "{name:<34} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {:>5}  peak RSS {} MiB",
        rate(&report),
        at(0.50),
        at(0.99),
        report.errors.values().sum::<usize>(),
        rss_kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
    if let Some(cpu) = report.server_cpu.filter(|_| report.requests > 0) {
        println!(
            "  server CPU {:.1} µs a request",
            cpu.as_secs_f64() * 1e6 / report.requests as f64
        );
    }
    if !report.errors.is_empty() {
        println!("  errors: {:?}", report.errors);
    }
    at(0.99)
}
