"""Each notebook opened in JupyterLab in Chromium: run every cell, no errors, every widget responds."""

from pathlib import Path

import pytest
from lab_helpers import drive_explorers, error_outputs, open_notebook, run_all, save_records

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RESULTS = ROOT / "build" / "browser-latency.json"

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_every_widget_responds(page, lab_server, name):
    base, token = lab_server
    open_notebook(page, base, token, name)
    try:
        run_s = run_all(page)
    except Exception:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS.parent / f"browser-failure-{name}.png"), full_page=True)
        raise
    errors = error_outputs(page)
    assert not errors, f"{name} shows an error in the browser:\n{errors[0]}"
    records = drive_explorers(page)
    save_records(RESULTS, name, records, run_s)
    assert records, f"{name} should show at least one widget (every notebook starts with one)"
