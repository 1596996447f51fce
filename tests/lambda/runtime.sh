# Sourced by the Lambda runtime checks (tests/lambda/invoke.sh, examples/invoices/tests/lambda.sh):
# a private stack on the moto server (accepted-bootstrap, from template.yaml), `cargo lambda
# watch --only-lambda-apis` serving the Runtime and Invoke APIs, and each release bootstrap
# run as its own process polling its function's runtime path, as Lambda runs it.
#
#   runtime_start DIR   starts the functions of "${functions[@]}" from DIR/<name>/bootstrap
#   invoke F FILE       one invocation of F with the event in FILE; the answer on stdout
#   step TEXT           names one checked scenario (set -e stops the script at a failure)
#   py ARGS <<'PY'      a Python check, with boto3, against the same emulator
# After runtime_start: $work (a private directory), $prefix, $table, $queue_url, $dlq_url,
# $bus, $webhook_dlq_url. The caller sets $root and functions=(...) first, and may set
# job_types_dir (the declarations the functions read, default $root/job-types). Everything started
# is stopped (by PID) on exit; a failed check first prints what the functions logged.
venv="$root/.local/venv"
export PATH="$venv/bin:$PATH"
export AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
port="${LAMBDA_PORT:-9151}"
work="$(mktemp -d)"
pids=()
checks=0
runtime_cleanup() {
  local status=$?
  if [[ $status -ne 0 && -d "$work" ]]; then
    for out in "$work"/*.out; do
      [[ -f "$out" ]] && { echo "--- $(basename "$out")"; head -c 2000 "$out"; echo; } >&2
    done
    for log_file in "$work"/watch.log "$work"/functions.log; do
      [[ -f "$log_file" ]] && { echo "--- $(basename "$log_file") (last 80 lines)"; tail -n 80 "$log_file"; } >&2
    done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap runtime_cleanup EXIT
log() { printf '[lambda] %s\n' "$*" >&2; }
py() { "$venv/bin/python" - "$@"; }
step() { checks=$((checks + 1)); log "$*"; }

runtime_start() { # bootstraps-dir
  local bootstraps="$1" f line
  for f in "${functions[@]}"; do
    [[ -s "$bootstraps/$f/bootstrap" ]] || { log "missing $bootstraps/$f/bootstrap"; exit 1; }
  done
  step "the bootstraps unwind panics (Cargo.toml), so the worker fails one panicking job, not its batch"
  for f in "${functions[@]}"; do
    # Only the unwinding panic runtime (panic_unwind) carries this message; zig links the
    # unwinder statically, so there is no dynamic symbol to look for.
    grep -q 'Rust panics must be rethrown' "$bootstraps/$f/bootstrap" ||
      { log "$f was built with panic = abort"; exit 1; }
  done

  prefix="lambda$(date +%s)$$"
  (cd "$root" && cargo run -q --locked --bin accepted-bootstrap -- --prefix "$prefix" --format dotenv) >"$work/env"
  {
    echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
    echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
    echo "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
    echo "AWS_REGION=$AWS_REGION"
  } >>"$work/env"
  # Lambda mounts the JobTypesLayer at /opt; here its directory stands in (job_types_dir,
  # default job-types/, the layer's ContentUri).
  sed -i "s|^JOB_TYPES_FILE=/opt/|JOB_TYPES_FILE=${job_types_dir:-$root/job-types}/|" "$work/env"
  queue_url="$(sed -n 's/^JOBS_QUEUE_URL=//p' "$work/env")"
  dlq_url="$(sed -n 's/^JOBS_DLQ_URL=//p' "$work/env")"
  table="$(sed -n 's/^JOBS_TABLE=//p' "$work/env")"
  bus="$(sed -n 's/^EVENT_BUS_NAME=//p' "$work/env")"
  webhook_dlq_url="$(sed -n 's/^WEBHOOK_DLQ_URL=//p' "$work/env")"

  log "starting cargo lambda watch --only-lambda-apis on 127.0.0.1:$port"
  (cd "$root" && exec cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 \
    --invoke-port "$port") >"$work/watch.log" 2>&1 &
  pids+=($!)
  local _
  for _ in $(seq 1 300); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/watch.log"; exit 1; }
    sleep 0.2
  done
  # Each function as Lambda starts it: its configuration in the environment, the Runtime API
  # of its own name. All of them write to one log.
  local function_env=()
  while IFS= read -r line; do [[ -n "$line" ]] && function_env+=("$line"); done <"$work/env"
  for f in "${functions[@]}"; do
    env "${function_env[@]}" AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt/$f" \
      AWS_LAMBDA_FUNCTION_NAME="$f" AWS_LAMBDA_FUNCTION_VERSION='$LATEST' \
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/$f" \
      AWS_LAMBDA_LOG_STREAM_NAME="$prefix/$f" "$bootstraps/$f/bootstrap" >>"$work/functions.log" 2>&1 &
    pids+=($!)
  done
}

invoke() { # function data-file -> response JSON on stdout
  cargo lambda invoke "$1" --data-file "$2" --invoke-address 127.0.0.1 --invoke-port "$port" \
    --output-format json 2>>"$work/invoke.log" || { cat "$work/invoke.log" >&2; exit 1; }
}
