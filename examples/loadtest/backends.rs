//! `--compare-postgres URL` (issue 37): the durable workloads on SQLite,
//! then on a fresh database on that PostgreSQL server, in one run, each
//! PostgreSQL figure printed as a ratio to SQLite's beside its target. The
//! server has core 0; PostgreSQL's processes are moved to core 1 for the
//! run, beside the generator (and put back after). Then pgbench's ceiling
//! of the same statements (`pgbench_unlink.sql`: one unlink a transaction,
//! 64 clients), so the reader sees how far the service is from the
//! database's own limit.

use std::{path::Path, process::Command, sync::Arc};

use crate::{
    Options, Server, WORKLOADS, bot_messages, drive::drive_server, drive::print, drive::rate,
    free_addr, pinning, scratch_postgres::ScratchPostgres, sign_sets, unlinks,
};

/// The durable workloads of [`WORKLOADS`]: SETs, unlinks, bot webhooks.
const DURABLE: [usize; 3] = [2, 3, 4];

struct Measured {
    rate: f64,
    p99_ms: f64,
}

pub async fn run(options: &Options, dir: &Path, url: &str) -> anyhow::Result<()> {
    // One address and one dev key for both servers, so one set of signed
    // SETs serves both.
    let addr = free_addr()?;
    let mut measured: Vec<Vec<Measured>> = Vec::new();
    let mut signed = None;
    let mut ceiling = None;
    for postgres in [false, true] {
        let scratch = match postgres {
            true => Some(ScratchPostgres::create(url).await?),
            false => None,
        };
        let database = scratch.as_ref().map_or("compare.db", |s| s.url.as_str());
        let moved = scratch
            .as_ref()
            .and_then(|_| PostgresCores::move_to(url, "1"));
        let server = Server::start(dir, database, &addr, !options.unpinned, &[]).await?;
        if signed.is_none() {
            signed = Some(Arc::new(sign_sets(&addr, dir, options.sets)?));
            pinning::pin_self(1, !options.unpinned);
        }
        let mut runs = Vec::new();
        for index in DURABLE {
            let (name, expected) = WORKLOADS[index];
            let shots = match index {
                2 => signed.clone().unwrap_or_default(),
                3 => Arc::new(unlinks(&addr, 400_000)),
                _ => Arc::new(bot_messages(&addr, 400_000)),
            };
            let report = drive_server(&server, shots, expected, options).await;
            let rate = rate(&report);
            let p99_ms = print(name, report, server.peak_rss_kib());
            runs.push(Measured { rate, p99_ms });
        }
        measured.push(runs);
        drop(server);
        if let Some(scratch) = scratch {
            ceiling = pgbench(&scratch.url, options.seconds);
            scratch.drop().await?;
        }
        drop(moved);
        println!();
    }
    println!(
        "PostgreSQL ÷ SQLite, same run (issue 37 asks ≥ 0.5; bot p99 ≤ 50 ms; SET and unlink p99 ≤ 25 ms)"
    );
    for (i, index) in DURABLE.into_iter().enumerate() {
        let (sqlite, postgres) = (&measured[0][i], &measured[1][i]);
        println!(
            "  {:<50} {:>7.0} / {:>7.0} req/s = {:.2}   PostgreSQL p99 {:.1} ms",
            WORKLOADS[index].0,
            postgres.rate,
            sqlite.rate,
            postgres.rate / sqlite.rate,
            postgres.p99_ms
        );
    }
    match ceiling {
        Some((tps, latency_ms)) => println!(
            "pgbench ceiling, one unlink's statements a transaction, 64 clients: {tps:.0} tx/s, average latency {latency_ms:.1} ms; the service's unlinks: {:.2} of it",
            measured[1][1].rate / tps
        ),
        None => println!("pgbench ceiling: not measured (pgbench not found or failed)"),
    }
    Ok(())
}

/// pgbench's transactions a second and average latency on `url`, pinned to
/// core 1 beside PostgreSQL, as the generator was.
fn pgbench(url: &str, seconds: u64) -> Option<(f64, f64)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/loadtest/pgbench_unlink.sql"
    );
    let output = Command::new("taskset")
        .args([
            "-c", "1", "pgbench", "-n", "-M", "prepared", "-c", "64", "-j", "2",
        ])
        .args(["-T", &seconds.to_string(), "-f", script, url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let number_after = |label: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(label))?;
        line[label.len()..].split_whitespace().next()?.parse().ok()
    };
    Some((number_after("tps = ")?, number_after("latency average = ")?))
}

/// PostgreSQL's processes moved to one core for a run, and put back on
/// every core when dropped. Needs the right to change their affinity (root
/// on these machines); without it the run says so and goes on.
struct PostgresCores {
    pids: Vec<String>,
}

impl PostgresCores {
    fn move_to(url: &str, core: &str) -> Option<Self> {
        let pids = postgres_pids(url);
        let moved = !pids.is_empty() && pids.iter().all(|pid| set_affinity(pid, core));
        println!(
            "PostgreSQL: {}",
            match moved {
                true => format!("{} processes moved to core {core}", pids.len()),
                false => "not moved (cannot read its postmaster.pid or set its affinity)".into(),
            }
        );
        moved.then_some(Self { pids })
    }
}

impl Drop for PostgresCores {
    fn drop(&mut self) {
        let all = format!(
            "0-{}",
            std::thread::available_parallelism().map_or(1, |n| n.get()) - 1
        );
        for pid in &self.pids {
            set_affinity(pid, &all);
        }
    }
}

fn set_affinity(pid: &str, cores: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cores, pid])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The postmaster (first line of `postmaster.pid` in its data directory)
/// and its children: new backends fork from it and inherit its cores.
fn postgres_pids(url: &str) -> Vec<String> {
    let output = Command::new("psql")
        .args([url, "-tAc", "SHOW data_directory"])
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
    let directory = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let Ok(pid_file) = std::fs::read_to_string(Path::new(&directory).join("postmaster.pid")) else {
        return Vec::new();
    };
    let Some(postmaster) = pid_file.lines().next().map(str::to_owned) else {
        return Vec::new();
    };
    let children = Command::new("pgrep")
        .args(["-P", &postmaster])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    std::iter::once(postmaster)
        .chain(children.lines().map(str::to_owned))
        .collect()
}
