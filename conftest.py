"""pytest at the repository root: what is collected, and which run executes each notebook.

The template is a skeleton to copy, not a lesson to execute. A notebook that the browser test runs
(tests/browser: Chromium present, the test selected) is left out of nbval, because that test does
nbval's checks on its own run (the tagged outputs as committed, every solution through its check), so
that `make test` executes each notebook once. Without a browser, nbval runs every notebook.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
BROWSER_TEST = "test_notebook_runs_and_every_widget_responds"

collect_ignore_glob = ["notebooks/_template.ipynb", "build/*"]


def _chromium_found() -> bool:
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from lab_helpers import find_chromium  # the browser tests' own lookup

    return find_chromium() is not None


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they do
def pytest_collection_modifyitems(config, items):
    in_browser = {
        item.callspec.params["name"]
        for item in items
        if getattr(item, "originalname", "") == BROWSER_TEST and hasattr(item, "callspec")
    }
    if not in_browser or not _chromium_found():
        return
    left_out = [item for item in items if item.path.suffix == ".ipynb" and item.path.name in in_browser]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
