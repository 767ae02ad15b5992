"""A learner's view: the ModeExplorer widget works in real JupyterLab in a real browser.

Unit tests drive the widgets from Python; this test checks the whole chain a
learner relies on: JupyterLab serves a notebook, the kernel runs it, the
ipywidgets front end renders the course widget in Chromium, and clicking a
control in the page reaches the Python callback, whose new summary text and
new figure come back to the page.

It starts ``jupyter lab`` on a free loopback port with a random token and a
temporary root holding a tiny notebook (the real ``ModeExplorer``), drives
headless Chrome or Chromium (the one ``tools/find_browser.sh`` finds, or Debian's,
installed by ``tools/install_browser.sh``) with Playwright, and saves screenshots before and
after the clicks to ``test-artifacts/``. Server, kernel and browser are shut
down even when an assertion fails, and the test checks that no process is left.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def _find_chromium() -> Path:
    """The browser tools/find_browser.sh picks ($COURSE_CHROMIUM, Chrome, Chromium...)."""
    found = subprocess.run(
        ["bash", str(ROOT / "tools" / "find_browser.sh")], capture_output=True, text=True
    )
    return Path(found.stdout.strip() or os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))


CHROMIUM = _find_chromium()
JUPYTER = Path(sys.executable).with_name("jupyter")
NOTEBOOK = "mode_explorer_check.ipynb"

# Every wait is bounded; together they keep a failing run well under a minute.
SERVER_START_S = 30
WIDGET_RENDER_S = 45
UPDATE_S = 15

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# The notebook the browser runs: the course's own setup and widget, nothing else.
CELLS = [
    "from course_utils import setup\nfrom course_utils.widgets import ModeExplorer\n\n"
    "device = setup(seed=0)",
    "explorer = ModeExplorer(p=0.5, seed=0)\nexplorer",
]

# JupyterLab user settings: never fetch news or check for updates (and so no toast
# asking about it over the page); start the notebook's kernel without a dialog.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
}

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------------------
# Preconditions: a browser to drive
# ---------------------------------------------------------------------------


def _passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def _skip_or_fail(problem: str) -> None:
    """Fail (CI, or Chromium could be installed here) or skip loudly (it cannot)."""
    fix = "run `make browser-deps` (or `bash tools/install_browser.sh`) and `make install`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem}: the browser test must run in CI; {fix}")
    # As tools/install_browser.sh decides: it installs one on Linux with apt-get, as
    # root or with password-less sudo; elsewhere the test is skipped, loudly.
    can_install = (
        sys.platform.startswith("linux")
        and shutil.which("apt-get") is not None
        and (os.geteuid() == 0 or _passwordless_sudo())
    )
    if can_install:
        pytest.fail(f"{problem}; {fix}")
    message = (
        f"!!! BROWSER TEST SKIPPED: {problem}, and tools/install_browser.sh cannot install "
        "one here. The widgets were NOT checked in a real browser."
    )
    warnings.warn(message, stacklevel=2)  # shows in the summary, even under xdist
    pytest.skip(message)


@pytest.fixture(scope="module")
def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _skip_or_fail(f"the Python package playwright is missing ({exc})")
    if not CHROMIUM.exists():
        _skip_or_fail("no Chrome or Chromium was found (tools/find_browser.sh)")
    if not JUPYTER.exists():
        _skip_or_fail(f"jupyter is not installed next to {sys.executable}")
    return sync_playwright


# ---------------------------------------------------------------------------
# JupyterLab on a free loopback port
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET", timeout: float = 5.0):
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


class Lab:
    """A running JupyterLab server (in its own session, so its kernels can be found)."""

    def __init__(self, root: Path, home: Path):
        self.root = root
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyterlab.log"
        env = dict(os.environ)
        env.update(  # keep the learner's own Jupyter config and state out of it
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(home / "ipython"),
            MPLBACKEND="module://matplotlib_inline.backend_inline",
        )
        command = [
            str(JUPYTER), "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.terminals_enabled=False",
            # No news feed, no update check, no settings or workspace from the user's home.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ]
        if os.geteuid() == 0:  # containers and CI runners often run as root
            command.append("--allow-root")
        for plugin, settings in LAB_SETTINGS.items():
            path = home / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        self.session = self.process.pid  # the session id of the server and its kernels

    def log(self, last: int = 4000) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-last:]

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {self.process.returncode}:\n{self.log()}")
            try:
                _api(self.base, self.token, "/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        pytest.fail(f"jupyter lab did not answer within {SERVER_START_S} s:\n{self.log()}")

    def wait_for_connected_kernel(self) -> None:
        """Wait until the page's kernel is idle with a live websocket, so "Run All" reaches it."""
        deadline = time.monotonic() + WIDGET_RENDER_S
        while time.monotonic() < deadline:
            kernels = _api(self.base, self.token, "/api/kernels")
            if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
                return
            time.sleep(0.3)
        pytest.fail(f"the notebook's kernel did not start within {WIDGET_RENDER_S} s:\n{self.log()}")

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={self.token}"

    def leftovers(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == self.session and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (ProcessLookupError, psutil.Error, PermissionError):
                continue
        return found

    def shutdown(self) -> list[str]:
        """Stop kernels, then the server; kill what is left. Returns what had to be killed."""
        try:
            for kernel in _api(self.base, self.token, "/api/kernels") or []:
                _api(self.base, self.token, f"/api/kernels/{kernel['id']}", method="DELETE")
            _api(self.base, self.token, "/api/shutdown", method="POST")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # already gone: the checks below still clean up
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        killed = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = self.leftovers()
            if not left:
                break
            killed = [f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in left]
            for proc in left:
                try:
                    proc.send_signal(sig)
                except psutil.Error:
                    pass
            psutil.wait_procs(left, timeout=5)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        self._log.close()
        return killed


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    home = tmp_path_factory.mktemp("lab-home")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / NOTEBOOK)
    server = Lab(root, home)
    try:
        server.wait_until_ready()
        yield server
    finally:
        killed = server.shutdown()
        left = server.leftovers()
    assert not left, f"processes still running after shutdown: {left}"
    assert not killed, (
        f"kernel or server did not stop when asked (had to be killed): {killed}\n{server.log()}"
    )


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------


