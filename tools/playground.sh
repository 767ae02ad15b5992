#!/usr/bin/env bash
# Serve the playground (playground/playground.ipynb) as a standalone page with Voilà:
# what `make playground` runs after installing. Code cells are hidden; the page
# shows the widgets only. Works offline and as root. Where no desktop browser can
# open (Linux without DISPLAY/WAYLAND_DISPLAY), it prints the URL to open instead.
# COURSE_LAB_DRY_RUN=1 prints the command instead of running it (for the tests).
set -euo pipefail
cd "${BASH_SOURCE[0]%/*}/.."

PORT="${PLAYGROUND_PORT:-8866}"
cmd=(.venv/bin/voila playground/playground.ipynb "--port=$PORT" --Voila.ip=127.0.0.1)
if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cmd+=(--no-browser)
  echo "Open http://127.0.0.1:$PORT/ in your browser (Ctrl+C here stops the playground)."
fi

if [ "${COURSE_LAB_DRY_RUN:-0}" = "1" ]; then
  printf '%s\n' "${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}"
