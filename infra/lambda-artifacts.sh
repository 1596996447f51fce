#!/usr/bin/env bash
# Builds the release bootstraps once per run and links them where every later step finds
# them, .local/lambda/<binary>/bootstrap, so the runtime checks and the cold-start bench run
# the very files that deploy:
#   default               `sam build` (cargo lambda, release, as deployed): the links point
#                         into .aws-sam/build/<LogicalId>/bootstrap
#   ACCEPTED_SKIP_SAM=1   `cargo lambda build --release` of the same binaries (no SAM CLI)
# and the cold-start bench's floor, `hello`, built the same way. Needs infra/setup.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/.local/lambda"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
log() { printf '[artifacts] %s\n' "$*" >&2; }
export PATH="$root/.local/venv/bin:$PATH"

# Logical id and binary of each function of the template (its Metadata.BuildProperties).
functions="$(awk '/^  [A-Za-z0-9]+:$/ { id = $1; sub(":", "", id) } /^ +Binary: / { print id, $2 }' template.yaml)"
[[ -n "$functions" ]] || { log "no function with a Binary in template.yaml"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
build_log="$root/.local/lambda-build.log"
if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  log "sam build (release bootstraps of $(echo "$functions" | wc -l) functions)"
  SAM_CLI_TELEMETRY=0 PATH="$root/.local/venv-sam/bin:$PATH" \
    sam build --template template.yaml >"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
  while read -r id bin; do
    mkdir -p "$out/$bin"
    ln -s "$root/.aws-sam/build/$id/bootstrap" "$out/$bin/bootstrap"
  done <<<"$functions"
else
  bins=()
  while read -r _ bin; do bins+=(--bin "$bin"); done <<<"$functions"
  log "cargo lambda build --release ${bins[*]}"
  cargo lambda build --release "${bins[@]}" >"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
  while read -r _ bin; do
    mkdir -p "$out/$bin"
    ln -s "$target_dir/lambda/$bin/bootstrap" "$out/$bin/bootstrap"
  done <<<"$functions"
fi
log "cargo lambda build --release --bin hello (the cold-start floor)"
cargo lambda build --release --bin hello >>"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
mkdir -p "$out/hello"
ln -s "$target_dir/lambda/hello/bootstrap" "$out/hello/bootstrap"
for dir in "$out"/*/; do
  bin="$(basename "$dir")"
  [[ -s "$dir/bootstrap" ]] || { log "missing $dir/bootstrap"; exit 1; }
  log "$bin: $(stat -L -c %s "$dir/bootstrap") bytes"
done
