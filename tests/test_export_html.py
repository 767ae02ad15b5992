"""`make html`: static pages whose widgets still show their figures, without a kernel."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


export_html = _load_tool("export_html")
run_notebooks = _load_tool("run_notebooks")


def snapshot_pngs(page: str) -> list[bytes]:
    """The decoded PNG images inside the page's static widget snapshots."""
    pngs = []
    for snapshot in re.findall(r'<div class="course-widget-snapshot">(.*?)</div>\s*</div>', page, re.S):
        for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', snapshot):
            pngs.append(base64.b64decode(data))
    return pngs


def embedded_state(page: str) -> dict:
    match = re.search(rf'<script type="{re.escape(WIDGET_STATE)}">\s*(.*?)\s*</script>', page, re.S)
    assert match, "the page embeds no widget state"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def executed_widget_notebook(tmp_path_factory) -> Path:
    """A tiny notebook with the real ModeExplorer, executed the way `make regen` does."""
    path = tmp_path_factory.mktemp("export") / "99-widget-check.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · Widget check\n\nOne widget, exported."),
        nbformat.v4.new_code_cell(
            "from course_utils import setup\nfrom course_utils.widgets import ModeExplorer\n\n"
            "device = setup(seed=0)\nexplorer = ModeExplorer(p=0.5, seed=0)\nexplorer"
        ),
        nbformat.v4.new_code_cell("explorer.mode_toggle.value = 'eval'\nexplorer.state['mode']"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    run_notebooks.run(path)
    return path


def test_run_notebooks_saves_the_widget_state(executed_widget_notebook: Path):
    nb = nbformat.read(executed_widget_notebook, as_version=4)
    models = nb.metadata["widgets"][WIDGET_STATE]["state"]
    images = [m for m in models.values() if m["model_name"] == "ImageModel"]
    assert images and images[0]["buffers"][0]["path"] == ["value"]
    toggles = [m["state"] for m in models.values() if m["model_name"] == "ToggleButtonsModel"]
    assert toggles[0]["index"] == 1, "the state should be the last one (eval, set by the 2nd cell)"


def test_the_page_embeds_the_widget_state_and_a_static_snapshot(executed_widget_notebook, tmp_path):
    page_path = export_html.export(executed_widget_notebook, tmp_path)
    assert page_path == tmp_path / "99-widget-check.html"
    page = page_path.read_text(encoding="utf-8")

    state = embedded_state(page)
    names = {m["model_name"] for m in state["state"].values()}
    assert {"ImageModel", "ToggleButtonsModel", "FloatSliderModel", "HTMLModel"} <= names
    assert '<script type="application/vnd.jupyter.widget-view+json">' in page
    assert "@jupyter-widgets/html-manager" in page, "the page should load the widget renderer"

    pngs = snapshot_pngs(page)
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC), "one figure per ModeExplorer"
    assert "mode: eval" in page and "dropout p = 0.5" in page  # summary text and control values
    assert "<title>99 · Widget check</title>" in page


def test_a_committed_notebook_exports_with_its_figures(tmp_path):
    with_widgets = [
        p for p in NOTEBOOKS
        if any(m.get("model_name") == "ImageModel" for m in export_html._models(
            nbformat.read(p, as_version=4).metadata).values())
    ]
    if not with_widgets:
        pytest.skip("no committed notebook has a figure widget yet")
    page = export_html.export(with_widgets[0], tmp_path).read_text(encoding="utf-8")
    embedded_state(page)
    assert snapshot_pngs(page), f"{with_widgets[0].name}: no widget figure in the static page"
    assert 'src="data:image/png;base64,' in page


def test_index_links_every_page_in_order(tmp_path):
    export_html.main(["--out", str(tmp_path), *map(str, NOTEBOOKS[:2])])
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">', index)
    assert links == [f"{p.stem}.html" for p in NOTEBOOKS[:2]]
    assert all((tmp_path / link).exists() for link in links)
    title = export_html.title_of(nbformat.read(NOTEBOOKS[0], as_version=4), "")
    assert title and title in index


def test_an_unexecuted_notebook_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    path = tmp_path / "98-not-run.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="no outputs: run `make regen"):
        export_html.export(path, tmp_path / "out")
