#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md, from a fresh clone. Prints figures; asserts no time.
#   infra/bench.sh            the full run (about 10 minutes after the build)
#   infra/bench.sh --quick    a short run that only proves every benchmark still works (CI)
# Steps:
#   1. cold start   the release bootstraps (infra/lambda-artifacts.sh: sam build's output, as
#                   deployed) and the hello-world floor, each under a Lambda Runtime API
#                   emulator, on moto. LAMBDA_BOOTSTRAPS=<dir> reuses bootstraps already built
#                   (infra/test.sh passes the ones its Lambda step tested).
#   2. throughput   connections against the local server (accepted serve) at 1, 8, 32, 64,
#                   embedded backend and moto: accepted/s, latency to 202, CPU per job,
#                   completions, a lone job's 202-to-completed, beside an axum hello-world
#                   and an fdatasync loop on the same machine
#   3. hot paths    criterion benchmarks of the functions' own work (cargo bench)
# Starts moto (infra/moto.sh) unless this checkout already runs it; stops what it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '\n[bench] %s\n' "$*" >&2; }

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

"$root/infra/setup.sh"
export PATH="$root/.local/venv/bin:$PATH"
if ! "$root/infra/moto.sh" running; then
  trap '"$root/infra/moto.sh" stop' EXIT
fi
AWS_ENDPOINT_URL="$("$root/infra/moto.sh" start)"
export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

if [[ -z "${LAMBDA_BOOTSTRAPS:-}" ]]; then
  log "building the release bootstraps and the floor"
  "$root/infra/lambda-artifacts.sh"
fi
bootstraps="${LAMBDA_BOOTSTRAPS:-$root/.local/lambda}"
target="${CARGO_TARGET_DIR:-$root/target}"

# No -p: a package selection resolves other features than the whole workspace does and would
# compile a second copy of the AWS SDK (tests/tests/build_graph.rs).
log "cold start and per-invoke cost under the Runtime API emulator"
if [[ $quick == 1 ]]; then
  # The driver in the test profile, already built by the tests; the bootstraps are release.
  cargo run -q --locked --bin coldstart -- --bootstraps "$bootstraps" --starts 1 --invokes 5
else
  cargo build -q --locked --release --bin coldstart
  "$target"/release/coldstart --bootstraps "$bootstraps" --starts 3 --invokes 30
fi

log "throughput of the local server (embedded backend, then moto)"
if [[ $quick == 1 ]]; then
  cargo build -q --locked --bin accepted
  cargo run -q --locked --bin load -- --server "$target/debug/accepted" --clients 4 --seconds 1 \
    --lone-jobs 3
  cargo run -q --locked --bin load -- --server "$target/debug/accepted" --clients 4 --seconds 1 \
    --lone-jobs 2 --no-ceilings --backend aws
else
  cargo build -q --locked --release --bin accepted
  cargo build -q --locked --release --bin load
  "$target"/release/load --server "$target"/release/accepted --clients 1,8,32,64 --seconds 5
  "$target"/release/load --server "$target"/release/accepted --clients 32 --seconds 5 \
    --job-ms 100 --lone-jobs 0 --no-ceilings
  "$target"/release/load --server "$target"/release/accepted --clients 16 --seconds 5 \
    --lone-jobs 5 --no-ceilings --backend aws
fi

log "hot paths (criterion)"
if [[ $quick == 1 ]]; then
  # Each benchmark runs once, unoptimised, as a test: it proves they build and run, and
  # measures nothing.
  cargo test -q --locked --bench hot_paths
else
  cargo bench -q --locked --bench hot_paths
fi
log "benchmarks finished"
