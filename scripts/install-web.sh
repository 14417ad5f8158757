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
tag=install-web
. "$root/scripts/lib/install.sh"

debs=(chromium curl)
missing=()
for d in "${debs[@]}"; do
  deb_installed "$d" || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-web: apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

dir="$root/examples/browser"
npm_ci_locked "$dir"
echo "install-web: $(chromium --version 2>/dev/null || echo 'chromium missing'), esbuild $("$dir/node_modules/.bin/esbuild" --version)"