def _wait_for_change(read, before: str, what: str, timeout_s: float = UPDATE_S) -> str:
    """Poll ``read()`` until it differs from ``before``; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    now = read()
    while now == before and time.monotonic() < deadline:
        time.sleep(0.2)
        now = read()
    assert now != before, f"{what} did not change within {timeout_s} s after the click"
    return now


def test_mode_explorer_reacts_to_clicks_in_jupyterlab(sync_playwright, lab: Lab):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(WIDGET_RENDER_S * 1000)
            try:
                _drive(page, lab)
            except BaseException:
                page.screenshot(path=ARTIFACTS / "browser-failure.png")
                (ARTIFACTS / "browser-failure-jupyterlab.log").write_text(lab.log(last=10**6))
                if errors:
                    (ARTIFACTS / "browser-failure-page-errors.txt").write_text("\n".join(errors))
                raise
        finally:
            browser.close()
    browsers_left = [
        f"{c.pid} {c.name()}" for c in psutil.Process().children(recursive=True)
        if "chrom" in c.name().lower() and c.status() != psutil.STATUS_ZOMBIE
    ]
    assert not browsers_left, f"Chromium processes left after closing the browser: {browsers_left}"


def _drive(page, lab: Lab) -> None:
    page.goto(lab.url(NOTEBOOK), wait_until="domcontentloaded")
    panel = page.locator(".jp-NotebookPanel").first
    panel.wait_for(state="visible")
    # "Run All" before the kernel is connected is lost (or opens a kernel dialog).
    lab.wait_for_connected_kernel()
    page.locator("li.lm-MenuBar-item", has_text="Run").first.click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    widget = panel.locator(".jp-OutputArea-output .widget-vbox").first
    toggle = widget.locator(".widget-toggle-buttons")
    summary = widget.locator(".widget-html-content").last
    slider = widget.locator(".widget-slider").first
    image = widget.locator("img").first  # the FigureHost's Image widget (PNG, no ipympl)
    toggle.wait_for(state="visible")
    image.wait_for(state="visible")
    page.wait_for_function(
        "el => el.textContent.includes('mode: train')", arg=summary.element_handle(),
        timeout=WIDGET_RENDER_S * 1000,
    )

    text_before = summary.inner_text()
    src_before = image.get_attribute("src") or ""
    pixels_before = image.screenshot()
    assert "mode: train" in text_before and "passes: 1 (1 in train mode)" in text_before, text_before
    assert src_before, "the figure has no image source"
    page.screenshot(path=ARTIFACTS / "browser-before.png")
    widget.screenshot(path=ARTIFACTS / "mode-explorer-train.png")

    # 1. Click "eval" on the train/eval toggle: the kernel switches the model's mode.
    toggle.locator("button", has_text="eval").click()
    text_eval = _wait_for_change(summary.inner_text, text_before, "the summary text")
    assert "mode: eval" in text_eval and "passes: 2 (1 in train mode)" in text_eval, text_eval
    # A new PNG arrives (a new source), and it shows something else (new pixels).
    _wait_for_change(lambda: image.get_attribute("src"), src_before, "the figure's source")
    pixels_eval = _wait_for_change(image.screenshot, pixels_before, "the figure's pixels")
    page.screenshot(path=ARTIFACTS / "browser-after-eval.png")

    # 2. Move the dropout slider one step with the keyboard: p goes 0.50 -> 0.55.
    src_eval = image.get_attribute("src")
    slider.locator(".noUi-handle, .ui-slider-handle").first.focus()
    page.keyboard.press("ArrowRight")
    text_p = _wait_for_change(summary.inner_text, text_eval, "the summary text")
    assert "mode: eval" in text_p and "p=0.55" in text_p and "passes: 3" in text_p, text_p
    _wait_for_change(lambda: image.get_attribute("src"), src_eval, "the figure's source")
    _wait_for_change(image.screenshot, pixels_eval, "the figure's pixels")
    page.screenshot(path=ARTIFACTS / "browser-after-slider.png")
    widget.screenshot(path=ARTIFACTS / "mode-explorer-widget.png")


# ---------------------------------------------------------------------------
# Live slides (RISE): the notebook presented as reveal.js slides, code running
# ---------------------------------------------------------------------------

SLIDES_NOTEBOOK = "rise_check.ipynb"
SLIDE_CELLS = [
    ("markdown", "# Train or eval?\n\nA two-slide check of live slides.", "slide"),
    ("markdown", "## Dropout after `eval()`", "slide"),
    ("code", "import torch\n\nlayer = torch.nn.Dropout(p=0.5)\nlayer.eval()\n"
             "print('mode:', 'train' if layer.training else 'eval')", "fragment"),
    ("code", "# the solution of an exercise: never on a slide\nprint('SOLUTION')", "skip"),
]


def _present_index(page) -> str:
    return page.evaluate(
        "() => { const s = document.querySelector('.reveal .slides > section.present');"
        " return s ? Array.from(s.parentNode.children).indexOf(s) + ':' + s.innerText.slice(0, 60) : '' }"
    )


def test_rise_presents_a_notebook_as_live_slides(sync_playwright, lab: Lab):
    """RISE opens the notebook as slides; arrow keys step; Shift+Enter runs a cell on its slide."""
    nb = nbformat.v4.new_notebook()
    for kind, source, slide in SLIDE_CELLS:
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(source, metadata={"slideshow": {"slide_type": slide}}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / SLIDES_NOTEBOOK)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.set_default_timeout(WIDGET_RENDER_S * 1000)
            try:
                page.goto(f"{lab.base}/rise/{SLIDES_NOTEBOOK}?token={lab.token}",
                          wait_until="domcontentloaded")
                page.wait_for_selector(".reveal.ready")
                lab.wait_for_connected_kernel()
                first = _present_index(page)
                assert first.startswith("0:") and "Train or eval?" in first, first
                assert "SOLUTION" not in page.locator(".reveal .slides").inner_text()
                page.screenshot(path=ARTIFACTS / "rise-title.png")

                page.locator(".reveal .slides > section.present .jp-Cell").first.click()
                page.keyboard.press("ArrowRight")  # -> the "## Dropout" slide
                second = _wait_for_change(lambda: _present_index(page), first, "the slide")
                assert second.startswith("1:") and "Dropout after" in second, second

                # The live cell is a fragment: Space (reveal.js's "next") shows it. Then run
                # it: Shift+Enter runs the cell and moves on, as in JupyterLab.
                cell = page.locator(".reveal .slides > section.present .jp-CodeCell").first
                page.keyboard.press("Space")
                cell.wait_for(state="visible")
                cell.locator(".jp-InputArea").click()
                page.keyboard.press("Escape")  # command mode: Shift+Enter runs, not types
                page.keyboard.press("Shift+Enter")
                page.wait_for_function(
                    "() => document.querySelector('.reveal .slides').innerText.includes('mode: eval')",
                    timeout=UPDATE_S * 1000,
                )
                page.screenshot(path=ARTIFACTS / "rise-live-cell.png")
            except BaseException:
                page.screenshot(path=ARTIFACTS / "rise-failure.png")
                (ARTIFACTS / "rise-failure-jupyterlab.log").write_text(lab.log(last=10**6))
                raise
        finally:
            browser.close()


def test_static_slide_deck_presents_without_internet(sync_playwright, tmp_path):
    """`make slides` decks: reveal.js starts and arrow keys step, with every web request refused."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_slides", ROOT / "tools" / "build_slides.py")
    build_slides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_slides)
    target, slides = build_slides.build_deck(
        ROOT / "notebooks" / "04-the-training-loop.ipynb", tmp_path, build_slides.make_exporter()
    )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720}, offline=True)
            requested: list[str] = []
            context.route(
                "**/*",
                lambda route: (requested.append(route.request.url), route.abort())
                if not route.request.url.startswith(("file:", "data:")) else route.continue_(),
            )
            page = context.new_page()
            page.goto(target.as_uri(), wait_until="load")
            page.wait_for_selector(".reveal.ready", timeout=15_000)
            counter = page.locator(".slide-number")

            def number() -> str:
                return counter.inner_text().replace(" ", "")

            assert number() == f"1/{slides}", number()
            page.locator(".reveal .slides").click()  # keyboard focus on the deck
            # Code cells are fragments: each arrow press shows the next one, and after
            # the last one the next press moves to slide 2.
            fragments = page.locator(".reveal .slides > section.present .fragment").count()
            for _ in range(fragments + 1):
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(150)
            _wait_for_change(number, f"1/{slides}", "the slide number")
            assert number() == f"2/{slides}", number()
            page.wait_for_timeout(1000)  # let the slide transition finish before the picture
            page.screenshot(path=ARTIFACTS / "static-deck-offline.png")
            assert not requested, f"the deck asked the network for {requested[:5]}"
        finally:
            browser.close()


