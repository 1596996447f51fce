#!/usr/bin/env bash
# Fuzzes the local server from api/openapi.yaml with schemathesis: every generated request
# (valid and invalid) must get an answer that is not a 5xx, whose status, content type,
# headers and body the document allows. Bounded: a fixed seed and N examples per operation.
#
#   tests/contract/schemathesis.sh [max-examples]     (default 25)
#
# Needs .local/venv-schemathesis (infra/setup.sh) and the `accepted` debug binary (cargo
# build --bin accepted, which `cargo test --workspace` already did).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
examples="${1:-25}"
log() { printf '[schemathesis] %s\n' "$*" >&2; }

target_dir="$(cargo metadata --format-version 1 --no-deps | "$root/.local/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
binary="$target_dir/debug/accepted"
[[ -x "$binary" ]] || cargo build --quiet --locked --bin accepted

work="$(mktemp -d)"
port="$("$root/.local/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$binary" serve --port "$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q '"listening"' "$work/server.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
log "accepted serve on 127.0.0.1:$port (pid $server), $examples examples per operation"

# Webhooks (sent by the service, not received) are checked by the contract tests instead.
# One worker: with two, schemathesis runs its workers as threads, and hypothesis describes
# lambdas by parsing their source with `ast`. CPython 3.11 keeps the AST constructor's
# recursion depth in interpreter-wide state, so two threads parsing at once corrupt it and
# one of them fails with "SystemError: AST constructor recursion depth mismatch" (seen on a
# fresh machine, CPython 3.11.7; python/cpython#106905 is the same counter). One thread never
# interleaves two parses. The seed and example count bound the run either way.
"$root/.local/venv-schemathesis/bin/st" run api/openapi.yaml \
  --url "http://127.0.0.1:$port" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" \
  --seed 20261130 \
  --generation-database none \
  --workers 1 \
  --request-timeout 30 \
  --no-color \
  --report junit --report-dir "$root/.local/schemathesis-report" ||
  { log "server log:"; tail -n 50 "$work/server.log"; exit 1; }
