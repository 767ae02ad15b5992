#!/usr/bin/env bash
# Installs Debian's Chromium for the real-browser test (Playwright's own browser
# download is not available offline). Idempotent: does nothing if it is there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "!!! Cannot install Chromium (not root, no sudo): the browser test will be SKIPPED." >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
echo "Installed $(/usr/bin/chromium --version)"
