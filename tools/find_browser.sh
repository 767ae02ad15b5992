#!/usr/bin/env bash
# Print the path of a Chrome or Chromium the browser test can drive; exit 1 if none.
#
# Looks, in order, at: $COURSE_CHROMIUM; on macOS the usual app bundles; then the
# commands chromium, chromium-browser, google-chrome, google-chrome-stable on PATH;
# then Debian's /usr/bin/chromium. Uses only bash built-ins and `uname`, so the
# tests can fake the machine with PATH and COURSE_FS_ROOT (a prefix for absolute paths).
set -uo pipefail
FS="${COURSE_FS_ROOT:-}"

candidates=()
[ -n "${COURSE_CHROMIUM:-}" ] && candidates+=("$COURSE_CHROMIUM")
if [ "$(uname -s 2>/dev/null)" = "Darwin" ]; then
  for app in "Google Chrome.app/Contents/MacOS/Google Chrome" "Chromium.app/Contents/MacOS/Chromium"; do
    candidates+=("$FS/Applications/$app" "$FS${HOME:-/nonexistent}/Applications/$app")
  done
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  found=$(command -v "$name" 2>/dev/null) && candidates+=("$found")
done
candidates+=("$FS/usr/bin/chromium")

for path in "${candidates[@]}"; do
  if [ -f "$path" ] && [ -x "$path" ]; then
    printf '%s\n' "$path"
    exit 0
  fi
done
exit 1
