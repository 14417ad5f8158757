#!/usr/bin/env bash
# breaking-check.sh fails if proto/ breaks the wire contract, by buf.yaml's
# breaking rules, compared with
#   1. contract/baseline.binpb, the committed image of everything the contract
#      has promised so far: always;
#   2. the previous commit (HEAD~1): when the clone has it, and is skipped with
#      a note when it does not (a shallow clone, the first commit, no .git).
#
# Usage: scripts/breaking-check.sh [--update-baseline]
#
# Why both. Against HEAD~1 alone, a breaking commit passes once any other
# commit lands on top of it in the same push, and shallow clones have no
# HEAD~1. Against the baseline alone, a change that breaks proto/ and rewrites
# the baseline to match passes. The baseline only grows through
# --update-baseline, which refuses a breaking change; a baseline rewritten by
# hand is caught by the HEAD~1 check of the commit that does it.
#
# --update-baseline rewrites contract/baseline.binpb from proto/ after a
# compatible change (a new field, message, rpc), so that the check guards the
# additions too; commit it with the change. It refuses if either check fails.
# A change that has to break the contract belongs in a new package
# (mongogate.v2) in new files, not in an edit of v1.
#
# The exit status is 1 when a check finds a breaking change. Findings name the
# buf rule that fired, e.g. "error FIELD_SAME_TYPE : ...".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"

update=false
case ${1:-} in
"") ;;
--update-baseline) update=true ;;
*)
	echo "usage: scripts/breaking-check.sh [--update-baseline]" >&2
	exit 2
	;;
esac

source "$root/scripts/buf.sh"

baseline=contract/baseline.binpb
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The image leaves out comments: breaking rules do not read them, and without
# them the committed file changes only when the contract does.
"$buf" build proto --exclude-source-info --output "$tmp/current.binpb"

failed=false
check() {
	local name=$1 against=$2
	if "$buf" breaking proto --error-format msvs --against "$against"; then
		echo "breaking-check: compatible with $name"
	else
		echo "breaking-check: proto/ breaks the contract of $name" >&2
		failed=true
	fi
}

if [[ -f $baseline ]]; then
	check "$baseline" "$baseline"
elif ! $update; then
	echo "breaking-check: $baseline is missing; create it with scripts/breaking-check.sh --update-baseline" >&2
	exit 1
fi

# HEAD~1 is only meaningful when root is the top of a clone whose previous
# commit is present and already had a buf module.
if [[ $(git rev-parse --show-toplevel 2>/dev/null) == "$root" ]] &&
	prev=$(git rev-parse --verify --quiet 'HEAD~1^{commit}') &&
	git cat-file -e "$prev:buf.yaml" 2>/dev/null; then
	check "HEAD~1 (${prev:0:12})" ".git#ref=$prev,subdir=proto"
else
	echo "breaking-check: no previous commit with a buf module here (shallow clone?); checked against $baseline only"
fi

if $failed; then
	if $update; then
		echo "breaking-check: $baseline not updated" >&2
	fi
	exit 1
fi

if cmp -s "$tmp/current.binpb" "$baseline"; then
	if $update; then
		echo "breaking-check: $baseline is already up to date"
	fi
elif $update; then
	mkdir -p "$(dirname "$baseline")"
	mv "$tmp/current.binpb" "$baseline"
	echo "breaking-check: updated $baseline; commit it with the proto change"
else
	echo "breaking-check: note: proto/ has compatible changes that $baseline does not hold yet; run scripts/breaking-check.sh --update-baseline to guard them"
fi
