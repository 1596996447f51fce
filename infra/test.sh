#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tooling, starts moto server on
# 127.0.0.1, and runs
#   1. cargo test --workspace      unit tests, and end-to-end tests of the handlers and AWS
#                                  adapters against moto (a private table and queues per test,
#                                  created from template.yaml)
#   2. the job console           tests/console/console.test.mjs: the page of `accepted serve`
#                                  in headless Chromium (playwright-core); a screenshot is kept
#                                  in .local/artifacts/console.png
#   3. tests/lambda/invoke.sh      the release bootstraps under cargo lambda's Runtime API
#                                  emulator, invoked with the fixtures in events/
#                                  (every HTTP answer, queue message, event and webhook body the
#                                  tests see is validated against api/openapi.yaml and
#                                  api/asyncapi.yaml on the way)
#   4. benchmarks, quick           infra/bench.sh --quick: cold start under the Runtime API
#                                  emulator and the criterion hot paths, once each (BENCHMARKS.md)
#   5. contract documents          redocly lint of api/openapi.yaml, asyncapi validate of
#                                  api/asyncapi.yaml, schemathesis against the local server
#   6. supply chain                cargo deny check licenses bans sources (deny.toml)
#   7. template checks             sam validate --lint, cfn-lint, checkov, sam build
# moto is stopped (by PID) on exit. Set ACCEPTED_SKIP_SAM=1 to skip step 7.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '\n[test] %s\n' "$*" >&2; }

"$root/infra/setup.sh"

export MOTO_PORT="${MOTO_PORT:-5151}"
# Reuse a moto server this checkout already runs (infra/moto.sh start); otherwise start one
# and stop it on exit.
if ! "$root/infra/moto.sh" running; then
  trap '"$root/infra/moto.sh" stop' EXIT
fi
AWS_ENDPOINT_URL="$("$root/infra/moto.sh" start)"
export AWS_ENDPOINT_URL
# Fixed, fake credentials: the emulator accepts anything, and no real profile is ever used.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE
# Never reach for the instance metadata service (169.254.169.254) for credentials.
export AWS_EC2_METADATA_DISABLED=true
log "moto server at $AWS_ENDPOINT_URL"

log "cargo test --workspace"
cargo test --workspace --locked

log "job console: the local server's page in headless Chromium"
ACCEPTED_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/accepted" node "$root/tests/console/console.test.mjs"

# The suite leaves hundreds of tables and queues behind; the Lambda step starts from a clean
# emulator, as a fresh deployment would.
"$root/.local/venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/moto-api/reset", method="POST"), timeout=30)' "$AWS_ENDPOINT_URL"
log "Lambda runtime: bootstraps under cargo lambda, invoked with events/"
"$root/tests/lambda/invoke.sh"

log "benchmarks, quick: every benchmark still builds and runs (figures only, nothing timed is asserted)"
"$root/infra/bench.sh" --quick

log "contract documents: redocly lint api/openapi.yaml, asyncapi validate api/asyncapi.yaml"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$root/.local/node/node_modules/.bin/redocly" lint api/openapi.yaml
ASYNCAPI_METRICS_CONFIG_PATH="$root/.local/asyncapi-analytics.json" SUPPRESS_NO_CONFIG_WARNING=1 \
  "$root/.local/node/node_modules/.bin/asyncapi" validate api/asyncapi.yaml --fail-severity error
log "contract: schemathesis against the local server, driven by api/openapi.yaml"
"$root/tests/contract/schemathesis.sh" "${ACCEPTED_SCHEMATHESIS_EXAMPLES:-25}"

log "supply chain: cargo deny check licenses bans sources"
"$root/.local/bin/cargo-deny" check licenses bans sources

if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  log "template: sam validate --lint, cfn-lint, checkov, sam build"
  export SAM_CLI_TELEMETRY=0 PATH="$root/.local/venv-sam/bin:$PATH"
  sam validate --lint --template template.yaml
  cfn-lint template.yaml
  "$root/.local/venv-checkov/bin/checkov" --file template.yaml --config-file infra/checkov.yaml
  sam build --template template.yaml >"$root/.local/sam-build.log" 2>&1 ||
    { cat "$root/.local/sam-build.log"; exit 1; }
  echo "template checks: 4 passed, 0 failed"
fi
log "all tests passed"
