"""Each notebook's student copy opened in JupyterLab in Chromium: run every cell, every widget fits and responds.

The copy is what a learner who skips every exercise runs: only the exercise cells may raise (their
stub's NotImplementedError; they carry `raises-exception`, so Run All goes on), every later cell
runs, and every check says "not attempted". (nbval runs the notebooks themselves, solutions in.)

The window is a 1366x768 laptop screen. Every explorer (controls, figure and caption) must be at most
600 px tall there, and its figure shown at its natural size or smaller, never stretched. Select one
notebook with `-k 03_`.
"""

from pathlib import Path

import nbformat
import pytest
from lab_helpers import (
    PANEL,
    burst_slider,
    drive_explorers,
    error_outputs,
    measure_explorers,
    open_notebook,
    run_all,
    save_records,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RESULTS = ROOT / "build" / "browser-latency.json"
MAX_HEIGHT_PX = 600  # fits a 1366x768 screen in JupyterLab with its menus and toolbar

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
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    exercises = sum("exercise" in c.metadata.get("tags", []) for c in cells)
    checks = sum("check" in c.metadata.get("tags", []) for c in cells)
    errors = error_outputs(page)
    unexpected = [e for e in errors if "NotImplementedError" not in e]
    assert not unexpected, f"{name} (student copy) shows an error outside its exercise stubs:\n{unexpected[0]}"
    # a stub raises when its cell runs, or (inside a function) when its check calls it
    assert len(errors) <= exercises, f"{name}: {len(errors)} stubs raised, more than its {exercises} exercises"
    attempted = page.locator(f"{PANEL} .jp-OutputArea-output", has_text="Not attempted").count()
    assert attempted >= checks, f"{name}: {attempted} checks say 'not attempted', expected {checks}"
    sizes = measure_explorers(page)  # before any move, so the drop to 1x pictures cannot matter
    burst = burst_slider(page)
    records = drive_explorers(page)
    save_records(RESULTS, name, records, run_s, sizes, burst)
    assert records, f"{name} should show at least one widget (every notebook starts with one)"
    for s in sizes:
        assert s["height_px"] <= MAX_HEIGHT_PX, f"{name}: explorer {s['explorer']} is {s['height_px']} px tall"
        assert s["scale"] <= 1.005, f"{name}: the figure of {s['explorer']} is stretched {s['scale']}x ({s})"
    if burst is not None:  # updates coalesce: a burst of moves does not queue a picture per move
        assert burst["last_update_after_last_input"], f"{name}: the last figure predates the last move: {burst}"
        assert 1 <= burst["updates"] < burst["presses"], f"{name}: one figure per key press, none skipped: {burst}"
