#!/usr/bin/env bash
# Open the course in JupyterLab (what `make lab` runs after installing).
#
# As root (containers, cloud VMs, classroom images) JupyterLab refuses to start
# without --allow-root: pass it. Where no desktop browser can open (Linux with
# no DISPLAY or WAYLAND_DISPLAY, e.g. over SSH or in a container), start without
# trying to open one; JupyterLab prints the URL (with its token) to open yourself.
# COURSE_LAB_DRY_RUN=1 prints the command instead of running it (for the tests).
set -euo pipefail
cd "${BASH_SOURCE[0]%/*}/.."

cmd=(.venv/bin/jupyter lab)
if [ "$(id -u)" = "0" ]; then
  cmd+=(--allow-root)
fi
if [ "$(uname -s)" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cmd+=(--no-browser)
  echo "No desktop browser here: open the URL that JupyterLab prints below (http://127.0.0.1:PORT/lab?token=...)."
fi
cmd+=(notebooks/00-start-here.ipynb)

if [ "${COURSE_LAB_DRY_RUN:-0}" = "1" ]; then
  printf '%s\n' "${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}"
