#!/usr/bin/env bash
# Make sure the real-browser test has a Chrome or Chromium to drive.
#
# 1. One is installed already (tools/find_browser.sh: macOS apps, google-chrome,
#    chromium, chromium-browser, $COURSE_CHROMIUM): use it, install nothing.
# 2. Linux with apt-get, as root or with password-less sudo: install Debian's
#    chromium (Playwright's own browser download needs the internet at test time).
# 3. Otherwise: say loudly that the browser test will be SKIPPED, and go on,
#    except under CI=true, where a skipped browser test is a failure.
# Never asks for a password (sudo -n), never runs apt-get where there is none.
set -uo pipefail
HERE="${BASH_SOURCE[0]%/*}"

if found=$("$BASH" "$HERE/find_browser.sh"); then
  echo "Browser for the browser test: $found"
  exit 0
fi

skip() {
  echo "!!! No Chrome or Chromium found, and $1." >&2
  echo "!!! The browser test will be SKIPPED. Install Google Chrome or Chromium, or set" >&2
  echo "!!! COURSE_CHROMIUM=/path/to/chrome, then run \`make test\` again." >&2
  if [ "${CI:-}" = "true" ]; then
    echo "!!! CI=true: the browser test must run in CI, so this is an error." >&2
    exit 1
  fi
  exit 0
}

[ "$(uname -s 2>/dev/null)" = "Linux" ] || skip "this script installs one only on Linux with apt-get"
command -v apt-get >/dev/null 2>&1 || skip "there is no apt-get to install one with"

if [ "$(id -u)" = "0" ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  skip "installing one needs root or password-less sudo"
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq || skip "apt-get update failed"
"${SUDO[@]}" apt-get install -y -qq chromium >/dev/null || skip "apt-get install chromium failed"
if found=$("$BASH" "$HERE/find_browser.sh"); then
  echo "Installed Chromium for the browser test: $found"
else
  skip "apt-get installed chromium but no browser binary was found"
fi
