#!/usr/bin/env bash
# cargo-mutants on the code that decides what is accepted and what is
# stored, then a count per run: caught, missed, timeout, unviable. Too slow
# for CI (each mutant is a build and a test run); run it on a developer's
# machine after changing these files, and record the counts in
# BENCHMARKS.md ("Mutation testing"). Needs `cargo install --locked cargo-mutants`.
#
#   tests/mutants/run.sh            both runs
#   tests/mutants/run.sh protocol   only kakao-protocol's (about 15 min here)
#   tests/mutants/run.sh service    only the service's (about 40 min here)
#
# Each run's mutants and outcomes are under target/mutants/<run>/mutants.out
# (missed.txt lists what no test noticed).
set -euo pipefail
cd "$(dirname "$0")/../.."
which="${1:-all}"
out=target/mutants

count() {
  local json="$out/$1/mutants.out/outcomes.json"
  python3 - "$json" "$1" <<'PY'
import json, sys, collections
outcomes = json.load(open(sys.argv[1]))["outcomes"]
counts = collections.Counter(o["summary"] for o in outcomes if o["scenario"] != "Baseline")
print(f"{sys.argv[2]}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
PY
}

# kakao-protocol: the skill limits, the SET claims and event mapping, the
# admin-key webhooks' parameters; its own tests must notice.
if [ "$which" = all ] || [ "$which" = protocol ]; then
  cargo mutants --package kakao-protocol \
    -f crates/kakao-protocol/src/admin_key.rs \
    -f 'crates/kakao-protocol/src/security_event/*.rs' \
    -f 'crates/kakao-protocol/src/skill/limits/*.rs' \
    --output "$out/protocol" -j 2 || true
  count protocol
fi

# The service: store-then-acknowledge (delivery), the SET verifier and what
# each event changes, the admin-key checks; the unit tests and the api tests
# of those families must notice.
if [ "$which" = all ] || [ "$which" = service ]; then
  # Without debug info each mutant's build links the api tests in about
  # half the time.
  CARGO_PROFILE_DEV_DEBUG=0 cargo mutants --package kakao-webhooks \
    -f src/delivery/mod.rs \
    -f src/security_events/verify.rs \
    -f src/security_events/effects.rs \
    -f src/admin_key/mod.rs \
    --output "$out/service" -j 2 -- --lib --test api -- \
    security_events set_policy unlink channel share durability spool hostile_bodies logs || true
  count service
fi
