#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 30, as CI does; give it
# more on a developer's machine: `fuzz/run.sh 600`): kakao-protocol's
# parsers (crates/kakao-protocol/fuzz) and the service's own (fuzz/: the
# settings' value parsers). `fuzz/run.sh 30 protocol` or `... service` runs
# one crate's. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags. New
# inputs found go to a scratch copy of each corpus, so the checked-in corpus
# stays minimal; a crash is written under that crate's fuzz/artifacts/ and
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
which="${2:-all}"
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# fuzz_crate <folder holding fuzz/> "<cargo fuzz build options>" <target>...
fuzz_crate() {
  local root="$1"
  local -a options
  read -r -a options <<<"$2"
  shift 2
  (cd "$root" && cargo fuzz build "${options[@]}")
  for target in "$@"; do
    mkdir -p "$scratch/$target"
    local log="$scratch/$target.log"
    if ! (cd "$root" && cargo fuzz run "${options[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1) >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "fuzz target $target failed: the input is under $root/fuzz/artifacts/$target" >&2
      exit 1
    fi
    local runs
    runs=$(grep -o "stat::number_of_executed_units: [0-9]*" "$log" | grep -o "[0-9]*$" || echo "?")
    echo "fuzz $target: ${seconds} s, $runs inputs, no crash"
  done
}

if [ "$which" = all ] || [ "$which" = protocol ]; then
  fuzz_crate crates/kakao-protocol "" skill_request skill_response security_event set_header \
    bot_event gateway_frame admin_key_params system_ips
fi
if [ "$which" = all ] || [ "$which" = service ]; then
  # The whole service (sqlx, rustls, aws-lc, axum) is in this build: with
  # AddressSanitizer and optimisation it took 13 min on CI's machine. The
  # settings' parsers are safe Rust, so it is built unoptimised and without
  # a sanitizer; coverage guidance, overflow checks and the target's own
  # properties stay.
  fuzz_crate . "--dev --sanitizer none" settings
fi
