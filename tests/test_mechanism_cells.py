"""The mechanism is in the notebook, and the package runs the same lines (docs/design.md).

A code cell tagged `mechanism` teaches the core of a term in editable code. Its first line names
the package file that holds the same lines, e.g. `# Same lines as course_utils/autograd.py`;
the rest of the cell must appear in that file verbatim (trailing spaces and blank lines at the
ends aside). Argument checking lives in the package's public entry points, around these lines,
so the learner reads only the mechanism. No notebook shows code with `inspect.getsource`.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCE_RE = re.compile(r"^#.*?\b(course_utils/[\w/]+\.py)\b")
# Notebooks whose term's core must be taught in mechanism cells (design: "The mechanism is in the notebook").
REQUIRED = {
    "02_backpropagation": "course_utils/autograd.py",
    "04_adam_optimizer": "course_utils/optim.py",
    "05_batch_normalization": "course_utils/layers/batchnorm.py",
    "07_attention_mechanism": "course_utils/layers/attention.py",
    "06_autoencoders": "course_utils/models/autoencoder.py",
    "09_adapter_layers": "course_utils/layers/adapters.py",
}


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def mechanism_cells(path: Path) -> list[tuple[int, str, str]]:
    """(cell index, package file, body) for every cell tagged `mechanism`."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "mechanism" not in cell.metadata.get("tags", []):
            continue
        first, _, body = cell.source.partition("\n")
        match = SOURCE_RE.match(first)
        assert match, f"{path.name} cell {i}: a mechanism cell's first line names its package file, got {first!r}"
        found.append((i, match.group(1), body))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_mechanism_cells_are_the_package_source(path):
    for i, source, body in mechanism_cells(path):
        package_file = ROOT / source
        assert package_file.is_file(), f"{path.name} cell {i} names {source}, which does not exist"
        cell, package = _normalise(body), _normalise(package_file.read_text(encoding="utf-8"))
        assert cell, f"{path.name} cell {i}: empty mechanism cell"
        if cell not in package:
            # Point at the first line that differs, so the fix is quick.
            lines = cell.splitlines()
            for n in range(len(lines), 0, -1):
                if "\n".join(lines[:n]) in package:
                    break
            else:
                n = 0
            pytest.fail(
                f"{path.name} cell {i} differs from {source} at its line {n + 2}: {lines[n]!r} "
                "(edit both, or copy the cell into the package)"
            )


@pytest.mark.parametrize("stem,source", sorted(REQUIRED.items()))
def test_core_notebooks_teach_their_mechanism_in_cells(stem, source):
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    assert any(s == source for _, s, _ in mechanism_cells(path)), f"{stem}: no mechanism cell from {source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_notebook_shows_code_with_getsource(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "getsource(" not in code, f"{path.name} shows code with inspect.getsource; use a mechanism cell"
