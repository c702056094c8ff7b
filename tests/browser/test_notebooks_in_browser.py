"""Each notebook's student copy opened in JupyterLab in Chromium: run every cell, every widget fits and responds.

The copy is what a learner who skips every exercise runs: only the exercise cells may raise (their
stub's NotImplementedError; they carry `raises-exception`, so Run All goes on), every later cell
runs, and every check says "not attempted".

The same run also does what nbval does with the notebook itself, so that no notebook is executed twice
by `make test` (the repository's conftest.py leaves a notebook this test runs out of nbval): the
outputs of the cells tagged `nbval-check-output` are those committed, and then, in the same kernel,
each exercise's solution runs followed by its check, which must say "Correct". Every other cell is the
same in the copy and the notebook, and has just run without an error.

The window is a 1366x768 laptop screen. Every explorer (controls, figure and caption) must be at most
600 px tall there, its figure shown at its natural size or smaller, never stretched, and no text of its
controls cut off. Select one notebook with `-k 03_`.
"""

from pathlib import Path

import nbformat
import pytest
from lab_helpers import (
    PANEL,
    burst_slider,
    close_notebook,
    drive_explorers,
    error_outputs,
    measure_explorers,
    notebook_kernel,
    open_notebook,
    run_all,
    run_in_kernel,
    save_notebook,
    save_records,
    shown_text,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RESULTS = ROOT / "build" / "browser-latency.json"
MAX_HEIGHT_PX = 600  # fits a 1366x768 screen in JupyterLab with its menus and toolbar

pytestmark = pytest.mark.browser


@pytest.fixture
def notebook_page(page, lab_server, name):
    """The module's JupyterLab page; the test's notebook is closed and its kernel shut down afterwards."""
    yield page
    close_notebook(page, *lab_server, name)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_every_widget_responds(notebook_page, lab_server, lab_home, name):
    page, (base, token) = notebook_page, lab_server
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
    check_like_nbval(page, lab_server, lab_home, name, cells)
    shown = [o for c in cells for o in c.get("outputs", []) if shown_text([o]).startswith("<Explorer")]
    sizes = measure_explorers(page, len(shown))  # before any move, so the drop to 1x pictures cannot matter
    assert len(sizes) == len(shown), f"{name}: the page shows {len(sizes)} explorers, the notebook {len(shown)}"
    for s in sizes:  # before driving: a widget taller than the screen cannot be shown whole to be driven
        assert s["height_px"] <= MAX_HEIGHT_PX, f"{name}: explorer {s['explorer']} is {s['height_px']} px tall"
        assert s["scale"] <= 1.005, f"{name}: the figure of {s['explorer']} is stretched {s['scale']}x ({s})"
        assert not s["clipped"], f"{name}: explorer {s['explorer']} cuts off the texts {s['clipped']}"
    burst = burst_slider(page)
    records = drive_explorers(page)
    save_records(RESULTS, name, records, run_s, sizes, burst)
    assert records, f"{name} should show at least one widget (every notebook starts with one)"
    if burst is not None:  # updates coalesce: a burst of moves does not queue a picture per move
        assert burst["last_update_after_last_input"], f"{name}: the last figure predates the last move: {burst}"
        assert 1 <= burst["updates"] < burst["presses"], f"{name}: one figure per key press, none skipped: {burst}"


def check_like_nbval(page, lab_server, lab_home: Path, name: str, cells: list) -> None:
    """nbval's checks on the run that just happened: tagged outputs as committed, every solution passes its check."""
    saved = save_notebook(page, lab_home / "notebooks" / name)["cells"]
    assert len(saved) == len(cells), f"{name}: the student copy has {len(saved)} cells, the notebook {len(cells)}"
    for i, cell in enumerate(cells):
        if "nbval-check-output" in cell.metadata.get("tags", []):
            got, committed = shown_text(saved[i].get("outputs", [])), shown_text(cell.outputs)
            assert got == committed, f"{name}, cell {i} (nbval-check-output) showed\n{got}\ninstead of\n{committed}"
    kernel = notebook_kernel(*lab_server, lab_home / "runtime", name)
    try:
        code = [c for c in cells if c.cell_type == "code"]
        for i, cell in enumerate(code):
            if "exercise" not in cell.metadata.get("tags", []):
                continue
            check = next((c for c in code[i + 1 :] if "check" in c.metadata.get("tags", [])), None)
            assert check is not None, f"{name}: an exercise without a check cell after it:\n{cell.source[:200]}"
            _, error = run_in_kernel(kernel, cell.source)
            assert error is None, f"{name}: the solution raised {error}:\n{cell.source[:300]}"
            shown, error = run_in_kernel(kernel, check.source)
            assert error is None and "Correct" in shown, (
                f"{name}: {check.source!r} on the solution showed {error or shown}"
            )
    finally:
        kernel.stop_channels()
