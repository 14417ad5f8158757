# Shared by the scripts/install-*.sh scripts; sourced, not run. Each script
# sets `tag` (its name, the prefix of its messages) before sourcing this.

# as_root runs a command as root: directly when we are root (CI), else
# through passwordless sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "$tag: need root (or passwordless sudo) to run: $*" >&2
    return 1
  fi
}

# deb_installed reports whether the Debian package $1 is installed.
deb_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# require_node stops the script when node or npm is missing.
require_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "$tag: node and npm are needed (scripts/install-otherlang.sh installs them)" >&2
    exit 1
  fi
}

# npm_ci_locked installs the packages locked in $1/package-lock.json into
# $1/node_modules. npm ci wipes and rebuilds node_modules from the lock
# file, so it is skipped when the stamp left by the last run matches the
# lock file's hash (mtimes are useless for this: a fresh clone gives every
# file a new one); a second run does no network I/O. npm runs no install
# scripts: each caller says why none of its tree needs them.
npm_ci_locked() {
  local dir=$1
  local stamp="$dir/node_modules/.mongogate-lock.sha256"
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$tag: $dir/node_modules matches package-lock.json"
    return
  fi
  echo "$tag: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  echo "$want" >"$stamp"
}
