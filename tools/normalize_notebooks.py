"""Give every course notebook its workshop kit: a Colab link, a Colab set-up cell and slide metadata.

    python tools/normalize_notebooks.py              # every notebooks/NN_*.ipynb and the template
    python tools/normalize_notebooks.py 03 04        # those whose name starts with 03 or 04
    python tools/normalize_notebooks.py --check      # exit 1 if any notebook needs it (the tests do the same)

Idempotent: a second run changes nothing. What it does to a notebook:

1. Title cell (the first cell): an "Open in Colab" link under the `# NN · Title` line, made from
   `course_utils.syllabus.REPOSITORY` and the file name (refreshed if either changes).
2. First code cell: the Colab set-up cell (`COLAB_CELL`). Inside Colab it runs one line,
   `%pip install -q --no-deps "git+<repository>"` (the wheel carries the checkpoints and notebooks;
   Colab's own torch, matplotlib and ipywidgets stay as they are); anywhere else it does nothing
   and prints nothing.
3. Markdown cells after the title are split before each `#`, `##` or `###` heading line that
   follows some text, so that every heading can open a slide.
4. Slides (jupyterlab-rise, nbconvert --to slides): every cell gets `metadata.slideshow.slide_type`:
   the title cell and markdown cells starting with `# ` or `## ` open a "slide", `### ` a
   "subslide"; check cells appear as a "fragment" (one more click after the exercise); the Colab
   cell is "skip"; everything else is "-" (continues the current slide). Notebook metadata `rise`
   turns on scrolling for long slides.

Code cells keep their source, outputs and execution counts, except the Colab cell when it is added:
re-execute the notebook afterwards (`python tools/execute_notebooks.py NN`), as the run reminds you.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from execute_notebooks import course_notebooks  # noqa: E402

from course_utils.syllabus import REPOSITORY, colab_url  # noqa: E402

COLAB_CELL_ID = "colab-setup"
# One line does the work: pip installs the course from the repository (the package, its checkpoints and the
# notebooks; course_utils/paths.py finds them inside the package). --no-deps keeps Colab's own torch,
# matplotlib and ipywidgets. The `if` keeps it to Colab: anywhere else the cell does nothing.
COLAB_CELL = f"""\
# Google Colab only: install the course. Anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    %pip install -q --no-deps "git+{REPOSITORY}\""""
RISE_SETTINGS = {"scroll": True}  # long slides scroll instead of being cut off
COLAB_LINK = re.compile(r"^\[[^\]]*\]\(https://colab\.research\.google\.com/github/[^)]*\)\s*$")
HEADING = re.compile(r"^#{1,3} ")
FENCE = re.compile(r"^\s*(```|~~~)")


def colab_link(stem: str) -> str:
    """The markdown line the title cell carries: a link that opens this notebook in Colab."""
    return f"[Open in Colab]({colab_url(stem)})"


def is_colab_cell(cell) -> bool:
    return cell.cell_type == "code" and (cell.get("id") == COLAB_CELL_ID or "google.colab" in cell.source)


def slide_type(cell, index: int) -> str:
    """The slide type the rule gives to the cell at position `index` (see the module docstring)."""
    if index == 0:
        return "slide"
    if cell.cell_type == "markdown":
        if cell.source.startswith(("# ", "## ")):
            return "slide"
        return "subslide" if cell.source.startswith("### ") else "-"
    if is_colab_cell(cell):
        return "skip"
    if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
        return "fragment"
    return "-"


def split_at_headings(cell) -> list:
    """A markdown cell cut before each heading line (`#` to `###`) that follows some text.

    A heading right under another heading stays with it ("## Experiments" then "### 1. ..." make
    one slide). Lines inside fenced code blocks never count as headings. The first piece keeps the
    cell's id and metadata; later pieces get the id `<id>-<k>`. A cell with attachments stays whole.
    """
    if cell.cell_type != "markdown" or cell.get("attachments"):
        return [cell]
    pieces, current, fenced = [], [], False
    for line in cell.source.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if HEADING.match(line) and not fenced and any(x.strip() and not HEADING.match(x) for x in current):
            pieces.append(current)
            current = []
        current.append(line)
    pieces.append(current)
    if len(pieces) == 1:
        return [cell]
    cells = []
    for k, lines in enumerate(pieces):
        text = "\n".join(lines).strip("\n")
        if k == 0:
            first = copy.deepcopy(cell)
            first.source = text
            cells.append(first)
        else:
            new = nbformat.v4.new_markdown_cell(text)
            new["id"] = f"{cell.get('id', 'cell')}-{k}"[:64]
            cells.append(new)
    return cells


def with_colab_link(title: str, stem: str) -> str:
    """The title cell's source with exactly one, current Colab link, right under the `#` heading line."""
    lines = [line for line in title.splitlines() if not COLAB_LINK.match(line)]
    heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), 0)
    rest = lines[heading + 1 :]
    while rest and not rest[0].strip():  # including blank lines an old link left behind
        rest.pop(0)
    return "\n".join(lines[: heading + 1] + ["", colab_link(stem)] + ([""] + rest if rest else []))


def normalize(nb, stem: str):
    """Apply the workshop kit to notebook `nb` (changed in place and returned); `stem` names its file."""
    cells = [nb.cells[0]] if nb.cells else []
    for cell in nb.cells[1:]:
        cells.extend(split_at_headings(cell))
    if cells and cells[0].cell_type == "markdown":
        cells[0].source = with_colab_link(cells[0].source, stem)
    colab = next((c for c in cells if is_colab_cell(c)), None)
    if colab is None:
        colab = nbformat.v4.new_code_cell(COLAB_CELL)
        colab["id"] = COLAB_CELL_ID
    else:
        cells.remove(colab)
        if colab.source != COLAB_CELL:
            colab.source = COLAB_CELL
            colab.outputs = []
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, colab)
    for index, cell in enumerate(cells):
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell, index)}
    nb.cells = cells
    nb.metadata["rise"] = {**nb.metadata.get("rise", {}), **RISE_SETTINGS}
    return nb


def needs_execution(nb) -> bool:
    """True when the code cells' execution counts are not 1, 2, 3, ... (e.g. a Colab cell was just added)."""
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    return counts != list(range(1, len(counts) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file name starts with one of these")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs normalizing")
    args = parser.parse_args(argv)
    paths = course_notebooks(args.prefixes, include_template=not args.prefixes or "_template" in args.prefixes)
    if not paths:
        print(f"no notebook matches {args.prefixes}", file=sys.stderr)
        return 2
    stale, rerun = [], []
    for path in paths:
        original = nbformat.read(path, as_version=4)
        result = normalize(copy.deepcopy(original), path.stem)
        if result == original:
            continue
        stale.append(path.name)
        if not args.check:
            nbformat.validate(result)
            nbformat.write(result, path)
            if needs_execution(result) and path.name[:2].isdigit():
                rerun.append(path.name[:2])
    if args.check:
        print(
            "need normalizing: " + ", ".join(stale) + " (run tools/normalize_notebooks.py)"
            if stale
            else "all notebooks are normalized"
        )
        return 1 if stale else 0
    print("normalized: " + ", ".join(stale) if stale else "nothing to change")
    if rerun:
        print(f"now re-execute them: python tools/execute_notebooks.py {' '.join(rerun)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
