#!/usr/bin/env bash
# Installs what test/web needs beyond Go: Debian's chromium (the headless
# browser that loads examples/browser's page), curl (the README's curl
# walkthrough), and the npm packages locked in
# examples/browser/package-lock.json (connect-web and esbuild, which
# bundles the page).
#
# Idempotent: installed packages and a node_modules matching the lock file
# are left alone. Runs as root (CI) or through passwordless sudo. npm runs
# no install scripts: esbuild's only checks its platform binary, which npm
# installs as an optional dependency.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "install-web: need root (or passwordless sudo) to run: $*" >&2
    return 1
  fi
}

debs=(chromium curl)
missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-web: apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dir="$root/examples/browser"
stamp="$dir/node_modules/.mongogate-lock.sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-web: $dir/node_modules matches package-lock.json"
else
  echo "install-web: npm ci in $dir"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  echo "$want" >"$stamp"
fi
echo "install-web: $(chromium --version 2>/dev/null || echo 'chromium missing'), esbuild $("$dir/node_modules/.bin/esbuild" --version)"
