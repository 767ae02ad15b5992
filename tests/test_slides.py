"""``make slides`` builds one readable reveal.js deck per notebook, one slide per ``##`` section.

The decks are built once, in one process, into a temporary folder (``--out``).
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOOL = ROOT / "tools" / "build_slides.py"

_spec = importlib.util.spec_from_file_location("build_slides", TOOL)
build_slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_slides)


class SlideOutline(HTMLParser):
    """Top-level reveal.js slides (outer <section>s) and the slide each <h2> is on."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.slides = 0
        self.h2_slides: list[int] = []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.slides += 1
        elif tag == "h2":
            self.h2_slides.append(self.slides if self.depth else 0)

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1


def outline(text: str) -> SlideOutline:
    parser = SlideOutline()
    parser.feed(text)
    return parser


def plain_text(text: str) -> str:
    """The deck's visible text (tags removed; pygments splits code into many spans)."""
    body = text.split("<main>", 1)[1]
    body = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def section_cells(path: Path) -> int:
    """Markdown cells with a ``##`` heading that are shown (not skip/notes)."""
    nb = build_slides.prepare(nbformat.read(path, as_version=4))
    return sum(
        build_slides.heading_cell(c) and build_slides.slide_type(c) not in ("skip", "notes")
        for c in nb.cells
    )


def distinctive_lines(path: Path) -> list[str]:
    """For each solution cell, a line of code that appears in no other cell."""
    nb = nbformat.read(path, as_version=4)
    others = "\n".join(c.source for c in nb.cells if "solution" not in c.metadata.get("tags", []))
    found = []
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            lines = [ln.strip() for ln in cell.source.splitlines() if len(ln.strip()) > 15]
            unique = [ln for ln in lines if ln not in others]
            if unique:
                found.append(unique[0])
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    sources = {p: p.read_bytes() for p in NOTEBOOKS}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert build_slides.main(["--out", str(out)]) == 0
    return out, printed.getvalue(), sources


def deck(out: Path, path: Path) -> str:
    return (out / f"{path.stem}.slides.html").read_text(encoding="utf-8")


def test_there_are_notebooks_to_build():
    assert NOTEBOOKS


def test_one_line_per_deck_and_nothing_else_in_the_folder(built):
    out, printed, _ = built
    lines = printed.strip().splitlines()
    assert len(lines) == len(NOTEBOOKS) + 1, printed
    for path, line in zip(NOTEBOOKS, lines, strict=False):
        assert line.startswith(f"{path.name}: ") and "slides ->" in line, line
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.slides.html" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deck_has_reveal_markup_and_one_slide_per_section(built, path):
    out, _, _ = built
    text = deck(out, path)
    assert len(text) > 10_000
    for marker in ('class="reveal"', 'class="slides"', "Reveal.initialize", 'id="course-reveal-js"'):
        assert marker in text, f"{path.name}: no {marker!r} in the deck"
    shape = outline(text)
    sections = section_cells(path)
    assert sections >= 1, f"{path.name} has no ## sections"
    assert shape.slides >= sections + 1, f"{path.name}: {shape.slides} slides for {sections} sections"
    # every ## heading opens its own slide: no two sections share one
    assert len(shape.h2_slides) >= sections
    assert 0 not in shape.h2_slides, f"{path.name}: a heading outside any slide"
    assert len(set(shape.h2_slides)) >= sections, f"{path.name}: sections share a slide"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deck_is_readable_and_hides_colab_and_solutions(built, path):
    out, _, _ = built
    text = deck(out, path)
    assert 'id="course-slide-style"' in text and "font-size: 19px" in text
    assert "max-width: 100%" in text  # images scaled to the slide
    assert 'id="course-reveal-css"' in text and '<style id="theme">' in text
    assert "width: 1280" in text and "height: 720" in text
    visible = plain_text(text)
    assert "google.colab" not in visible, f"{path.name}: the Colab cell is on a slide"
    assert not re.search(r"In\s*\[\d*\]:", visible), f"{path.name}: input prompts are shown"
    for line in distinctive_lines(path):
        assert line not in visible, f"{path.name}: a solution cell is on a slide ({line!r})"


def test_building_leaves_the_notebooks_unchanged(built):
    _, _, sources = built
    for path, before in sources.items():
        assert path.read_bytes() == before, f"{path.name} was modified by the slide build"


