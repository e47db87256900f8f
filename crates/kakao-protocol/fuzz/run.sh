#!/usr/bin/env bash
# Runs every fuzz target of kakao-protocol for SECONDS each (default 30; CI
# uses that, a developer may run longer: `crates/kakao-protocol/fuzz/run.sh 600`).
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags. New inputs
# found go to a scratch copy of each corpus, so the checked-in corpus stays
# minimal; a crash is written under artifacts/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
export RUSTC_BOOTSTRAP=1
targets=(skill_request skill_response security_event set_header bot_event gateway_frame admin_key_params system_ips)
cargo fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed: the input is under crates/kakao-protocol/fuzz/artifacts/$target" >&2
    exit 1
  fi
  runs=$(grep -o "stat::number_of_executed_units: [0-9]*" "$log" | grep -o "[0-9]*$" || echo "?")
  echo "fuzz $target: ${seconds} s, $runs inputs, no crash"
done
