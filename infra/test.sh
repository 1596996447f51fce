#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the locked tooling, starts moto server
# on 127.0.0.1, and runs, each step timed (the table is printed at the end, pass or fail):
#   setup                 infra/setup.sh: every tool from a committed, hashed lock
#   moto patches          infra/moto_server_test.py: the emulator's own patches hold
#   release bootstraps    infra/lambda-artifacts.sh: `sam build`, once, in the background at
#                         the lowest CPU priority; the Lambda steps run those very files
#   build tests           cargo test --no-run, and the benchmarks' tools: every binary, once;
#                         the same for the example team project (examples/invoices)
#   cargo test            unit tests, and end-to-end tests of the handlers and AWS adapters
#                         against moto (a private table and queues per test, created from
#                         template.yaml), the conformance and fault suites on both backends
#   second emulators      infra/emulators.sh: the conformance suites, the submit, worker,
#                         dead-letter and reconciler tests again, DynamoDB on AWS's DynamoDB
#                         Local (npm tarball, sha512 locked; Java 17) and SQS on fauxqs (npm,
#                         locked, on Node 22 from npm) in a loopback-only network namespace, the
#                         rest on moto
#   example project       examples/invoices: its job type's unit tests and its own `invoices
#                         serve` binary end to end on the embedded backend
#   job console           tests/console/console.test.mjs: the page of `accepted serve` in
#                         headless Chromium (playwright-core); a screenshot is kept in
#                         .local/artifacts/console.png
#   template checks       sam validate --lint, cfn-lint, checkov
#   contract documents    redocly lint api/openapi.yaml, asyncapi validate api/asyncapi.yaml
#   schemathesis          tests/contract/schemathesis.sh against the local server
#   supply chain          cargo deny check licenses bans sources (deny.toml)
#   lambda runtime        tests/lambda/invoke.sh: the bootstraps under cargo lambda's Runtime
#                         API emulator, invoked with the fixtures in events/; then the example
#                         project's own bootstraps (examples/invoices/tests/lambda.sh)
#   benchmarks, quick     infra/bench.sh --quick: cold start of the same bootstraps, load and
#                         the criterion hot paths, once each (BENCHMARKS.md; no time asserted)
# (every HTTP answer, queue message, event and webhook body the tests see is validated against
# api/openapi.yaml and api/asyncapi.yaml on the way). moto is stopped (by PID) on exit.
# ACCEPTED_SKIP_SAM=1 skips the SAM CLI: no template checks, and the bootstraps come from
# `cargo lambda build --release` instead of `sam build`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/steps.sh
source "$root/infra/steps.sh"
mkdir -p "$root/.local"
# The example team project (examples/invoices) is a workspace of its own: in accepted's target
# directory it reuses every compiled dependency instead of building the AWS SDK again, debug
# and release.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
# .ci/run passes its own table; run alone, this script keeps and prints one of its own.
own_table=0
if [[ -z "${ACCEPTED_TIMINGS:-}" ]]; then
  export ACCEPTED_TIMINGS="$root/.local/timings.tsv"
  : >"$ACCEPTED_TIMINGS"
  own_table=1
fi
moto_started=0
on_exit() {
  local status=$?
  [[ $moto_started == 1 ]] && "$root/infra/moto.sh" stop
  steps_on_exit "$status" "$own_table"
}
trap on_exit EXIT

step "setup" "$root/infra/setup.sh"

export MOTO_PORT="${MOTO_PORT:-5151}"
# Reuse a moto server this checkout already runs (infra/moto.sh start); otherwise start one
# and stop it on exit.
"$root/infra/moto.sh" running || moto_started=1
AWS_ENDPOINT_URL="$("$root/infra/moto.sh" start)"
export AWS_ENDPOINT_URL
# Fixed, fake credentials: the emulator accepts anything, and no real profile is ever used.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE
# Never reach for the instance metadata service (169.254.169.254) for credentials.
export AWS_EC2_METADATA_DISABLED=true
printf '[test] moto server at %s\n' "$AWS_ENDPOINT_URL" >&2

step "moto patches" "$root/.local/venv/bin/python" "$root/infra/moto_server_test.py"

# The release build is the longest step and almost all CPU, while the test steps mostly wait
# on servers: it runs beside them at the lowest priority and is waited for before the first
# step that needs the bootstraps.
step_background "release bootstraps" "$root/.local/lambda-artifacts.log" "$root/infra/lambda-artifacts.sh"

build_debug() {
  cargo test --workspace --locked --no-run
  # What later steps run: the stack bootstrapper of the Lambda step, the quick benchmarks'
  # tools, and the criterion bench as a test. Never with -p: every build here resolves the
  # features the whole workspace does, so all of them share one compiled graph, the example
  # project's included (tests/tests/build_graph.rs).
  cargo build --workspace --locked --bins
  cargo test --workspace --locked --bench hot_paths --no-run
  cargo test --locked --manifest-path examples/invoices/Cargo.toml --workspace --no-run
}
step "build tests" build_debug
step "cargo test" cargo test --workspace --locked
# The DynamoDB and SQS adapters once more, each on a second implementation of its service:
# AWS's own DynamoDB Local and fauxqs.
second_emulators() {
  "$root/infra/emulators.sh" run --dynamodb-local --fauxqs bash -c 'set -e
    cargo test --frozen --workspace --test conformance --test lifecycle_conformance -- aws_adapters::
    cargo test --frozen --workspace --test submit --test worker --test dead_letters --test reconciler'
}
step "second emulators" second_emulators
step "example project" cargo test --locked --manifest-path examples/invoices/Cargo.toml --workspace

console() {
  ACCEPTED_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/accepted" node "$root/tests/console/console.test.mjs"
}
step "job console" console

if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  template_checks() {
    export SAM_CLI_TELEMETRY=0
    "$root/.local/venv-sam/bin/sam" validate --lint --template template.yaml
    "$root/.local/venv-sam/bin/cfn-lint" template.yaml
    "$root/.local/venv-checkov/bin/checkov" --quiet --compact --file template.yaml \
      --config-file infra/checkov.yaml
    echo "template checks: 3 passed, 0 failed"
  }
  step "template checks" template_checks
fi

contract_documents() {
  REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$root/.local/node/node_modules/.bin/redocly" lint api/openapi.yaml
  ASYNCAPI_METRICS_CONFIG_PATH="$root/.local/asyncapi-analytics.json" SUPPRESS_NO_CONFIG_WARNING=1 \
    "$root/.local/node/node_modules/.bin/asyncapi" validate api/asyncapi.yaml --fail-severity error
}
step "contract documents" contract_documents
step "schemathesis" "$root/tests/contract/schemathesis.sh" "${ACCEPTED_SCHEMATHESIS_EXAMPLES:-25}"
step "supply chain" "$root/.local/bin/cargo-deny" check licenses bans sources

step_wait
export LAMBDA_BOOTSTRAPS="$root/.local/lambda"
lambda_runtime() {
  # The suite leaves hundreds of tables and queues behind; the Lambda step starts from a
  # clean emulator, as a fresh deployment would.
  "$root/.local/venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/moto-api/reset", method="POST"), timeout=30)' "$AWS_ENDPOINT_URL"
  "$root/tests/lambda/invoke.sh"
  "$root/examples/invoices/tests/lambda.sh" "$root/.local/lambda-invoices"
}
step "lambda runtime" lambda_runtime
step "benchmarks, quick" "$root/infra/bench.sh" --quick
printf '\n[test] all tests passed\n' >&2
