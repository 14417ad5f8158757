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
tag=install-otherlang
. "$root/scripts/lib/install.sh"

# libprotobuf-dev ships google/protobuf/*.proto in /usr/include, where
# /usr/bin/protoc looks for the well-known types the contract imports.
# nginx is the load balancer of the multi-instance tests (test/cluster,
# test/otherlang's TestPythonThroughBalancer); they run it themselves,
# in the foreground, on loopback. PyMongo (with its C extensions, as pip
# would install it) is the side-by-side of test/bench's Python figures.
debs=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc libprotobuf-dev nginx
  python3-pymongo python3-pymongo-ext python3-bson-ext)

missing=()
for p in "${debs[@]}"; do
  deb_installed "$p" || missing+=("$p")
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

npm_ci_locked "$root/test/otherlang/node"

echo "install-otherlang: $(protoc --version), grpcio $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)'), pymongo $(/usr/bin/python3 -c 'import pymongo; print(pymongo.version)'), node $(node --version)"
