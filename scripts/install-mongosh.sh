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
tag=install-mongosh
. "$root/scripts/lib/install.sh"

require_node
dir="$root/test/mongosh"
npm_ci_locked "$dir"
echo "install-mongosh: mongosh $("$dir/node_modules/.bin/mongosh" --version), node $(node --version)"
