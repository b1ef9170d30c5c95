#!/usr/bin/env bash
# Usage: scripts/ensure-chromium.sh
#
# The console's browser tests (test/console.browser.test.ts) drive Debian's `chromium`
# through playwright-core, which downloads no browser of its own. This installs the Debian
# package when no `chromium` is on the PATH (as scripts/with-postgres.sh does for
# PostgreSQL), and prints the browser's path.
set -euo pipefail

me="ensure-chromium"
die() {
  echo "$me: $*" >&2
  exit 1
}

if ! command -v chromium >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "chromium not found; install the Debian package 'chromium' (needs root)"
  command -v apt-get >/dev/null 2>&1 || die "chromium not found and apt-get is unavailable"
  echo "$me: chromium not found; installing Debian package 'chromium'" >&2
  apt-get update >&2 </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2 </dev/null
  command -v chromium >/dev/null 2>&1 || die "installed 'chromium' but it is still not on the PATH"
fi
command -v chromium
