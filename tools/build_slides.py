"""Build reveal.js slide decks from the course notebooks (``make slides``).

Usage::

    python tools/build_slides.py                         # every notebook -> build/slides/
    python tools/build_slides.py --out /tmp/decks        # somewhere else
    python tools/build_slides.py notebooks/03-*.ipynb    # only some notebooks
    python tools/build_slides.py --with-solutions        # keep the hidden solution cells
    python tools/build_slides.py --assets assets         # reveal.js etc. from build/slides/assets/

Each notebook ``notebooks/NN-name.ipynb`` becomes ``NN-name.slides.html``, built
with nbconvert's ``SlidesExporter`` (reveal.js) in one process, and the tool
prints one line per deck. On top of a plain ``jupyter nbconvert --to slides``:

* **Slide structure without touching the notebooks.** In memory only: every
  markdown cell with a ``##`` heading starts a slide (the course's convention),
  whatever its metadata says, unless it is marked ``skip`` or ``notes``; the
  Colab install cell is skipped. Other cells keep their ``slideshow`` metadata,
  and cells without any are ``"-"`` (they continue the current slide). So a
  notebook with no slide metadata at all still gives one slide per section.
* **No solutions.** Cells tagged ``solution`` are left out, so the exercise
  slide shows the task and not the answer; ``--with-solutions`` keeps them.
* **Readable when projected.** A 1280x720 (16:9) slide, no ``In [n]:``
  prompts, larger code, output and text fonts, images scaled to the slide
  width, slide numbers, and long slides that scroll.
* **Offline.** Images are embedded in the HTML. reveal.js, require.js and
  jQuery (and MathJax, for formulas) are loaded from CDNs, nbconvert's
  defaults: no installed package ships a copy of reveal.js. Opened without
  internet, a deck falls back to one long scrollable page with a note saying
  why. ``--assets DIR`` loads the three from a folder next to the decks
  instead (see docs/teaching.md for how to fill it).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "slides"
DEFAULT_REVEAL_PREFIX = "https://unpkg.com/reveal.js@4.0.2"  # nbconvert's default
#: With --assets DIR, the files the decks load from DIR (a path relative to the decks).
LOCAL_ASSETS = {
    "reveal_url_prefix": "reveal.js",  # an unpacked reveal.js 4 release (dist/, plugin/)
    "require_js_url": "require.min.js",  # require.js 2.x
    "jquery_url": "jquery.min.js",  # jQuery 2.x or later
}

_H2 = re.compile(r"^ {0,3}##(?!#)\s")  # a level-2 ATX heading line
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

# Injected before </head>, after nbconvert's and the reveal theme's styles, so it wins.
# Sizes are in slide pixels: reveal.js scales the whole 1280x720 slide to the screen.
SLIDE_CSS = """
<style type="text/css" id="course-slide-style">
/* Course slides: readable when projected (tools/build_slides.py). */
.reveal .jp-RenderedMarkdown { font-size: 26px; line-height: 1.35; }
.reveal .jp-RenderedMarkdown h1 { font-size: 1.9em; }
.reveal .jp-RenderedMarkdown h2 { font-size: 1.5em; }
.reveal .jp-RenderedMarkdown h3 { font-size: 1.2em; }
.reveal .jp-RenderedMarkdown code { font-size: 0.92em; }
.reveal .jp-Cell .highlight pre,
.reveal .jp-RenderedMarkdown pre,
.reveal .jp-OutputArea-output pre {
  font-size: 19px; line-height: 1.3; width: 100%; margin: 0.2em 0;
  box-shadow: none; white-space: pre-wrap; word-break: break-word;
}
.reveal .jp-OutputArea-output pre { font-size: 18px; }
.reveal .jp-RenderedMarkdown table, .reveal .jp-OutputArea-output table { font-size: 20px; }
.reveal section img, .reveal .jp-OutputArea-output img, .reveal .jp-RenderedMarkdown img {
  max-width: 100%; height: auto; margin: 0.2em 0;
}
#course-offline-note {
  display: none; margin: 0.5em; padding: 0.6em 1em; font: 18px sans-serif;
  background: #fff3cd; border: 1px solid #e0c36a; border-radius: 4px;
}
</style>
"""

# Shown when reveal.js did not start: require.js missing at once, or no slide deck
# after require.js's own 15 s timeout. The content is then a plain long page.
OFFLINE_NOTE = """
<div id="course-offline-note">reveal.js could not be loaded (it comes from a CDN:
{prefix}), so the slides are shown as one long page. Connect to the internet and
reload, or see docs/teaching.md for presenting without internet.</div>
<script>
window.addEventListener("load", function () {{
  function note() {{
    if (!document.querySelector(".reveal.ready")) {{
      document.getElementById("course-offline-note").style.display = "block";
    }}
  }}
  if (typeof require === "undefined") {{ note(); }} else {{ setTimeout(note, 16000); }}
}});
</script>
"""


def heading_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a markdown cell with a ``##`` heading line (outside code fences)."""
    if cell.cell_type != "markdown":
        return False
    in_fence = False
    for line in cell.source.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and _H2.match(line):
            return True
    return False


