#!/usr/bin/env bash
# Installs the tooling the tests need into project-local virtualenvs (idempotent):
#   .local/venv      moto server, cargo-lambda, ziglang
#   .local/venv-sam  aws-sam-cli and cfn-lint (own venv: SAM pins an older boto3 than moto)
#   .local/venv-checkov  checkov, the template's security scanner (own venv: many pins)
#   .local/venv-schemathesis  schemathesis, the OpenAPI-driven API fuzzer
#   .local/node      @redocly/cli and @asyncapi/cli, the contract documents' linters, and
#                    playwright-core, which drives the browser of the console test (npm)
#   chromium         the browser of the console test (Debian package; installed with apt-get
#                    when missing, as root or through sudo; CHROMIUM names another)
#   cargo-deny       built once from crates.io into a cache outside the checkout
#                    ($ACCEPTED_TOOLS_CACHE, default ~/.cache/accepted-tools), ~7 min cold
# Versions are pinned so a fresh machine gets what CI was measured with.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
python="${PYTHON:-python3}"

MOTO_SPEC='moto[server]==5.2.5'
CARGO_LAMBDA_SPEC='cargo-lambda==1.9.2'
ZIG_SPEC='ziglang==0.17.1'
SAM_SPEC='aws-sam-cli==1.170.0'
CFN_LINT_SPEC='cfn-lint==1.58.0'
REDOCLY_SPEC='@redocly/cli@2.77.0'
CHECKOV_SPEC='checkov==3.3.30'
SCHEMATHESIS_SPEC='schemathesis==4.32.5'
ASYNCAPI_SPEC='@asyncapi/cli@6.2.0'
PLAYWRIGHT_SPEC='playwright-core@1.65.1'
CARGO_DENY_VERSION='0.20.2'

log() { printf '[setup] %s\n' "$*" >&2; }

ensure_venv() { # dir marker specs...
  local dir="$1" marker="$2"
  shift 2
  if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$marker" ]]; then
    return 0
  fi
  log "creating $dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$marker" > "$dir/.installed"
}

mkdir -p "$local_dir"
ensure_venv "$local_dir/venv" "$MOTO_SPEC $CARGO_LAMBDA_SPEC $ZIG_SPEC" \
  "$MOTO_SPEC" "$CARGO_LAMBDA_SPEC" "$ZIG_SPEC"
ensure_venv "$local_dir/venv-schemathesis" "$SCHEMATHESIS_SPEC" "$SCHEMATHESIS_SPEC"
# cargo-lambda looks for `zig` on PATH; the ziglang wheel ships it inside site-packages.
zig_bin="$(find "$local_dir/venv/lib" -path '*ziglang/zig' -type f | head -n 1)"
[[ -n "$zig_bin" ]] && ln -sf "$zig_bin" "$local_dir/venv/bin/zig"

if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  ensure_venv "$local_dir/venv-sam" "$SAM_SPEC $CFN_LINT_SPEC" "$SAM_SPEC" "$CFN_LINT_SPEC"
  # sam build shells out to `cargo lambda` (and zig): give it the ones from the tooling venv.
  ln -sf "$local_dir/venv/bin/zig" "$local_dir/venv-sam/bin/zig"
  ln -sf "$local_dir/venv/bin/cargo-lambda" "$local_dir/venv-sam/bin/cargo-lambda"
  ensure_venv "$local_dir/venv-checkov" "$CHECKOV_SPEC" "$CHECKOV_SPEC"
fi

# cargo-deny has no offline-installable binary: build it once per version, outside the
# checkout so fresh clones reuse it, and link it where the tests look.
tools_cache="${ACCEPTED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/accepted-tools}"
deny_root="$tools_cache/cargo-deny-$CARGO_DENY_VERSION"
if [[ ! -x "$deny_root/bin/cargo-deny" ]]; then
  log "building cargo-deny $CARGO_DENY_VERSION into $deny_root (once)"
  cargo install --quiet --locked --version "$CARGO_DENY_VERSION" --root "$deny_root" cargo-deny
fi
mkdir -p "$local_dir/bin"
ln -sf "$deny_root/bin/cargo-deny" "$local_dir/bin/cargo-deny"
node_dir="$local_dir/node"
node_specs="$REDOCLY_SPEC $ASYNCAPI_SPEC $PLAYWRIGHT_SPEC"
if [[ ! -f "$node_dir/.installed" || "$(cat "$node_dir/.installed")" != "$node_specs" ]]; then
  log "installing $node_specs into $node_dir"
  mkdir -p "$node_dir"
  # shellcheck disable=SC2086 # one word per package
  npm install --prefix "$node_dir" --no-audit --no-fund --silent $node_specs >/dev/null
  echo "$node_specs" > "$node_dir/.installed"
fi
# playwright-core downloads no browser: the console test drives the system's Chromium.
if [[ -z "${CHROMIUM:-}" ]] && ! command -v chromium >/dev/null; then
  if [[ "$(id -u)" == 0 ]]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo -n); else
    log "the console test needs Chromium: install the Debian package chromium, or set CHROMIUM"
    exit 1
  fi
  log "installing chromium (apt-get)"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
# The AsyncAPI CLI reports usage to a third party unless told not to in this file.
printf '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"accepted-tests"}' \
  > "$local_dir/asyncapi-analytics.json"
log "tooling ready in $local_dir"
