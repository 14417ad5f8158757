#!/usr/bin/env bash
# gen-check.sh fails if gen/ is not exactly what scripts/gen.sh produces from
# proto/ (and, through gen.sh, if buf lint finds a problem). For CI; it does
# not modify the work tree.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bash scripts/gen.sh "$tmp"

py=clients/python/mongogate/_gen
if ! diff -r "$py" "$tmp/$py" >"$tmp/diff-py.txt"; then
	echo "gen-check: $py is stale or was edited by hand; run scripts/gen.sh and commit the result." >&2
	head -n 50 "$tmp/diff-py.txt" >&2
	exit 1
fi

if ! diff -r gen "$tmp/gen" >"$tmp/diff.txt"; then
	echo "gen-check: gen/ is stale or was edited by hand; run scripts/gen.sh and commit the result." >&2
	head -n 50 "$tmp/diff.txt" >&2
	exit 1
fi
if ! diff -r clients/ts/src/gen "$tmp/clients/ts/src/gen" >"$tmp/diff-ts.txt"; then
	echo "gen-check: clients/ts/src/gen/ is stale or was edited by hand; run scripts/gen.sh and commit the result." >&2
	head -n 50 "$tmp/diff-ts.txt" >&2
	exit 1
fi
echo "gen-check: gen/ is up to date"
