#!/usr/bin/env bash
# Run the widget tests under ipywidgets 7, the major version Google Colab ships
# (the course pins ipywidgets 8 everywhere else).
#
# A second venv, .venv-ipyw7, holds ONLY ipywidgets 7 and its small companions;
# everything heavy (torch, matplotlib, scikit-learn, pytest, course_utils) comes
# from the main .venv through a .pth file that adds the main site-packages AFTER
# the venv's own, so the venv's ipywidgets 7 wins the import. Built once, then
# reused (rebuilt when this script's pins or the main venv's location change).
#
# Usage: bash tools/test_ipywidgets7.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

MAIN=.venv
V7=.venv-ipyw7
# ipywidgets 7.7.1 (Colab) with the releases it was made with; ipython_genutils is
# the one runtime import of ipywidgets 7 that ipywidgets 8's stack no longer has.
PINS=(ipywidgets==7.7.1 widgetsnbextension==3.6.10 jupyterlab_widgets==1.1.11 ipython_genutils==0.2.0)
WIDGET_TESTS=(tests/test_widgets_*.py)

if [ ! -x "$MAIN/bin/python" ]; then
  echo "No $MAIN: run \`make install\` first." >&2
  exit 1
fi
MAIN_SITE=$("$MAIN/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
STAMP="$V7/.ipyw7-stamp"
WANT="${PINS[*]} | $MAIN_SITE"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "Creating $V7 (${PINS[*]}; everything else from $MAIN)"
  rm -rf "$V7"
  "$MAIN/bin/python" -m venv "$V7"
  V7_SITE=$("$V7/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  # site.addsitedir appends the main site-packages to sys.path (after this venv's
  # own) and also runs its .pth files, so the editable course_utils is found too.
  echo "import site; site.addsitedir('$MAIN_SITE')" > "$V7_SITE/zz_main_venv.pth"
  # pip needs the package index here: this runs before the network is blocked.
  "$V7/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "${PINS[@]}"
  echo "$WANT" > "$STAMP"
fi

# From here on, like `make test`: no Python process may reach the network.
export COURSE_OFFLINE=1
export PYTHONPATH="$PWD/tests/offline${PYTHONPATH:+:$PYTHONPATH}"

"$V7/bin/python" - <<'EOF'
import ipywidgets, matplotlib, torch, course_utils
v = ipywidgets.__version__
print(f"ipywidgets {v} from {ipywidgets.__file__.split('site-packages')[0]}site-packages "
      f"(torch {torch.__version__}, matplotlib {matplotlib.__version__} from the main venv)")
if not v.startswith("7."):
    raise SystemExit(f"expected ipywidgets 7.x in .venv-ipyw7, got {v}: delete .venv-ipyw7 and rerun")
EOF

# 1. The widgets' unit tests (they construct every widget and drive every control).
#    ipywidgets 7 on a current ipykernel warns that ipykernel.comm.Comm is deprecated;
#    that is ipywidgets' own import (the same on Colab), not the course's to fix.
"$V7/bin/python" -m pytest -q -p no:cacheprovider \
  -W "ignore:The \`ipykernel.comm.Comm\` class has been deprecated:DeprecationWarning" \
  "${WIDGET_TESTS[@]}" "$@"

# 2. Every notebook that builds widgets, executed top to bottom in a kernel of this
#    venv (so with ipywidgets 7): no error, nothing on stderr. Outputs are not
#    compared (nbval does that under ipywidgets 8) and the notebooks are not written.
#    IPYW7_NOTEBOOKS=0 skips this part.
if [ "${IPYW7_NOTEBOOKS:-1}" != "0" ]; then
  "$V7/bin/python" - <<'PY'
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUILDS_WIDGETS = re.compile(r"^\s*(from|import)\s+(ipywidgets|course_utils\.widgets)\b", re.M)
VERSION_CELL = "import ipywidgets\nprint(ipywidgets.__version__)"
failed = []
for path in sorted(Path("notebooks").glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if not BUILDS_WIDGETS.search(code):
        continue
    nb.cells.append(nbformat.v4.new_code_cell(VERSION_CELL))
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as exc:  # CellExecutionError names the cell and shows the traceback
        print(f"{path.name}: FAILED")
        failed.append(f"{path.name}: {type(exc).__name__}: {str(exc)[-1500:]}")
        continue
    problems = [
        f"cell {i}: stderr: {out.text.strip()[:300]}"
        for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
        for out in cell.outputs if out.get("name") == "stderr"
    ]
    kernel_version = nb.cells[-1].outputs[0].text.strip()
    if not kernel_version.startswith("7."):
        problems.append(f"the kernel ran ipywidgets {kernel_version}, not 7.x")
    print(f"{path.name}: executed with ipywidgets {kernel_version} in "
          f"{time.perf_counter() - start:.1f} s: {'FAILED' if problems else 'ok'}")
    failed += [f"{path.name}: {p}" for p in problems]
if failed:
    sys.exit("Under ipywidgets 7:\n" + "\n".join(failed))
PY
fi
