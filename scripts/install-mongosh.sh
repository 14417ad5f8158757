#!/usr/bin/env bash
# Installs the MongoDB shell that test/mongosh runs against the emulator:
# the npm package mongosh, at the version locked in
# test/mongosh/package-lock.json, into test/mongosh/node_modules.
#
# Idempotent: a node_modules that matches the lock file is left alone, so
# a second run does no network I/O. npm runs no install scripts: they only
# build optional native add-ons (kerberos, ssh tunnels, OS keychains) the
# test does not use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-mongosh: node and npm are needed (scripts/install-otherlang.sh installs them)" >&2
  exit 1
fi

# npm ci wipes and rebuilds node_modules from the lock file; it is skipped
# when the stamp left by the last run matches the lock file's hash.
dir="$root/test/mongosh"
stamp="$dir/node_modules/.mongogate-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-mongosh: $dir/node_modules matches package-lock.json"
else
  echo "install-mongosh: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  echo "$want" >"$stamp"
fi
echo "install-mongosh: mongosh $("$dir/node_modules/.bin/mongosh" --version), node $(node --version)"
