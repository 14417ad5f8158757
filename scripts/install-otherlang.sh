#!/usr/bin/env bash
# Installs what test/otherlang needs to run its Python and Node clients:
# Debian's gRPC Python runtime, protoc with its gRPC Python plugin and the
# well-known types (the Python stubs are generated at test time), and the
# npm packages locked in test/otherlang/node/package-lock.json; and
# PyMongo with its C extensions, the other side of test/bench's Python
# comparison (test/bench/python/compare.py).
#
# Idempotent and non-interactive: packages already installed and a
# node_modules that matches the lock file are left alone, so a second run
# does no network I/O. Runs as root (CI) or through passwordless sudo.
#
# Not Debian's python3-grpc-tools: it bundles protoc 3.5, which rejects
# proto3 `optional`. Not pip: PyPI is not reachable from our machines.
# npm runs no install scripts: the only one in the tree (protobufjs's
# postinstall) checks its CLI, which the scenario does not use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# libprotobuf-dev ships google/protobuf/*.proto in /usr/include, where
# /usr/bin/protoc looks for the well-known types the contract imports.
# nginx is the load balancer of the multi-instance tests (test/cluster,
# test/otherlang's TestPythonThroughBalancer); they run it themselves,
# in the foreground, on loopback. PyMongo (with its C extensions, as pip
# would install it) is the side-by-side of test/bench's Python figures.
debs=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc libprotobuf-dev nginx
  python3-pymongo python3-pymongo-ext python3-bson-ext)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "install-otherlang: need root (or passwordless sudo) to run: $*" >&2
    return 1
  fi
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${debs[@]}"; do
  installed "$p" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-otherlang: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  # The tests start their own nginx; one the package started on port 80
  # (where no policy-rc.d forbids starting services) is stopped.
  if [ -s /run/nginx.pid ]; then
    as_root nginx -s quit || true
  fi
else
  echo "install-otherlang: Debian packages present (${debs[*]})"
fi

# npm ci wipes and rebuilds node_modules from the lock file. It is skipped
# when the stamp left by the last run matches the lock file's hash; mtimes
# are useless for this because a fresh clone gives every file a new one.
node_dir="$root/test/otherlang/node"
stamp="$node_dir/node_modules/.mongogate-lock.sha256"
want=$(sha256sum "$node_dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-otherlang: $node_dir/node_modules matches package-lock.json"
else
  echo "install-otherlang: npm ci in $node_dir"
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  echo "$want" >"$stamp"
fi

echo "install-otherlang: $(protoc --version), grpcio $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'), pymongo $(/usr/bin/python3 -c 'import pymongo; print(pymongo.version)'), node $(node --version)"
