#!/usr/bin/env bash
# Installs the npm packages of the TypeScript client (clients/ts) at the
# versions locked in clients/ts/package-lock.json: connect-es, protobuf-es,
# bson, and the tools scripts/gen.sh (protoc-gen-es) and test/tsclient
# (typescript, the mongodb driver for fail points) use.
#
# Idempotent: a node_modules that matches the lock file is left alone, so a
# second run does no network I/O. npm runs no install scripts: none in the
# tree is needed (esbuild's only checks its platform binary, which npm
# installs as an optional dependency).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-ts: node and npm are needed (scripts/install-otherlang.sh installs them)" >&2
  exit 1
fi

dir="$root/clients/ts"
stamp="$dir/node_modules/.mongogate-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-ts: $dir/node_modules matches package-lock.json"
else
  echo "install-ts: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  echo "$want" >"$stamp"
fi
echo "install-ts: node $(node --version), $("$dir/node_modules/.bin/tsc" --version)"
