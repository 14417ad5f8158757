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
tag=install-ts
. "$root/scripts/lib/install.sh"

require_node
dir="$root/clients/ts"
npm_ci_locked "$dir"
echo "install-ts: node $(node --version), $("$dir/node_modules/.bin/tsc" --version)"