# ---------------------------------------------------------------------------
# The playground page (Voilà): a control changes the picture, Train animates, Stop stops
# ---------------------------------------------------------------------------

VOILA = Path(sys.executable).with_name("voila")
PLAYGROUND = ROOT / "playground" / "playground.ipynb"


@pytest.fixture(scope="module")
def playground(tmp_path_factory) -> Iterator[str]:
    if not VOILA.exists():
        _skip_or_fail(f"voila is not installed next to {sys.executable}")
    home = tmp_path_factory.mktemp("voila-home")
    port = _free_port()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PLATFORM_DIRS="1", IPYTHONDIR=str(home / "ipython"),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    log_path = home / "voila.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VOILA), str(PLAYGROUND), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
             "--Voila.port_retries=0"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"voila exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    urllib.request.urlopen(f"{base}/api/kernels", timeout=2)
                    break
                except urllib.error.HTTPError:  # any HTTP answer (403 here) means it is up
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if time.monotonic() > deadline:
                        pytest.fail(f"voila did not answer within {SERVER_START_S} s")
                    time.sleep(0.3)
            yield base
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue


def test_playground_page_trains_and_stops(sync_playwright, playground: str):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(WIDGET_RENDER_S * 1000)
            try:
                _drive_playground(page, playground)
            except BaseException:
                page.screenshot(path=ARTIFACTS / "playground-failure.png")
                raise
        finally:
            browser.close()


