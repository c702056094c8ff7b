"""A throwaway JupyterLab server and a headless Chromium driven by Playwright.

The server runs on 127.0.0.1 with a random token, serves the notebooks' student copies (solutions
replaced by `raise NotImplementedError()`, as `make student` writes them) in a temporary folder, so
nothing a test does can touch the committed files and the browser run checks the student copies too
(where this runs, it also does nbval's checks, and nbval leaves those notebooks to it: the repository's
conftest.py); it has its own settings: no news prompt, no autosave, and the windowing a learner has by
default ("contentVisibility": every cell is in the page, and the browser skips rendering the cells out
of view). Chromium is Debian's (`/usr/bin/chromium`), never one Playwright downloads. A test module has
one page: the notebook tests load JupyterLab in it once and open one notebook after another, each
closed and its kernel shut down when its test ends.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from execute_notebooks import course_notebooks  # noqa: E402
from lab_helpers import find_chromium  # noqa: E402
from student_copies import make_student_copies  # noqa: E402

INSTALL_HINT = (
    "Browser tests need Chromium: on Debian or Ubuntu `sudo apt-get install chromium`; "
    "elsewhere set COURSE_CHROMIUM=/path/to/chrome-or-chromium."
)

LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "contentVisibility"},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no Chromium was found. {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory) -> Path:
    """The server's folder: notebooks/ (the student copies it serves), settings/, runtime/ (kernel files)."""
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab_server(lab_home, chromium_path):
    """Start JupyterLab on a copy of the notebooks; yield (base_url, token); stop it afterwards."""
    home = lab_home
    make_student_copies(course_notebooks(), home / "notebooks")
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=",
        "--ServerApp.disable_check_xsrf=False",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the tests open notebooks by its commands
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "server.log", "w", encoding="utf-8")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(
                f"JupyterLab did not start:\n{(home / 'server.log').read_text(encoding='utf-8', errors='replace')[-3000:]}"
            )
        time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")  # Playwright's sync API keeps an event loop running while it lives: stop it after
def browser(chromium_path):  # each browser module, so later tests can run their own (asyncio.run)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")  # JupyterLab is loaded once and then opens one notebook after another
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a common laptop screen
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
