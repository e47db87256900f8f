//! Where the server and the load generator run. By default each is pinned
//! to a core of its own with taskset (the server to core 0, the generator to
//! core 1), so that runs compare. With `--unpinned` neither is, and the
//! server's runtime takes every core: what a second core gives (issue 17
//! asks at least 1.6 × the pinned figure).

use std::{
    path::Path,
    process::{Command, Stdio},
};

fn has_taskset() -> bool {
    Command::new("taskset").arg("--version").output().is_ok()
}

/// A command running `binary` on core 0 when `pinned` (and taskset exists),
/// and how it runs, for the report.
pub fn server_command(binary: &Path, pinned: bool) -> (Command, &'static str) {
    match (pinned, has_taskset()) {
        (true, true) => {
            let mut command = Command::new("taskset");
            command.args(["-c", "0"]).arg(binary);
            (command, "pinned to core 0")
        }
        (true, false) => (Command::new(binary), "not pinned (no taskset)"),
        (false, _) => (Command::new(binary), "not pinned (--unpinned)"),
    }
}

/// Pins this process to `core` when `pinned` and taskset exists; says how it runs.
pub fn pin_self(core: usize, pinned: bool) {
    let pid = std::process::id().to_string();
    let done = pinned
        && Command::new("taskset")
            .args(["-cp", &core.to_string(), &pid])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    println!(
        "load generator: {}",
        match (done, pinned) {
            (true, _) => format!("pinned to core {core}"),
            (false, true) => "not pinned (no taskset)".into(),
            (false, false) => "not pinned (--unpinned)".into(),
        }
    );
}