def _drive_playground(page, base: str) -> None:
    page.goto(base, wait_until="domcontentloaded")
    train = page.get_by_role("button", name="Train")
    stop = page.get_by_role("button", name="Stop")
    train.wait_for(state="visible")
    trainer = page.locator(".widget-vbox").filter(has=train).last
    summary = trainer.locator(".widget-html-content").last
    image = trainer.locator("img").first
    image.wait_for(state="visible")
    page.wait_for_function("el => el.textContent.includes('step 0')", arg=summary.element_handle())
    text_0, src_0 = summary.inner_text(), image.get_attribute("src")
    assert "BatchNorm on" in text_0 and "batch size 16" in text_0, text_0
    page.screenshot(path=ARTIFACTS / "playground.png")

    # 1. A control changes the picture: BatchNorm off rebuilds the model.
    trainer.get_by_label("BatchNorm").uncheck()
    text_1 = _wait_for_change(summary.inner_text, text_0, "the summary after BatchNorm off")
    assert "BatchNorm off" in text_1, text_1
    src_1 = _wait_for_change(lambda: image.get_attribute("src"), src_0, "the picture after BatchNorm off")

    # 2. Train animates: the step count and the picture keep changing.
    train.click()
    page.wait_for_function("el => /step [1-9]/.test(el.textContent)", arg=summary.element_handle())
    src_2 = _wait_for_change(lambda: image.get_attribute("src"), src_1, "the picture while training")
    _wait_for_change(lambda: image.get_attribute("src"), src_2, "the picture a frame later")
    assert stop.is_enabled()

    # 3. Stop stops: the summary says so and nothing changes afterwards.
    stop.click()
    page.wait_for_function("el => el.textContent.includes('stopped')", arg=summary.element_handle())
    still_text, still_src = summary.inner_text(), image.get_attribute("src")
    time.sleep(1.5)
    assert summary.inner_text() == still_text and image.get_attribute("src") == still_src
    assert train.is_enabled()
    page.screenshot(path=ARTIFACTS / "playground-after.png")
