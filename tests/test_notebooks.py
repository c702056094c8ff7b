"""The course's notebook conventions (docs/design.md, "Anatomy"), checked on every notebook.

nbval executes the notebooks themselves (pytest collects notebooks/*.ipynb); these tests check
what execution cannot: metadata, structure, and that the committed copies were executed in order.
"""

import os
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.syllabus import NOTEBOOKS_DIR, validate_course_metadata

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
TERM_NOTEBOOKS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]
SECTIONS = [
    "## Intuition first",
    "## Mechanics",
    "## Experiments",
    "## Exercises",
    "## Pitfalls",
    "## Recap",
    "## Where this shows up next",
    "## References",
]
ids = [p.stem for p in NOTEBOOKS]


def read(path):
    return nbformat.read(path, as_version=4)


def test_the_course_has_its_first_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "00_start_here.ipynb" in names and "01_activation_functions.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_metadata_and_kernelspec(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert validate_course_metadata(nb.metadata.get("course")) == []
    stems = {p.stem for p in NOTEBOOKS}
    for prereq in nb.metadata["course"]["prerequisites"]:
        assert prereq in stems, f"unknown prerequisite {prereq!r}"
        assert prereq < path.stem, f"prerequisite {prereq!r} comes after {path.stem}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_executed_in_order_without_errors(path):
    code = [c for c in read(path).cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"execution counts {counts}: re-run `make execute`"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"error output committed: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_outputs_show_no_local_paths_and_no_star_imports(path):
    nb = read(path)
    text = nbformat.writes(nb)
    for here in {str(ROOT), os.path.expanduser("~")} - {"/"}:
        outputs = "".join(str(c.get("outputs", "")) for c in nb.cells)
        assert here not in outputs, f"an output shows the local path {here}"
    assert not re.search(r"^\s*from \S+ import \*", "\n".join(c.source for c in nb.cells), re.M), "star import"
    assert "\\u001b[0;31m" not in text or "Traceback" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_setup_cell(path):
    first_code = next(c for c in read(path).cells if c.cell_type == "code" and "google.colab" not in c.source)
    for needed in ("set_seed(", "get_device(", "environment_line("):
        assert needed in first_code.source, f"the setup cell should call {needed[:-1]}"


@pytest.mark.parametrize("path", TERM_NOTEBOOKS, ids=[p.stem for p in TERM_NOTEBOOKS])
def test_term_notebook_anatomy(path):
    nb = read(path)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "first cell: the title"
    for word in ("Time:", "Prerequisites:"):
        assert word in cells[0].source, f"title cell should say {word}"
    headings = [
        line.strip()
        for c in cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    positions = []
    for section in SECTIONS:
        found = [i for i, h in enumerate(headings) if h.startswith(section)]
        assert found, f"missing section {section!r}"
        positions.append(found[0])
    assert positions == sorted(positions), f"sections out of order: {headings}"
    # a widget (some code) before the Mechanics section's formulas
    mechanics = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Mechanics" in c.source)
    intuition = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Intuition first" in c.source)
    assert any(c.cell_type == "code" for c in cells[intuition:mechanics]), "Intuition first needs a widget cell"
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells), "no nbval-check-output cell"


@pytest.mark.parametrize("path", TERM_NOTEBOOKS, ids=[p.stem for p in TERM_NOTEBOOKS])
def test_exercises_have_solution_markers_and_checks(path):
    cells = read(path).cells
    exercises = [i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    minimum = 1 if path.name.startswith("10_") else 2
    assert len(exercises) >= minimum, f"{len(exercises)} exercises, need {minimum}"
    for i in exercises:
        src = cells[i].source
        assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src, f"exercise cell {i}: solution markers"
        check = next(c for c in cells[i + 1 :] if c.cell_type == "code")
        assert "check" in check.metadata.get("tags", []) and "check_" in check.source, f"cell after exercise {i}"
    later = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "<details>" in later, "exercises need hints in <details> blocks"


def test_template_follows_the_anatomy():
    nb = read(NOTEBOOKS_DIR / "_template.ipynb")
    text = "\n".join(c.source for c in nb.cells)
    for section in SECTIONS:
        assert section in text
    assert "### BEGIN SOLUTION" in text and validate_course_metadata(nb.metadata.get("course")) == []
