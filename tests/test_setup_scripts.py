"""The two README commands on the machines learners have, without those machines.

``make lab`` runs ``tools/lab.sh``; ``make test`` runs ``tools/install_browser.sh``
(which asks ``tools/find_browser.sh``). Each decision is checked here on a fake
machine: a ``PATH`` holding only stub commands (``uname``, ``id``, ``apt-get``,
``sudo``, browsers) and ``COURSE_FS_ROOT``, a prefix for absolute paths such as
``/Applications`` or ``/usr/bin/chromium``. The stubs record how they were called.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
BASH = "/bin/bash"


class FakeMachine:
    """A PATH of stub commands and a fake file system root."""

    def __init__(self, tmp_path: Path, system: str = "Linux", uid: int = 1000) -> None:
        self.bin = tmp_path / "bin"
        self.fs = tmp_path / "fs"
        self.log = tmp_path / "calls.log"
        self.bin.mkdir()
        self.fs.mkdir()
        self.log.touch()
        self.stub("uname", f'echo "{system}"')
        self.stub("id", f'[ "$1" = "-u" ] && echo {uid} || echo "uid={uid}"')

    def stub(self, name: str, body: str = "true") -> Path:
        path = self.bin / name
        path.write_text(f'#!{BASH}\necho "{name} $*" >> "{self.log}"\n{body}\n')
        path.chmod(0o755)
        return path

    def file(self, absolute: str) -> Path:
        """An executable file at ``absolute`` on the fake file system."""
        path = self.fs / absolute.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!{BASH}\ntrue\n")
        path.chmod(0o755)
        return path

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess:
        environ = {"PATH": str(self.bin), "COURSE_FS_ROOT": str(self.fs), "HOME": "/home/learner"}
        environ.update(env)
        return subprocess.run(
            [BASH, str(TOOLS / script)], env=environ, capture_output=True, text=True, timeout=30
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


# ---------------------------------------------------------------------------
# find_browser.sh
# ---------------------------------------------------------------------------


def test_macos_chrome_app_is_found(tmp_path):
    mac = FakeMachine(tmp_path, system="Darwin")
    chrome = mac.file("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")
    result = mac.run("find_browser.sh")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chrome)


def test_macos_chromium_app_in_home_applications_is_found(tmp_path):
    mac = FakeMachine(tmp_path, system="Darwin")
    chromium = mac.file("/home/learner/Applications/Chromium.app/Contents/MacOS/Chromium")
    result = mac.run("find_browser.sh")
    assert result.stdout.strip() == str(chromium)


@pytest.mark.parametrize("name", ["google-chrome", "chromium-browser", "chromium", "google-chrome-stable"])
def test_a_browser_on_path_is_found(tmp_path, name):
    linux = FakeMachine(tmp_path)
    browser = linux.stub(name)
    result = linux.run("find_browser.sh")
    assert result.returncode == 0
    assert result.stdout.strip() == str(browser)


def test_course_chromium_variable_wins(tmp_path):
    linux = FakeMachine(tmp_path)
    linux.stub("chromium")
    mine = linux.file("/opt/my-chrome/chrome")
    result = linux.run("find_browser.sh", COURSE_CHROMIUM=str(mine))
    assert result.stdout.strip() == str(mine)


def test_no_browser_anywhere(tmp_path):
    linux = FakeMachine(tmp_path)
    result = linux.run("find_browser.sh")
    assert result.returncode == 1
    assert result.stdout == ""


# ---------------------------------------------------------------------------
# install_browser.sh
# ---------------------------------------------------------------------------


def test_installed_browser_means_no_install(tmp_path):
    linux = FakeMachine(tmp_path, uid=0)
    linux.stub("apt-get")
    linux.stub("google-chrome")
    result = linux.run("install_browser.sh")
    assert result.returncode == 0
    assert "google-chrome" in result.stdout
    assert not [c for c in linux.calls() if c.startswith("apt-get")]


def test_root_on_debian_installs_chromium(tmp_path):
    linux = FakeMachine(tmp_path, uid=0)
    chromium = str(linux.fs / "usr/bin/chromium")
    # apt-get "installs" chromium by creating the binary.
    linux.stub("apt-get", f'if [ "$1" = install ]; then /bin/mkdir -p {linux.fs}/usr/bin; '
                          f'printf "#!/bin/bash\\n" > {chromium}; /bin/chmod +x {chromium}; fi')
    result = linux.run("install_browser.sh")
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y -qq chromium" in linux.calls()
    assert chromium in result.stdout


def test_password_less_sudo_installs_without_prompting(tmp_path):
    linux = FakeMachine(tmp_path, uid=1000)
    linux.stub("apt-get")
    linux.stub("sudo", '[ "$1" = -n ] && shift; "$@"')
    linux.run("install_browser.sh")
    calls = linux.calls()
    assert "sudo -n true" in calls
    assert "sudo -n apt-get install -y -qq chromium" in calls
    assert all(c.startswith("sudo -n") for c in calls if c.startswith("sudo"))


@pytest.mark.parametrize("ci", ["", "true"])
def test_sudo_that_wants_a_password_skips_loudly_and_fails_only_in_ci(tmp_path, ci):
    linux = FakeMachine(tmp_path, uid=1000)
    linux.stub("apt-get")
    linux.stub("sudo", "exit 1")  # `sudo -n` fails when a password would be needed
    result = linux.run("install_browser.sh", CI=ci)
    assert "SKIPPED" in result.stderr
    assert result.returncode == (1 if ci else 0)
    assert not [c for c in linux.calls() if "apt-get" in c]


@pytest.mark.parametrize("ci", ["", "true"])
def test_macos_without_chrome_never_runs_apt_get(tmp_path, ci):
    mac = FakeMachine(tmp_path, system="Darwin", uid=501)
    mac.stub("apt-get")  # even if one is on PATH (e.g. a stray script)
    mac.stub("sudo", '[ "$1" = -n ] && shift; "$@"')
    result = mac.run("install_browser.sh", CI=ci)
    assert "SKIPPED" in result.stderr and "Linux" in result.stderr
    assert result.returncode == (1 if ci else 0)
    assert not [c for c in mac.calls() if "apt-get" in c or c.startswith("sudo")]


def test_linux_without_apt_get_skips(tmp_path):
    linux = FakeMachine(tmp_path, uid=0)  # e.g. Fedora or Arch, as root
    result = linux.run("install_browser.sh")
    assert result.returncode == 0
    assert "no apt-get" in result.stderr and "SKIPPED" in result.stderr


# ---------------------------------------------------------------------------
# lab.sh
# ---------------------------------------------------------------------------


def _lab_command(machine: FakeMachine, **env: str) -> str:
    result = machine.run("lab.sh", COURSE_LAB_DRY_RUN="1", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_lab_as_root_allows_root_and_prints_the_url_without_a_display(tmp_path):
    container = FakeMachine(tmp_path, uid=0)
    command = _lab_command(container)
    assert "--allow-root" in command
    assert "--no-browser" in command
    assert command.endswith("notebooks/00-start-here.ipynb")
    assert "URL" in container.run("lab.sh", COURSE_LAB_DRY_RUN="1").stdout


def test_lab_on_a_desktop_opens_the_browser(tmp_path):
    desktop = FakeMachine(tmp_path, uid=1000)
    command = _lab_command(desktop, DISPLAY=":0")
    assert "--allow-root" not in command
    assert "--no-browser" not in command


def test_lab_on_macos_opens_the_browser(tmp_path):
    mac = FakeMachine(tmp_path, system="Darwin", uid=501)
    assert "--no-browser" not in _lab_command(mac)


def test_make_uses_these_scripts():
    makefile = (ROOT / "Makefile").read_text()
    assert "bash tools/lab.sh" in makefile
    assert "bash tools/install_browser.sh" in makefile
    assert os.access(TOOLS / "find_browser.sh", os.R_OK)


def test_playground_serves_the_page_with_voila_and_prints_the_url_headless(tmp_path):
    container = FakeMachine(tmp_path, uid=0)
    result = container.run("playground.sh", COURSE_LAB_DRY_RUN="1", PLAYGROUND_PORT="9999")
    assert result.returncode == 0, result.stderr
    command = result.stdout.strip().splitlines()[-1]
    assert command.startswith(".venv/bin/voila playground/playground.ipynb")
    assert "--port=9999" in command and "--no-browser" in command
    assert "http://127.0.0.1:9999/" in result.stdout
    assert "bash tools/playground.sh" in (ROOT / "Makefile").read_text()
    assert (ROOT / "playground" / "playground.ipynb").is_file()