def is_colab_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "google.colab" in cell.source


def slide_type(cell: nbformat.NotebookNode) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def prepare(nb: nbformat.NotebookNode, with_solutions: bool = False) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the slide structure described in the module docstring."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        show = cell.metadata.setdefault("slideshow", {})
        current = show.get("slide_type", "-")
        if is_colab_cell(cell):
            show["slide_type"] = "skip"
        elif "solution" in cell.metadata.get("tags", []) and not with_solutions:
            show["slide_type"] = "skip"
        elif heading_cell(cell) and current not in ("skip", "notes"):
            show["slide_type"] = "slide"
        elif "slide_type" not in show:
            show["slide_type"] = "-"
    return nb


def count_slides(nb: nbformat.NotebookNode) -> int:
    """Top-level slides in a prepared notebook (nbconvert opens one at the first visible cell)."""
    visible = [slide_type(c) for c in nb.cells if slide_type(c) not in ("skip", "notes")]
    if not visible:
        return 0
    return visible.count("slide") + (visible[0] != "slide")


def make_exporter(assets: str | None = None):
    """nbconvert's SlidesExporter set up for the course; ``assets``: see ``--assets``."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter()
    if assets is not None:
        folder = assets.strip().rstrip("/")
        if not folder or folder.startswith("/") or "://" in folder:
            raise ValueError(
                f"assets must be a folder relative to the decks, such as 'assets', got {assets!r}"
            )
        for trait, name in LOCAL_ASSETS.items():
            setattr(exporter, trait, f"{folder}/{name}")
    exporter.reveal_width = "1280"
    exporter.reveal_height = "720"
    exporter.reveal_scroll = True
    exporter.reveal_number = "c/t"
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    return exporter


def customise(html: str, reveal_prefix: str) -> str:
    """Add the course's CSS and the offline note to an exported deck."""
    if html.count("</head>") != 1 or html.count("<main>") != 1:
        raise RuntimeError(
            "nbconvert's reveal template changed (expected one </head> and one <main>); "
            "update customise() in tools/build_slides.py"
        )
    html = html.replace("</head>", SLIDE_CSS + "</head>")
    return html.replace("<main>", OFFLINE_NOTE.format(prefix=reveal_prefix) + "<main>")


def build_deck(
    path: Path, out_dir: Path, exporter, with_solutions: bool = False
) -> tuple[Path, int]:
    """Write ``out_dir/<name>.slides.html`` for one notebook; return (path, number of slides)."""
    nb = prepare(nbformat.read(path, as_version=4), with_solutions)
    slides = count_slides(nb)
    if slides == 0:
        raise ValueError(f"{path.name}: every cell is skipped, so there is nothing to show")
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    target = out_dir / f"{path.stem}.slides.html"
    target.write_text(customise(html, exporter.reveal_url_prefix), encoding="utf-8")
    return target, slides


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build reveal.js slide decks from the course notebooks."
    )
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to convert (default: notebooks/*.ipynb)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/slides)"
    )
    parser.add_argument(
        "--with-solutions", action="store_true", help="keep the cells tagged 'solution'"
    )
    parser.add_argument(
        "--assets",
        metavar="DIR",
        help="load reveal.js, require.js and jQuery from DIR, a folder relative to the decks "
        f"holding {', '.join(LOCAL_ASSETS.values())} (default: from CDNs)",
    )
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if not paths:
        parser.error("no notebooks found in notebooks/")
    try:
        exporter = make_exporter(args.assets)
    except ValueError as exc:
        parser.error(str(exc))

    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in paths:
        target, slides = build_deck(path, args.out, exporter, args.with_solutions)
        size = target.stat().st_size / 1024
        print(f"{path.name}: {slides} slides -> {_shown(target)} ({size:,.0f} KiB)")
    print(f"{len(paths)} decks in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
