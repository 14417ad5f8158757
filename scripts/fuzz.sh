#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzX(f *testing.F) in a _test.go file
# outside gen/) for a bounded time, one target at a time: go test -fuzz
# takes one package and one matching target per run. Fails if any target
# fails; a failing input is written to <package>/testdata/fuzz/FuzzX/ and
# should be committed with the fix, where it stays as a regression seed.
#
#   FUZZTIME      time per target (default 15s; go's -fuzztime syntax,
#                 so 100000x means a number of inputs)
#   FUZZPARALLEL  fuzzing workers per target (default 1)
#   FUZZ          regexp: only the targets whose name matches
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fuzztime=${FUZZTIME:-15s}
parallel=${FUZZPARALLEL:-1}
only=${FUZZ:-.}

# "<package dir> <target>" per line, sorted.
targets=$(grep -rEo --include='*_test.go' --exclude-dir=gen --exclude-dir=testdata \
  '^func Fuzz[A-Za-z0-9_]+\(' . |
  sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1 \2#' | sort -u)
if [ -z "$targets" ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi

failed=()
start=$SECONDS
while read -r dir name; do
  [[ $name =~ $only ]] || continue
  printf '\n== %s ./%s (%s)\n' "$name" "$dir" "$fuzztime"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel "$parallel" "./$dir" </dev/null; then
    failed+=("$name ./$dir")
  fi
done <<<"$targets"

printf '\n== fuzzing took %ds\n' $((SECONDS - start))
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}"
  exit 1
fi
