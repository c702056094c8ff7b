"""Write student copies of the course notebooks: solutions replaced by stubs, outputs cleared.

    python tools/student_copies.py                  # every notebooks/NN_*.ipynb -> build/student/
    python tools/student_copies.py 01 05            # those whose name starts with 01 or 05
    python tools/student_copies.py --out handout    # somewhere else

Used by `make student`. In every cell, each region from a `### BEGIN SOLUTION` line to its
`### END SOLUTION` line (nbgrader's markers) becomes, at the indentation of the BEGIN line,

    # YOUR CODE HERE
    raise NotImplementedError()

(in a markdown cell: YOUR ANSWER HERE). Outputs, execution counts and saved widget state are
cleared; everything else stays, check cells included, so a learner runs a stub, sees its check say
"not attempted", and can go on. Exercise cells get the `raises-exception` tag, so *Run All* in
JupyterLab (and nbclient) runs past an unanswered exercise instead of stopping there. The work is done by nbconvert preprocessors run through nbconvert's
`NotebookExporter`, as nbgrader's own `ClearSolutions` does, without nbgrader's database stack.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import ClearOutputPreprocessor, Preprocessor
from traitlets import Unicode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from execute_notebooks import course_notebooks  # noqa: E402

DEFAULT_OUT = ROOT / "build" / "student"


class ClearSolutions(Preprocessor):
    """Replace every `### BEGIN SOLUTION` ... `### END SOLUTION` region by a stub, keeping its indentation."""

    begin = Unicode("### BEGIN SOLUTION", help="the line that opens a solution region").tag(config=True)
    end = Unicode("### END SOLUTION", help="the line that closes it").tag(config=True)
    code_stub = Unicode("# YOUR CODE HERE\nraise NotImplementedError()", help="replaces a region in code").tag(
        config=True
    )
    text_stub = Unicode("YOUR ANSWER HERE", help="replaces a region in markdown").tag(config=True)

    def clear(self, source: str, stub: str, where: str = "cell") -> tuple[str, int]:
        """`source` with each solution region replaced by `stub`; also returns how many regions there were.

        Raises:
            ValueError: a BEGIN without its END, an END without a BEGIN, or a BEGIN inside a region.
        """
        out, region, count = [], None, 0
        for number, line in enumerate(source.splitlines(), start=1):
            marker = line.strip()
            if marker == self.begin:
                if region is not None:
                    raise ValueError(f"{where}, line {number}: {self.begin!r} inside a solution region")
                indent = line[: len(line) - len(line.lstrip())]
                region = number
                out.extend(indent + stub_line if stub_line else "" for stub_line in stub.splitlines())
                count += 1
            elif marker == self.end:
                if region is None:
                    raise ValueError(f"{where}, line {number}: {self.end!r} without {self.begin!r}")
                region = None
            elif region is None:
                out.append(line)
        if region is not None:
            raise ValueError(f"{where}, line {region}: {self.begin!r} without {self.end!r}")
        return "\n".join(out), count

    def preprocess_cell(self, cell, resources, index):
        stub = self.code_stub if cell.cell_type == "code" else self.text_stub
        source, count = self.clear(cell.source, stub, where=f"cell {index}")
        if count:
            cell.source = source
            if cell.cell_type == "code":  # Run All (JupyterLab, nbclient) goes on past an unanswered exercise
                tags = cell.metadata.setdefault("tags", [])
                if "raises-exception" not in tags:
                    tags.append("raises-exception")
            resources.setdefault("student", {}).setdefault("cleared_cells", []).append(index)
        return cell, resources


class ClearWidgetState(Preprocessor):
    """Drop the widget state saved in the notebook's metadata: it belongs to outputs that are gone."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return nb, resources


def student_exporter() -> NotebookExporter:
    """nbconvert's notebook-to-notebook exporter with the three preprocessors a student copy needs."""
    exporter = NotebookExporter()
    exporter.register_preprocessor(ClearSolutions(), enabled=True)
    exporter.register_preprocessor(
        ClearOutputPreprocessor(remove_metadata_fields={"collapsed", "scrolled", "execution"}), enabled=True
    )
    exporter.register_preprocessor(ClearWidgetState(), enabled=True)
    return exporter


def student_notebook(path: Path | str) -> tuple[nbformat.NotebookNode, list[int]]:
    """The student copy of one notebook, and the indices of the cells whose solutions were cleared."""
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"student_notebook: path must be an existing .ipynb file, got {path}")
    try:
        body, resources = student_exporter().from_filename(str(path))
    except ValueError as exc:  # unbalanced markers: say which notebook
        raise ValueError(f"{path.name}: {exc}") from None
    nb = nbformat.reads(body, as_version=4)
    nbformat.validate(nb)
    return nb, resources.get("student", {}).get("cleared_cells", [])


def make_student_copies(paths: list[Path], out_dir: Path | str = DEFAULT_OUT) -> list[Path]:
    """Write the student copy of each notebook in `paths` to `out_dir` (same file names); return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb, _ = student_notebook(path)
        target = out_dir / Path(path).name
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file name starts with one of these")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/student)")
    args = parser.parse_args(argv)
    paths = course_notebooks(args.prefixes)
    if not paths:
        print(f"no notebook matches {args.prefixes}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        written = make_student_copies(paths, args.out)
    except ValueError as exc:
        print(f"student copies: {exc}", file=sys.stderr)
        return 1
    where = args.out.resolve()
    where = where.relative_to(Path.cwd()) if where.is_relative_to(Path.cwd()) else where
    print(f"{len(written)} student copies in {where}/ ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
