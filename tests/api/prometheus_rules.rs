//! `deploy/prometheus/alerts.yml`, checked and unit-tested by promtool
//! (Debian's `prometheus` package). Without promtool on the PATH the test
//! says so and passes, except under CI, where it fails.

use std::process::Command;

#[test]
fn the_prometheus_rules_are_valid_and_pass_their_unit_tests() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install promtool (apt-get install prometheus; see .ci/run)"
        );
        eprintln!("prometheus_rules: skipped; install promtool (apt-get install prometheus)");
        return;
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
