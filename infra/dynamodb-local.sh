#!/usr/bin/env bash
# Runs a command against DynamoDB Local, AWS's own DynamoDB emulator, with moto for every other
# service: a second DynamoDB implementation beside moto's, so the DynamoDB adapter is held to
# two emulators on every CI run.
#   infra/dynamodb-local.sh run CMD...
# CMD sees AWS_ENDPOINT_URL (a moto server of its own), AWS_ENDPOINT_URL_DYNAMODB and
# AWS_ENDPOINT_URL_DYNAMODB_STREAMS (DynamoDB Local, in memory, telemetry off), and exits with
# CMD's status; both servers are stopped by PID.
#
# DynamoDB Local listens on every interface and has no option to bind one. So the servers and
# CMD run in a network namespace of their own that has nothing but loopback (`unshare -n` as
# root; other users get one inside a user namespace, `unshare -rn`): nothing else, on this
# machine or off it, can reach them. CMD must therefore need no network: cargo runs --frozen.
# Needs infra/setup.sh (moto, DynamoDB Local) and Java 17 or later. Logs:
# .local/dynamodb-local-run/{moto,dynamodb-local}.log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.local/dynamodb-local-run"
jar_dir="$root/.local/dynamodb-local"
log() { printf '[dynamodb-local] %s\n' "$*" >&2; }

ddb_pid=""
inside() {
  ip link set lo up
  mkdir -p "$state"
  local moto_url ddb_port=8000
  moto_url="$(MOTO_STATE_DIR="$state" MOTO_PORT=5151 "$root/infra/moto.sh" start)"
  (cd "$jar_dir" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -inMemory -disableTelemetry -port "$ddb_port") >"$state/dynamodb-local.log" 2>&1 &
  ddb_pid=$!
  stop() {
    if [[ -n "$ddb_pid" ]]; then
      kill "$ddb_pid" 2>/dev/null || true
      wait "$ddb_pid" 2>/dev/null || true
    fi
    MOTO_STATE_DIR="$state" "$root/infra/moto.sh" stop
  }
  trap stop EXIT
  local ddb_url="http://127.0.0.1:$ddb_port" up=0
  # Any HTTP answer means it serves; the JVM takes a few seconds to start.
  for _ in $(seq 1 300); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$ddb_url/" 2>/dev/null)" != 000 ]]; then
      up=1
      break
    fi
    kill -0 "$ddb_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $up != 1 ]]; then
    log "DynamoDB Local did not start on $ddb_url:"
    cat "$state/dynamodb-local.log" >&2
    exit 1
  fi
  log "DynamoDB Local $(grep -o -m1 '([0-9.]*)' "$jar_dir/README.txt" | tr -d '()') at $ddb_url, moto at $moto_url (a private network namespace)"
  export AWS_ENDPOINT_URL="$moto_url"
  export AWS_ENDPOINT_URL_DYNAMODB="$ddb_url" AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$ddb_url"
  "$@"
}

case "${1:-}" in
  run)
    shift
    [[ $# -gt 0 ]] || { echo "usage: $0 run CMD..." >&2; exit 2; }
    [[ -f "$jar_dir/DynamoDBLocal.jar" ]] || "$root/infra/setup.sh"
    command -v java >/dev/null || { log "DynamoDB Local needs Java 17 or later on PATH"; exit 1; }
    if [[ "$(id -u)" == 0 ]]; then netns=(unshare -n); else netns=(unshare -rn); fi
    exec "${netns[@]}" -- "$0" __inside "$@"
    ;;
  __inside)
    shift
    inside "$@"
    ;;
  *)
    echo "usage: $0 run CMD..." >&2
    exit 2
    ;;
esac
