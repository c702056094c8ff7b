"""Student copies (`make student`): solutions replaced by stubs, outputs cleared, and still runnable to the end."""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from student_copies import ClearSolutions, make_student_copies, student_notebook  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ids = [p.stem for p in NOTEBOOKS]
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def tags(cell):
    return cell.metadata.get("tags", [])


def text_of(outputs) -> str:
    """Everything a cell showed, as one string (stream text and every text-like rich output)."""
    parts = []
    for out in outputs:
        parts.append(out.get("text", ""))
        parts += [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


# --- the preprocessor on small inputs -------------------------------------------------------------


def test_a_region_becomes_a_stub_at_the_indentation_of_its_begin_line():
    source = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    cleared, count = ClearSolutions().clear(source, STUB)
    assert count == 1
    assert cleared == "def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    compile(cleared, "<stub>", "exec")  # still a valid cell


def test_several_regions_nested_indentation_and_text_after_them_are_kept():
    source = (
        "class A:\n    def f(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n\n"
        "    def g(self):\n        ### BEGIN SOLUTION\n        return 2\n        ### END SOLUTION\n        # after\n"
        "x = 3"
    )
    cleared, count = ClearSolutions().clear(source, STUB)
    assert count == 2
    assert cleared.count("        raise NotImplementedError()") == 2
    assert "return 1" not in cleared and "return 2" not in cleared
    assert cleared.endswith("        # after\nx = 3")
    compile(cleared, "<stub>", "exec")


def test_a_cell_without_markers_is_unchanged():
    source = "print('hello')\n# ### BEGIN SOLUTION is only a marker on a line of its own"
    assert ClearSolutions().clear(source, STUB) == (source, 0)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("### BEGIN SOLUTION\nx = 1", "without '### END SOLUTION'"),
        ("x = 1\n### END SOLUTION", "without '### BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside a solution region"),
    ],
)
def test_unbalanced_markers_are_refused_with_the_line(source, problem):
    with pytest.raises(ValueError, match=problem):
        ClearSolutions().clear(source, STUB, where="cell 3")


def test_a_notebook_with_unbalanced_markers_is_named(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1")])
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match=r"99_broken\.ipynb: cell 0, line 2"):
        student_notebook(path)
    with pytest.raises(ValueError, match="existing .ipynb"):
        student_notebook(tmp_path / "missing.ipynb")


def test_markdown_answers_and_outputs_and_widget_state_are_cleared(tmp_path):
    code = nbformat.v4.new_code_cell(
        "x = 1\nx",
        execution_count=1,
        outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)],
    )
    code.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    code.metadata["tags"] = ["check"]
    text = nbformat.v4.new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    nb = nbformat.v4.new_notebook(cells=[text, code], metadata={"widgets": {"state": {}}, "course": {"x": 1}})
    path = tmp_path / "99_small.ipynb"
    nbformat.write(nb, path)
    student, cleared = student_notebook(path)
    assert cleared == [0]
    assert student.cells[0].source == "Why?\n\nYOUR ANSWER HERE"
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert "execution" not in student.cells[1].metadata and student.cells[1].metadata["tags"] == ["check"]
    assert "widgets" not in student.metadata and student.metadata["course"] == {"x": 1}
    assert nbformat.read(path, as_version=4) == nb, "the source notebook must not change"


# --- every course notebook ------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_student_copy_has_stubs_instead_of_solutions(path, tmp_path):
    (copy_path,) = make_student_copies([path], tmp_path)
    assert copy_path == tmp_path / path.name
    original, student = nbformat.read(path, as_version=4), nbformat.read(copy_path, as_version=4)
    nbformat.validate(student)
    text = nbformat.writes(student)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "widgets" not in student.metadata
    assert len(student.cells) == len(original.cells)
    for before, after in zip(original.cells, student.cells):
        added = ["raises-exception"] if "exercise" in tags(before) else []  # Run All goes on past it
        assert after.metadata.get("tags", []) == before.metadata.get("tags", []) + added
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if "exercise" in tags(before):
            assert "raise NotImplementedError()" in after.source, "an exercise cell without a stub"
            compile(after.source, f"{path.name} exercise", "exec")
        else:
            assert after.source == before.source, "only exercise cells may change"


def _browser_runs_the_copies(config) -> bool:
    """The browser test runs every student copy in JupyterLab when it is selected and a Chromium exists."""
    if "not browser" in (config.getoption("markexpr") or ""):
        return False
    sys.path.insert(0, str(ROOT / "tests" / "browser"))
    from lab_helpers import find_chromium  # the browser tests' own lookup

    return find_chromium() is not None


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_student_copy_runs_to_the_end(path, tmp_path, request):
    """Run the copy top to bottom as a learner who skips every exercise: only the exercise cells may raise,
    every later cell runs, and every check says "not attempted". The browser test checks the same in
    JupyterLab; this kernel-only run stands in when it does not run, so no notebook runs twice for it."""
    if _browser_runs_the_copies(request.config):
        pytest.skip("tests/browser runs the student copies in JupyterLab (the same checks)")
    (copy_path,) = make_student_copies([path], tmp_path)
    nb = nbformat.read(copy_path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )  # relative paths as usual
    client.execute()
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    assert all(c.execution_count is not None for _, c in code), "some cells did not run"
    for i, cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors and "exercise" not in tags(cell):
            raise AssertionError(
                f"cell {i} ({tags(cell) or 'untagged'}) raised {errors[0].ename}: {errors[0].evalue}\n"
                f"{cell.source[:300]}"
            )
    for i, cell in code:
        if "check" in tags(cell):
            shown = text_of(cell.outputs).lower()
            assert "not attempted" in shown, f"check cell {i} should say 'not attempted', showed: {shown[:300]}"
