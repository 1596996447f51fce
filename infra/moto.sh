#!/usr/bin/env bash
# Starts and stops the project's moto server (AWS emulator) on 127.0.0.1.
#   infra/moto.sh start   start it (if not running) and print its URL
#   infra/moto.sh stop    stop the server this script started, by its PID
#   infra/moto.sh url     print its URL
#   infra/moto.sh running exit 0 when the server this script started is running
# Port: MOTO_PORT (default 5151). Logs: .local/moto.log. MOTO_STATE_DIR (default .local) holds
# the PID, port and log files, so a second server (infra/emulators.sh) keeps its own.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
state_dir="${MOTO_STATE_DIR:-$local_dir}"
pid_file="$state_dir/moto.pid"
port_file="$state_dir/moto.port"

running() { [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

# A running server keeps the port it was started on.
if running && [[ -f "$port_file" ]]; then
  port="$(cat "$port_file")"
else
  port="${MOTO_PORT:-5151}"
fi
url="http://127.0.0.1:$port"

case "${1:-}" in
  start)
    if running; then echo "$url"; exit 0; fi
    [[ -x "$local_dir/venv/bin/moto_server" ]] || "$root/infra/setup.sh"
    mkdir -p "$state_dir"
    # moto_server.py: moto with DynamoDB item operations made atomic again (see the file).
    "$local_dir/venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$port" \
      >"$state_dir/moto.log" 2>&1 &
    echo $! >"$pid_file"
    echo "$port" >"$port_file"
    for _ in $(seq 1 100); do
      if curl -fsS -o /dev/null "$url/moto-api/data.json" 2>/dev/null; then
        echo "$url"
        exit 0
      fi
      running || break
      sleep 0.1
    done
    echo "moto server did not start on $url; see $state_dir/moto.log" >&2
    exit 1
    ;;
  stop)
    if running; then
      kill "$(cat "$pid_file")"
      for _ in $(seq 1 50); do running || break; sleep 0.1; done
      # A server busy with a large state may ignore SIGTERM for long: do not leak it.
      if running; then kill -9 "$(cat "$pid_file")" 2>/dev/null || true; fi
    fi
    rm -f "$pid_file" "$port_file"
    ;;
  url)
    echo "$url"
    ;;
  running)
    running
    ;;
  *)
    echo "usage: $0 start|stop|url|running" >&2
    exit 2
    ;;
esac
