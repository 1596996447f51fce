#!/usr/bin/env bash
# Refreshes the tool locks: every Python venv's hashed requirements (uv pip compile, for
# CPython 3.11 on x86_64 Linux, the CI machine), the package-lock.json of the npm tools and of
# fauxqs, and the integrity of the DynamoDB Local tarball (dynamodb-local.txt).
# Edit a pin in a *.in file (or infra/node/package.json, infra/fauxqs/package.json, or
# dynamodb-local.txt's package=), run this, commit the locks;
# infra/setup.sh rebuilds exactly the venvs whose lock changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
uv="$root/.local/venv-uv/bin/uv"
if [[ ! -x "$uv" ]]; then # infra/setup.sh installs it too
  python3 -m venv "$root/.local/venv-uv"
  "$root/.local/venv-uv/bin/pip" install --quiet --require-hashes --no-deps -r "$root/infra/requirements/uv.txt"
fi
cd "$root/infra/requirements"
for input in *.in; do
  "$uv" pip compile --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-unknown-linux-gnu --custom-compile-command infra/requirements/lock.sh \
    "$input" -o "${input%.in}.txt"
  echo "locked ${input%.in}.txt"
done
cd "$root/infra/node"
npm install --package-lock-only --no-audit --no-fund --silent
echo "locked infra/node/package-lock.json"
cd "$root/infra/fauxqs"
npm install --package-lock-only --no-audit --no-fund --silent
echo "locked infra/fauxqs/package-lock.json"
cd "$root/infra/requirements"
package="$(sed -n 's/^package=//p' dynamodb-local.txt)"
integrity="$(npm view "$package" dist.integrity)"
[[ "$integrity" == sha512-* ]] || { echo "no sha512 integrity for $package" >&2; exit 1; }
sed -i "s|^integrity=.*|integrity=$integrity|" dynamodb-local.txt
echo "locked infra/requirements/dynamodb-local.txt ($package)"
