//! The ceiling in the same run: `examples/ceiling` (a plain axum hello-world
//! on the same tokio and axum) placed as the server is and driven with
//! the same shots, so each skill workload is printed as a ratio to what the
//! machine and the framework allow at all (issue 17's targets).

use std::{
    path::PathBuf,
    process::{Child, Stdio},
    sync::Arc,
    time::Duration,
};

use crate::{Options, WORKLOADS, drive, free_addr, get, post, print, rate, skill_payload};

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

/// Drives the ceiling with workloads 0 and 1 (those in `service`, the
/// service's req/s by workload index) and prints each ratio.
pub async fn compare(options: &Options, service: &[(usize, f64)]) -> anyhow::Result<()> {
    let addr = free_addr()?;
    let _ceiling = start(&addr, !options.unpinned).await?;
    println!();
    let mut ratios = Vec::new();
    for &(index, service_rate) in service {
        let shots = match index {
            0 => vec![get(&addr, "/kakao/skill")],
            _ => vec![post(
                &addr,
                "/kakao/skill",
                "application/json",
                &skill_payload(),
            )],
        };
        let (name, _) = WORKLOADS[index];
        let report = drive(&addr, Arc::new(shots), 200, options).await;
        let ceiling_rate = rate(&report);
        print(&format!("ceiling: {name}"), report, None);
        ratios.push((name, service_rate / ceiling_rate));
    }
    println!();
    for (name, ratio) in ratios {
        println!("{name:<34} {ratio:>5.2} × the ceiling");
    }
    Ok(())
}
