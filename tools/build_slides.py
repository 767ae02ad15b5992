"""Build reveal.js slide decks from the course notebooks (``make slides``).

Usage::

    python tools/build_slides.py                         # every notebook -> build/slides/
    python tools/build_slides.py --out /tmp/decks        # somewhere else
    python tools/build_slides.py notebooks/03-*.ipynb    # only some notebooks
    python tools/build_slides.py --with-solutions        # keep the hidden solution cells

Each notebook ``notebooks/NN-name.ipynb`` becomes ``NN-name.slides.html``, built
with nbconvert's ``SlidesExporter`` (reveal.js) in one process, and the tool
prints one line per deck. On top of a plain ``jupyter nbconvert --to slides``:

* **One slide structure, for RISE and for the decks**
  (:func:`lecture_slide_types`): the title and every ``##`` section start a
  slide, code cells appear one by one (fragments), the Colab cell, the badges
  and the solution cells are left out. ``--set-metadata`` writes it into the
  notebooks' ``slideshow`` metadata, which is what RISE reads (a test checks
  every notebook carries it); the decks compute it in memory, whatever the
  metadata says, and keep the exercise tasks (a lecture in RISE skips them).
* **No solutions.** Cells tagged ``solution`` are left out, so the exercise
  slide shows the task and not the answer; ``--with-solutions`` keeps them.
* **Readable when projected.** A 1280x720 (16:9) slide, no ``In [n]:``
  prompts, larger code, output and text fonts, images scaled to the slide
  width, slide numbers, and long slides that scroll.
* **Offline.** Each deck is one self-contained HTML file: images, reveal.js
  and its stylesheets are inlined, and nothing is loaded from the internet (no
  CDN, no require.js, jQuery or MathJax). reveal.js comes from the copy that
  ``make install`` downloads once into ``.venv/vendor`` (the reveal.js release
  that the ``sphinx-revealjs`` wheel ships, read straight from the wheel); the
  course's template is ``tools/slides_template/course_reveal``. Copy a deck to
  a USB stick and it still presents.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "slides"
TEMPLATES = Path(__file__).resolve().parent / "slides_template"
#: Where ``make install`` puts the wheel that carries reveal.js (see the Makefile).
VENDOR = Path(sys.prefix) / "vendor"
REVEAL_WHEEL = "sphinx_revealjs-*.whl"
REVEAL_IN_WHEEL = "sphinx_revealjs/_static/revealjs/"
REVEAL_THEME = "white"
#: A placeholder prefix in nbconvert's two <link>s, replaced by the inlined stylesheets.
INLINE_PREFIX = "course-inline-reveal"

#: A linked badge image from the web ([![alt](https://...svg)](https://...)): the
#: Colab/Binder badges, which mean nothing on a slide and would need the internet.
_WEB_BADGE = re.compile(r"\[!\[[^\]]*\]\(https?://[^)]*\)\]\([^)]*\)[ \t]*")
_H2 = re.compile(r"^ {0,3}##(?!#)\s")  # a level-2 ATX heading line
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

# Injected before </head>, after nbconvert's and the reveal theme's styles, so it wins.
# Sizes are in slide pixels: reveal.js scales the whole 1280x720 slide to the screen.
SLIDE_CSS = """
<style type="text/css" id="course-slide-style">
/* Course slides: readable when projected (tools/build_slides.py). */
.reveal .jp-RenderedMarkdown { font-size: 26px; line-height: 1.35; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none; }
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
</style>
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


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def _heading_text(cell: nbformat.NotebookNode) -> str:
    return next((line for line in cell.source.splitlines() if _H2.match(line)), "")


def lecture_slide_types(
    nb: nbformat.NotebookNode, show_exercises: bool = False, show_solutions: bool = False
) -> list[str]:
    """The slide type of every cell for presenting the notebook (RISE and ``make slides``).

    The title cell and every ``##`` heading start a slide; code cells appear one by
    one (``fragment``), markdown continues the slide (``-``); the Colab cell is
    skipped, and so are the solution cells and, in a lecture, the exercise section
    after its ``## Exercises`` slide (``show_exercises`` keeps the tasks,
    ``show_solutions`` the solutions).
    """
    types, in_exercises = [], False
    for index, cell in enumerate(nb.cells):
        if heading_cell(cell):
            in_exercises = _heading_text(cell).lstrip("# ").lower().startswith("exercise")
        if is_colab_cell(cell) or (is_solution(cell) and not show_solutions):
            types.append("skip")
        elif index == 0 or heading_cell(cell):
            types.append("slide")
        elif in_exercises and not (show_exercises or show_solutions):
            types.append("skip")
        else:
            types.append("fragment" if cell.cell_type == "code" else "-")
    return types


def set_lecture_metadata(nb: nbformat.NotebookNode) -> bool:
    """Store :func:`lecture_slide_types` in the cells' ``slideshow`` metadata (for RISE).

    Returns whether anything changed.
    """
    changed = False
    for cell, kind in zip(nb.cells, lecture_slide_types(nb), strict=True):
        if cell.metadata.get("slideshow") != {"slide_type": kind}:
            cell.metadata["slideshow"] = {"slide_type": kind}
            changed = True
    return changed


