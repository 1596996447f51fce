#!/usr/bin/env bash
# Runs the integration suite (the same tests CI runs on moto) against LocalStack in Docker.
#   infra/localstack/test.sh            start LocalStack, run the suite, stop LocalStack
#   KEEP_LOCALSTACK=1 infra/localstack/test.sh   leave it running afterwards
# Each test creates its own table and queues from template.yaml, so no bootstrap step is
# needed here; `accepted-bootstrap` does the same for manual use (see the README).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
compose=(docker compose -f "$here/compose.yaml")
"${compose[@]}" up -d --wait
[[ "${KEEP_LOCALSTACK:-0}" == 1 ]] || trap '"${compose[@]}" down' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:4566
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE
# Never reach for the instance metadata service (169.254.169.254) for credentials.
export AWS_EC2_METADATA_DISABLED=true
cargo test -p accepted-tests
