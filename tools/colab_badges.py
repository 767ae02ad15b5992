"""Put "Open in Colab" and "launch Binder" badges at the top of every notebook.

Usage::

    python tools/colab_badges.py [NOTEBOOK ...]      # add or refresh the badges
    python tools/colab_badges.py --check [NOTEBOOK ...]  # exit 1 if any is missing or stale

Default: every notebook in ``notebooks/``. The badges go on the first line of
the notebook's FIRST markdown cell (above the title), each linking to that
notebook. Running it again changes nothing; a badge line left by an older run
(another repository URL, say) is replaced, never duplicated. Only that cell's
source changes: code cells, outputs, metadata and the JSON layout stay byte for
byte what they were.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# The course's public repository and branch (the Colab cell of every notebook
# installs course_utils from the same place).
REPO = "train-eval-course/pytorch-train-vs-eval"
BRANCH = "main"
NOTEBOOK_DIR = "notebooks"

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
# A badge line written by this tool (any repository): it starts with the Colab badge.
BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")

ROOT = Path(__file__).resolve().parent.parent


def colab_url(name: str) -> str:
    """Where Colab opens ``notebooks/<name>`` straight from GitHub."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{NOTEBOOK_DIR}/{name}"


def binder_url(name: str) -> str:
    """A Binder session of the repository with ``notebooks/<name>`` open in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{REPO}/HEAD?urlpath=lab/tree/{NOTEBOOK_DIR}/{name}"


def badge_line(name: str) -> str:
    """The markdown line with both badges for the notebook file ``name``."""
    if not name.endswith(".ipynb") or "/" in name:
        raise ValueError(f"pass a notebook file name such as '00-start-here.ipynb', got {name!r}")
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(name)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({binder_url(name)})"
    )


def with_badges(source: str, name: str) -> str:
    """``source`` (a markdown cell) with the badge line on top, replacing an old one."""
    lines = source.split("\n")
    if lines and BADGE_LINE.match(lines[0]):
        lines = lines[1:]
        while lines and not lines[0].strip():  # the blank line after the badges
            lines = lines[1:]
    return badge_line(name) + "\n\n" + "\n".join(lines)


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _as_lines(text: str) -> list[str]:
    """Split like nbformat does when it writes a notebook: keep each line's newline."""
    return text.splitlines(keepends=True)


def _dump(nb: dict) -> str:
    # nbformat's own on-disk layout (nbformat.writes): sorted keys, indent 1, UTF-8.
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def update_notebook(path: Path, write: bool = True) -> bool:
    """Add or refresh the badges of one notebook. Returns True if it was (or would be) changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{path}: not a Jupyter notebook (no list of cells)")
    first = next((c for c in cells if c.get("cell_type") == "markdown"), None)
    if first is None:
        raise ValueError(
            f"{path}: has no markdown cell; the badges go above the title in the first one "
            "(CONTRIBUTING.md: every notebook opens with a markdown title cell)"
        )
    old = _source_text(first)
    new = with_badges(old, path.name)
    if new == old:
        return False
    first["source"] = _as_lines(new) if isinstance(first.get("source"), list) else new
    if write:
        if _dump(json.loads(text)) != text:
            # Re-serialising would reformat the whole file: refuse rather than touch the rest.
            raise ValueError(
                f"{path}: is not in nbformat's layout; run `make regen NB={path}` first"
            )
        path.write_text(_dump(nb), encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a notebook needs badges"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / NOTEBOOK_DIR).glob("*.ipynb"))
    stale = []
    for path in paths:
        if update_notebook(path, write=not args.check):
            stale.append(path)
            print(f"{path.name}: {'needs badges' if args.check else 'badges added'}")
    if not stale:
        print(f"all {len(paths)} notebooks have up-to-date badges")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
