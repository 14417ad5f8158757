#!/usr/bin/env bash
# The whole test suite: formatting, vet, generated-code freshness, unit and
# end-to-end tests, and MongoDB's spec tests against the emulator (when
# MONGOGATE_SPEC_DIR names ../shared/specifications). Set MONGOGATE_TEST_URI
# to run everything against a real replica set instead of the emulator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' | grep -v '^gen/') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "generated code is fresh (buf lint + generate)"
bash scripts/gen-check.sh

step "go test"
if [ -z "${MONGOGATE_SPEC_DIR:-}" ]; then
  echo "MONGOGATE_SPEC_DIR is unset: the MongoDB spec suites will be skipped"
fi
go test -count=1 -timeout 15m ./...