def prepare(nb: nbformat.NotebookNode, with_solutions: bool = False) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the slide structure described in the module docstring."""
    nb = copy.deepcopy(nb)
    kinds = lecture_slide_types(nb, show_exercises=True, show_solutions=with_solutions)
    for cell, kind in zip(nb.cells, kinds, strict=True):
        if cell.cell_type == "markdown":
            cell.source = _WEB_BADGE.sub("", cell.source)
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def count_slides(nb: nbformat.NotebookNode) -> int:
    """Top-level slides in a prepared notebook (nbconvert opens one at the first visible cell)."""
    visible = [slide_type(c) for c in nb.cells if slide_type(c) not in ("skip", "notes")]
    if not visible:
        return 0
    return visible.count("slide") + (visible[0] != "slide")


def reveal_assets(vendor: Path = VENDOR) -> dict[str, str]:
    """reveal.js's script, notes plugin and stylesheets, read from the vendored wheel."""
    wheels = sorted(vendor.glob(REVEAL_WHEEL))
    if not wheels:
        raise FileNotFoundError(
            f"reveal.js is not installed: no {REVEAL_WHEEL} in {vendor}. Run `make install` "
            "(it downloads it once, while the package index is reachable)."
        )
    with zipfile.ZipFile(wheels[-1]) as wheel:

        def read(name: str) -> str:
            return wheel.read(REVEAL_IN_WHEEL + name).decode("utf-8")

        assets = {
            "js": read("dist/reveal.js"),
            "notes_js": read("plugin/notes/notes.js"),
            "css": read("dist/reveal.css"),
            # The theme @imports web fonts from a relative folder; the fallbacks are fine.
            "theme_css": re.sub(r"@import url\([^)]*\);?", "", read(f"dist/theme/{REVEAL_THEME}.css")),
        }
    for key in ("js", "notes_js"):  # a "</script" inside inlined code would end the tag
        assets[key] = assets[key].replace("</script", "<\\/script")
    return assets


def make_exporter():
    """nbconvert's SlidesExporter with the course's offline template and settings."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="course_reveal")
    exporter.reveal_url_prefix = INLINE_PREFIX
    exporter.reveal_theme = REVEAL_THEME
    exporter.reveal_width = "1280"
    exporter.reveal_height = "720"
    exporter.reveal_scroll = True
    exporter.reveal_number = "c/t"
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    return exporter


def customise(html: str, assets: dict[str, str]) -> str:
    """Inline reveal.js's stylesheets and add the course's CSS to an exported deck."""
    styles = {
        "dist/reveal.css": f'<style id="course-reveal-css">\n{assets["css"]}\n</style>',
        f"dist/theme/{REVEAL_THEME}.css": f'<style id="theme">\n{assets["theme_css"]}\n</style>',
    }
    for name, style in styles.items():
        link = re.compile(rf'<link\b[^>]*href="{INLINE_PREFIX}/{re.escape(name)}"[^>]*>')
        html, found = link.subn(lambda _, style=style: style, html)
        if found != 1 or "</head>" not in html:
            raise RuntimeError(
                f"nbconvert's reveal template changed (expected one <link> to {name} and a "
                "</head>); update customise() in tools/build_slides.py"
            )
    # The first </head> is the page's (the inlined reveal.js mentions the tag later on).
    return html.replace("</head>", SLIDE_CSS + "</head>", 1)


def build_deck(
    path: Path, out_dir: Path, exporter, with_solutions: bool = False,
    assets: dict[str, str] | None = None,
) -> tuple[Path, int]:
    """Write ``out_dir/<name>.slides.html`` for one notebook; return (path, number of slides)."""
    assets = assets if assets is not None else reveal_assets()
    nb = prepare(nbformat.read(path, as_version=4), with_solutions)
    slides = count_slides(nb)
    if slides == 0:
        raise ValueError(f"{path.name}: every cell is skipped, so there is nothing to show")
    resources = {"metadata": {"name": path.stem}, "course_reveal": assets}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    target = out_dir / f"{path.stem}.slides.html"
    target.write_text(customise(html, assets), encoding="utf-8")
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
        "--set-metadata", action="store_true",
        help="write the lecture slide types into the notebooks' metadata (for RISE) and stop",
    )
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if not paths:
        parser.error("no notebooks found in notebooks/")
    if args.set_metadata:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            if set_lecture_metadata(nb):
                nbformat.write(nb, path)
                print(f"{path.name}: slide metadata updated")
        return 0
    try:
        assets = reveal_assets()
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    exporter = make_exporter()

    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for path in paths:
        target, slides = build_deck(path, args.out, exporter, args.with_solutions, assets)
        size = target.stat().st_size / 1024
        print(f"{path.name}: {slides} slides -> {_shown(target)} ({size:,.0f} KiB)")
    print(f"{len(paths)} decks in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
