# buf.sh makes the pinned buf available at .cache/bin/buf, installing it with
# `go install` on first use (about 2 minutes on a fresh machine), and sets
# $buf to its path. Scripts source it; run it directly to only install.
#
# buf is not a go.mod tool on purpose: its dependency graph would become ours.

# Keep in step with the buf release used to write buf.yaml/buf.gen.yaml.
BUF_VERSION=v1.75.0

buf=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/bin/buf
if [[ ! -x $buf || $("$buf" --version 2>/dev/null) != "${BUF_VERSION#v}" ]]; then
	echo "buf.sh: installing buf $BUF_VERSION into ${buf%/*}" >&2
	GOBIN=${buf%/*} go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
fi
