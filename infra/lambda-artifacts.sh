#!/usr/bin/env bash
# Builds the release bootstraps once per run and links them where every later step finds
# them, .local/lambda/<binary>/bootstrap, so the runtime checks and the cold-start bench run
# the very files that deploy:
#   default               `sam build` (cargo lambda, release, as deployed): the links point
#                         into .aws-sam/build/<LogicalId>/bootstrap
#   ACCEPTED_SKIP_SAM=1   `cargo lambda build --release` of the same binaries (no SAM CLI)
# and the cold-start bench's floor, `hello`, built the same way. Then submit, worker and status
# of the example team project (examples/invoices), built as a team builds its own: accepted's
# template with `--base-dir examples/invoices`, into .local/lambda-invoices/<binary>/bootstrap.
# Needs infra/setup.sh.
#
# The bootstraps are a function of their inputs, and a fresh clone rebuilds every workspace
# crate (cargo's freshness is by file time), which here means seven LTO links, ~10 minutes.
# So they are kept in a content-addressed cache outside the clone: the key hashes every
# tracked or new file that a build reads (Rust sources, manifests, both Cargo.lock files,
# template.yaml), the toolchain (rustc, cargo-lambda, zig, SAM) and the build's
# environment; a hit is what this very tree builds to. Any change is a miss and a build.
#   ACCEPTED_ARTIFACT_CACHE=<dir>   where (default ~/.cache/accepted/lambda); `off` disables it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/.local/lambda"
example="examples/invoices"
example_out="$root/.local/lambda-invoices"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
log() { printf '[artifacts] %s\n' "$*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR
export PATH="$root/.local/venv/bin:$PATH"

# Logical id and binary of each function of the template (its Metadata.BuildProperties).
functions="$(awk '/^  [A-Za-z0-9]+:$/ { id = $1; sub(":", "", id) } /^ +Binary: / { print id, $2 }' template.yaml)"
[[ -n "$functions" ]] || { log "no function with a Binary in template.yaml"; exit 1; }
cache_root="${ACCEPTED_ARTIFACT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/accepted/lambda}"
cache_key() {
  {
    git ls-files -z --cached --others --exclude-standard -- '*.rs' '*Cargo.toml' '*Cargo.lock' \
      template.yaml | sort -z | xargs -0 sha256sum
    rustc -vV
    cargo -V
    cargo lambda --version
    zig version
    [[ "${ACCEPTED_SKIP_SAM:-0}" == 1 ]] && echo "cargo lambda build" ||
      "$root/.local/venv-sam/bin/sam" --version
    env | sort | grep -E '^(RUSTFLAGS|RUSTC_WRAPPER|CARGO_ENCODED_RUSTFLAGS|CARGO_LAMBDA_[A-Z_]*|CARGO_PROFILE_[A-Z_]*|CARGO_BUILD_[A-Z_]*)=' || true
  } | sha256sum | cut -c1-32
}
rm -rf "$out" "$example_out"
mkdir -p "$out" "$example_out"
key=""
if [[ "$cache_root" != off ]] && git rev-parse --git-dir >/dev/null 2>&1; then
  key="$(cache_key)"
  if [[ -f "$cache_root/$key/complete" ]]; then
    log "cache hit $cache_root/$key: the bootstraps this tree builds to"
    cp -a "$cache_root/$key/accepted/." "$out/"
    cp -a "$cache_root/$key/invoices/." "$example_out/"
    for dir in "$out"/*/ "$example_out"/*/; do log "$dir: $(stat -c %s "$dir/bootstrap") bytes"; done
    exit 0
  fi
fi
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
    cp "$target_dir/lambda/$bin/bootstrap" "$out/$bin/bootstrap"
  done <<<"$functions"
fi
log "cargo lambda build --release --bin hello (the cold-start floor)"
cargo lambda build --release --bin hello >>"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
mkdir -p "$out/hello"
cp "$target_dir/lambda/hello/bootstrap" "$out/hello/bootstrap"

# The example team project, built as a team builds it: accepted's template with
# `--base-dir examples/invoices`. Only the three functions its end-to-end run invokes are
# built here (submit and worker carry its registry; status shows the result): each is a
# thin-LTO link of ~80 s, and the other four are accepted's own one-line mains, compiled and
# linted with the rest of the example (tests/tests/example_project.rs holds the package to
# the template's seven binary names). `sam build <id>` empties its build dir, so one each.
# The example shares the target directory: its target/lambda/<bin> overwrite accepted's,
# which were copied out above.
example_functions="$(grep -E '^(SubmitFunction|WorkerFunction|StatusFunction) ' <<<"$functions")"
if [[ "${ACCEPTED_SKIP_SAM:-0}" != 1 ]]; then
  while read -r id bin; do
    log "sam build --base-dir $example $id"
    SAM_CLI_TELEMETRY=0 PATH="$root/.local/venv-sam/bin:$PATH" \
      sam build --template template.yaml --base-dir "$example" \
      --build-dir ".aws-sam/invoices/$id" "$id" >>"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
    mkdir -p "$example_out/$bin"
    ln -s "$root/.aws-sam/invoices/$id/$id/bootstrap" "$example_out/$bin/bootstrap"
  done <<<"$example_functions"
else
  bins=()
  while read -r _ bin; do bins+=(--bin "$bin"); done <<<"$example_functions"
  log "cargo lambda build --release --manifest-path $example/Cargo.toml ${bins[*]}"
  cargo lambda build --release --manifest-path "$example/Cargo.toml" "${bins[@]}" \
    >>"$build_log" 2>&1 || { cat "$build_log"; exit 1; }
  while read -r _ bin; do
    mkdir -p "$example_out/$bin"
    cp "$target_dir/lambda/$bin/bootstrap" "$example_out/$bin/bootstrap"
  done <<<"$example_functions"
fi
for dir in "$out"/*/ "$example_out"/*/; do
  [[ -s "$dir/bootstrap" ]] || { log "missing $dir/bootstrap"; exit 1; }
  log "$dir: $(stat -L -c %s "$dir/bootstrap") bytes"
done
if [[ -n "$key" ]]; then
  # Stored whole or not at all (a rename), owner-only, the three newest kept.
  mkdir -p "$cache_root"
  chmod 700 "$cache_root"
  staging="$(mktemp -d "$cache_root/.staging.XXXXXX")"
  for set in accepted invoices; do
    from="$out"
    [[ $set == invoices ]] && from="$example_out"
    for dir in "$from"/*/; do
      mkdir -p "$staging/$set/$(basename "$dir")"
      cp -L "$dir/bootstrap" "$staging/$set/$(basename "$dir")/bootstrap"
    done
  done
  touch "$staging/complete"
  rm -rf "${cache_root:?}/$key"
  mv "$staging" "$cache_root/$key"
  # shellcheck disable=SC2012 # names are hex keys
  ls -1t "$cache_root" | tail -n +4 | while read -r old; do rm -rf "${cache_root:?}/$old"; done
  log "stored in $cache_root/$key"
fi
