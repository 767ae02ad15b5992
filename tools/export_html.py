"""Export the executed notebooks to static HTML pages (``make html``).

Usage: ``python tools/export_html.py [NOTEBOOK ...] [--out build/html]``
(default: every notebook in ``notebooks/``, into ``build/html/``, plus an
``index.html`` that links them in order).

Nothing is executed: the pages show the outputs committed in the notebooks
(``make regen`` runs them). Widgets keep working as far as a page can without
a kernel: ``tools/run_notebooks.py`` executes with nbclient, which saves every
widget's last state in the notebook metadata, and nbconvert embeds that state
in the page, where the ipywidgets HTML manager (loaded from a CDN) renders the
widgets as they were: figure, summary text and controls, which can be moved but
no longer compute anything.

Where that script cannot load (offline, or blocked), each widget also carries a
static snapshot written here: its figure(s) as images, its summary text and its
control values. The page hides the snapshot once the live widget has rendered.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# The lab template, plus a snapshot under each widget view and the CSS that hides
# it once the HTML manager has rendered the live widget in the same output.
TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head -%}
{{ super() }}
<style>
.course-widget-snapshot { border-left: 3px solid #ccc; padding: 0.3em 0 0.3em 0.8em;
  font-family: var(--jp-content-font-family, system-ui, sans-serif); }
.course-widget-snapshot img { max-width: 100%; }
.course-widget-snapshot .course-controls { color: #555; font-size: 0.9em; }
.jupyter-widgets:has(.lm-Widget) > .course-widget-snapshot { display: none; }
</style>
{%- endblock html_head -%}
{#- nbconvert's own block (lab/base.html.j2), with the snapshot inside the output div -#}
{%- block data_widget_view scoped %}
{% set div_id = uuid4() %}
{% set datatype = (output.data | filter_data_type)[0] %}
<div id="{{ div_id }}" class="jupyter-widgets jp-OutputArea-output {{ extra_class }}">
<script type="text/javascript">
var element = document.getElementById('{{ div_id }}');
</script>
<script type="{{ datatype }}">
{{ output.data[datatype] | json_dumps | escape_html_script }}
</script>
{{ output.data[datatype] | widget_snapshot(nb.metadata) }}
</div>
{%- endblock data_widget_view -%}
"""


def _models(metadata: dict) -> dict[str, dict]:
    return metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _child_ids(state: dict) -> list[str]:
    children = state.get("children", [])
    return [c.removeprefix("IPY_MODEL_") for c in children if isinstance(c, str)]


def _control_text(state: dict) -> str | None:
    """``description = value`` for a slider, toggle or dropdown; None for anything else."""
    description = state.get("description") or ""
    if "index" in state and "_options_labels" in state:  # selection widgets store the index
        index = state["index"]
        labels = state["_options_labels"]
        value = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else None
    elif "value" in state and isinstance(state["value"], int | float | bool):
        value = state["value"]
    else:
        return None
    if value is None or not description:
        return None
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{html.escape(description)} = {html.escape(shown)}"


def _snapshot_parts(model_id: str, models: dict[str, dict], parts: dict[str, list[str]]) -> None:
    model = models.get(model_id)
    if model is None:
        return
    name, state = model.get("model_name", ""), model.get("state", {})
    if name == "ImageModel":
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding", "base64") == "base64":
                fmt = html.escape(state.get("format", "png"))
                parts["figures"].append(f'<img src="data:image/{fmt};base64,{buffer["data"]}" alt="figure">')
    elif name == "OutputModel":
        for out in state.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                png = "".join(data["image/png"]).strip()
                parts["figures"].append(f'<img src="data:image/png;base64,{png}" alt="figure">')
            elif out.get("output_type") == "stream" or "text/plain" in data:
                text = out.get("text") or "".join(data.get("text/plain", ""))
                parts["texts"].append(f"<pre>{html.escape(text)}</pre>")
    elif name == "HTMLModel":
        if state.get("value"):
            parts["texts"].append(f"<div>{state['value']}</div>")  # the course widget's own HTML
    elif name == "LabelModel":
        if state.get("value"):
            parts["texts"].append(f"<div>{html.escape(state['value'])}</div>")
    else:
        control = _control_text(state)
        if control:
            parts["controls"].append(control)
    for child in _child_ids(state):
        _snapshot_parts(child, models, parts)


def widget_snapshot(view: dict, metadata: dict) -> str:
    """Static HTML for one widget view: its figures, summary text and control values."""
    model_id = view.get("model_id") if isinstance(view, dict) else None
    models = _models(metadata)
    if not model_id or model_id not in models:
        return ""
    parts: dict[str, list[str]] = {"figures": [], "texts": [], "controls": []}
    _snapshot_parts(model_id, models, parts)
    if not any(parts.values()):
        return ""
    controls = ""
    if parts["controls"]:
        controls = (
            '<div class="course-controls">Interactive widget (run the notebook to use it). '
            "Settings shown: " + " · ".join(parts["controls"]) + "</div>"
        )
    body = controls + "".join(parts["figures"]) + "".join(parts["texts"])
    return f'<div class="course-widget-snapshot">{body}</div>'


def make_exporter() -> HTMLExporter:
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"course_widgets.html.j2": TEMPLATE})],
    )
    exporter.template_file = "course_widgets.html.j2"
    exporter.register_filter("widget_snapshot", widget_snapshot)
    return exporter


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first ``# `` heading of the notebook (after any badge line), else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def export(path: Path, out_dir: Path, exporter: HTMLExporter | None = None) -> Path:
    """Write ``out_dir/<notebook name>.html`` and return its path."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if code and not any(c.outputs for c in code):
        raise ValueError(f"{path.name} has no outputs: run `make regen NB={path}` before exporting")
    has_views = any(
        WIDGET_VIEW in out.get("data", {}) for c in code for out in c.outputs
    )
    if has_views and not _models(nb.metadata):
        raise ValueError(
            f"{path.name} shows widgets but holds no widget state; re-execute it with "
            "`make regen` (nbclient saves the state) before exporting"
        )
    exporter = exporter or make_exporter()
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title_of(nb, path.stem)}})
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def write_index(pages: list[tuple[str, str]], out_dir: Path) -> Path:
    """An ``index.html`` listing ``(file name, title)`` pairs in order."""
    items = "\n".join(
        f'    <li><a href="{html.escape(name)}">{html.escape(title)}</a></li>' for name, title in pages
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>PyTorch train mode vs eval mode: the notebooks</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5; }}
    li {{ margin: 0.4em 0; }}
  </style>
</head>
<body>
  <h1>PyTorch train mode vs eval mode</h1>
  <p>Static copies of the executed notebooks. Widgets show their last state; to move
  them and see the model react, run the notebooks (JupyterLab, Binder or Colab).</p>
  <ol start="0">
{items}
  </ol>
</body>
</html>
"""
    target = out_dir / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    exporter = make_exporter()
    pages = []
    for path in paths:
        target = export(path, args.out, exporter)
        nb = nbformat.read(path, as_version=4)
        pages.append((target.name, title_of(nb, path.stem)))
        print(f"{path.name} -> {target} ({target.stat().st_size / 1e6:.1f} MB)")
    index = write_index(pages, args.out)
    print(f"index: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