def test_headings_start_slides_without_any_slide_metadata(tmp_path):
    """A notebook with no slideshow metadata still gets one slide per ## section."""
    source = ROOT / "notebooks" / "10-common-mistakes.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        cell["metadata"].pop("slideshow", None)
    bare = tmp_path / "10-bare.ipynb"
    bare.write_text(json.dumps(nb), encoding="utf-8")
    exporter = build_slides.make_exporter()
    target, slides = build_slides.build_deck(bare, tmp_path, exporter)
    text = target.read_text(encoding="utf-8")
    shape = outline(text)
    sections = section_cells(bare)
    assert "google.colab" not in plain_text(text)  # the Colab cell is recognised and skipped
    assert sections >= 10
    assert slides == shape.slides == sections + 1  # the title slide, then one per section
    assert len(set(shape.h2_slides)) == sections
    assert "slideshow" not in json.loads(bare.read_text(encoding="utf-8"))["cells"][0]["metadata"]


class ExternalResources(HTMLParser):
    """Every resource the page loads by itself (script/link/img/iframe/...), not links to click."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        keys = ("src", "href") if tag in ("script", "link", "img", "iframe", "source", "embed") else ("src",)
        for key in keys:
            value = attrs.get(key) or ""
            if re.match(r"(https?:)?//", value):
                self.urls.append(f"<{tag} {key}={value}>")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deck_loads_nothing_from_the_internet(built, path):
    out, _, _ = built
    text = deck(out, path)
    parser = ExternalResources()
    parser.feed(text)
    assert not parser.urls, f"{path.name} loads {parser.urls[:5]}: the deck must work offline"
    # No CDN script loader or @import of web fonts either.
    for needle in ("unpkg.com", "cdnjs.cloudflare.com", "cdn.jsdelivr.net", "require.js", "@import url("):
        assert needle not in text, f"{path.name} still mentions {needle!r}"


def test_with_solutions(tmp_path):
    source = ROOT / "notebooks" / "10-common-mistakes.ipynb"
    lines = distinctive_lines(source)
    assert lines, "notebook 10 should have solution cells"
    exporter = build_slides.make_exporter()
    target, _ = build_slides.build_deck(source, tmp_path, exporter, with_solutions=True)
    visible = plain_text(target.read_text(encoding="utf-8"))
    assert all(line in visible for line in lines)


def test_missing_reveal_js_says_to_run_make_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="make install"):
        build_slides.reveal_assets(tmp_path)


def test_command_line(tmp_path):
    one = ROOT / "notebooks" / "00-start-here.ipynb"
    done = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(tmp_path / "decks"), str(one)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("00-start-here.ipynb: ")
    assert (tmp_path / "decks" / "00-start-here.slides.html").stat().st_size > 10_000

    missing = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(tmp_path), "notebooks/99-nothing.ipynb"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


# ---------------------------------------------------------------------------
# Live slides (RISE) read the notebooks' own slide metadata
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_carries_the_lecture_slide_metadata(path):
    """What RISE shows: `python tools/build_slides.py --set-metadata` writes it."""
    nb = nbformat.read(path, as_version=4)
    stored = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    expected = build_slides.lecture_slide_types(nb)
    wrong = [(i, s, e) for i, (s, e) in enumerate(zip(stored, expected, strict=True)) if s != e]
    assert not wrong, (
        f"{path.name}: cells (index, stored, expected) {wrong[:5]}; run "
        "`python tools/build_slides.py --set-metadata`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_lecture_has_a_title_one_slide_per_section_and_no_solution(path):
    nb = nbformat.read(path, as_version=4)
    kinds = build_slides.lecture_slide_types(nb)
    assert kinds[0] == "slide", "the title cell opens the first slide"
    for cell, kind in zip(nb.cells, kinds, strict=True):
        if build_slides.is_solution(cell) or build_slides.is_colab_cell(cell):
            assert kind == "skip"
        elif build_slides.heading_cell(cell):
            assert kind == "slide"
        elif cell.cell_type == "code" and kind != "skip":
            assert kind == "fragment", "live cells appear one at a time"
    shown = [c for c, k in zip(nb.cells, kinds, strict=True) if k != "skip"]
    assert not any("google.colab" in c.source for c in shown)


def test_lecture_skips_the_exercise_section_but_the_decks_keep_the_tasks():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · Title"),
        nbformat.v4.new_code_cell("print('teach')"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_markdown_cell("### Exercise 99.1\n\nDo it."),
        nbformat.v4.new_code_cell("answer()", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("## Recap\n\n* done"),
        nbformat.v4.new_code_cell("print('after')"),
    ]
    assert build_slides.lecture_slide_types(nb) == [
        "slide", "fragment", "slide", "skip", "skip", "slide", "fragment"]
    assert build_slides.lecture_slide_types(nb, show_exercises=True) == [
        "slide", "fragment", "slide", "-", "skip", "slide", "fragment"]
    assert build_slides.lecture_slide_types(nb, show_solutions=True)[3:5] == ["-", "fragment"]
    assert build_slides.set_lecture_metadata(nb) is True
    assert build_slides.set_lecture_metadata(nb) is False  # idempotent
