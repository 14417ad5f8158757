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

step "wire contract is compatible (buf breaking)"
bash scripts/breaking-check.sh

step "go test"
go test -count=1 -timeout 15m $(go list ./... | grep -v '/test/spec$')

step "fuzzing (each target for ${FUZZTIME:-15s})"
bash scripts/fuzz.sh

step "MongoDB spec tests (test/spec)"
if [ -z "${MONGOGATE_SPEC_DIR:-}" ]; then
  echo "MONGOGATE_SPEC_DIR is unset: the MongoDB spec suites are skipped"
fi
# -v so the per-suite SPEC lines reach the log; only those and the verdict
# are shown.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -count=1 -timeout 10m -v ./test/spec/ >"$log" 2>&1 || status=$?
grep -E '^(SPEC|--- FAIL|FAIL|ok|panic)|MONGOGATE_SPEC_DIR' "$log" || true
if [ "$status" -ne 0 ]; then
  echo "spec tests failed; the failures:"
  grep -E '^\s+(--- FAIL|spec_test|runner)' "$log" | head -60
  exit "$status"
fi
