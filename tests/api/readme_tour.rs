//! The README's five-minute tour, run as written: every command between
//! `<!-- tour -->` and `<!-- /tour -->` is `cargo run --release -- ARGS`,
//! run here as the built binary with the same ARGS. The first serves; every
//! other must get Kakao's approval from `simulate`. Only the address and the
//! data folder are the test's own (`BIND_ADDR`, `DEV_DIR`, `DATABASE_URL`),
//! so the tour's commands stay what a newcomer types.

use crate::dev_mode::{simulate_accepted, start_dev_server};
use crate::helpers::free_addr;

const RUN: &str = "cargo run --release -- ";

/// The tour's commands, as the arguments after `cargo run --release --`.
fn tour() -> Vec<Vec<String>> {
    let readme = include_str!("../../README.md");
    let start = readme.find("<!-- tour -->").expect("README.md has no tour");
    let end = readme
        .find("<!-- /tour -->")
        .expect("the tour is not closed");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        let line = line.split("  #").next().unwrap().trim();
        if !in_sh || line.is_empty() {
            continue;
        }
        let args = line
            .strip_prefix(RUN)
            .unwrap_or_else(|| panic!("a tour command that is not `{RUN}…`: {line}"));
        commands.push(args.split_whitespace().map(str::to_owned).collect());
    }
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_readme_tour_works_as_written() {
    let commands = tour();
    assert!(commands.len() > 3, "the tour is too short: {commands:?}");
    let (serve, simulations) = commands.split_first().unwrap();
    assert_eq!(serve, &["serve", "--dev"], "the tour starts the dev server");
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let _server = start_dev_server(dir.path(), &addr).await;
    for args in simulations {
        assert_eq!(args[0], "simulate", "{args:?}");
        let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        simulate_accepted(dir.path(), &addr, &args).await;
    }
}
