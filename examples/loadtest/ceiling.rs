//! The ceiling in the same run: `examples/ceiling` (a plain axum hello-world
//! on the same tokio and axum) placed as the server is and driven with
//! the same shots, so each skill workload is printed as a ratio to what the
//! machine and the framework allow at all (issue 17's targets).
//!
//! The ratio comes from paired rounds: one second on the service, one on the
//! ceiling, [`ROUNDS`] times, and the median of the rounds' ratios. A shared
//! machine's speed drifts over seconds; the ceiling run once after every
//! workload measured that drift as often as the service (0.31 to 0.50 for
//! one binary, BENCHMARKS.md).

use std::{
    path::PathBuf,
    process::{Child, Stdio},
    sync::Arc,
    time::Duration,
};

use crate::{Options, Report, WORKLOADS, drive, free_addr, get, post, print, rate, skill_payload};

/// Paired rounds per skill workload.
pub const ROUNDS: usize = 7;

struct Ceiling(Child);

impl Drop for Ceiling {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(addr: &str, pinned: bool) -> anyhow::Result<Ceiling> {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/ceiling");
    anyhow::ensure!(
        binary.exists(),
        "build the ceiling first: cargo build --release --example ceiling (or pass --no-ceiling)"
    );
    let (mut command, _) = crate::pinning::server_command(&binary, pinned);
    let child = command
        .arg(addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let ceiling = Ceiling(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(ceiling);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the ceiling server did not start")
}

/// For workloads 0 and 1 (those in `workloads`), paired rounds on the
/// service at `service` and on the ceiling; prints the ceiling's line and
/// each workload's median ratio with its range.
pub async fn compare(options: &Options, service: &str, workloads: &[usize]) -> anyhow::Result<()> {
    let addr = free_addr()?;
    let _ceiling = start(&addr, !options.unpinned).await?;
    let round = Options {
        seconds: 1,
        ..options.clone()
    };
    println!();
    let mut ratios = Vec::new();
    for &index in workloads {
        let shots = |addr: &str| match index {
            0 => vec![get(addr, "/kakao/skill")],
            _ => vec![post(
                addr,
                "/kakao/skill",
                "application/json",
                &skill_payload(),
            )],
        };
        let (service_shots, ceiling_shots) = (Arc::new(shots(service)), Arc::new(shots(&addr)));
        let (name, _) = WORKLOADS[index];
        let mut rounds = Vec::with_capacity(ROUNDS);
        let mut ceiling_reports = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let service_rate = rate(&drive(service, service_shots.clone(), 200, &round).await);
            let report = drive(&addr, ceiling_shots.clone(), 200, &round).await;
            rounds.push(service_rate / rate(&report));
            ceiling_reports.push(report);
        }
        print(&format!("ceiling: {name}"), merged(ceiling_reports), None);
        rounds.sort_by(f64::total_cmp);
        ratios.push((name, rounds));
    }
    println!();
    for (name, rounds) in ratios {
        let (low, median, high) = (
            rounds[0],
            rounds[rounds.len() / 2],
            rounds[rounds.len() - 1],
        );
        println!(
            "{name:<34} {median:>5.2} × the ceiling (median of {ROUNDS} paired 1 s rounds; {low:.2}–{high:.2})"
        );
    }
    Ok(())
}

/// The rounds' reports as one.
fn merged(reports: Vec<Report>) -> Report {
    let mut all = Report {
        requests: 0,
        errors: Default::default(),
        elapsed: Default::default(),
        latencies_us: Vec::new(),
        server_cpu: None,
    };
    for report in reports {
        all.requests += report.requests;
        all.elapsed += report.elapsed;
        all.latencies_us.extend(report.latencies_us);
        for (error, n) in report.errors {
            *all.errors.entry(error).or_default() += n;
        }
    }
    all
}
