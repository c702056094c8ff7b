"""Re-execute course notebooks in place, top to bottom, saving outputs and widget state.

    python tools/execute_notebooks.py                 # every notebook in notebooks/
    python tools/execute_notebooks.py 01 03           # those whose name starts with 01 or 03

Used by `make execute`. A notebook that raises stops with the failing cell named and the
file left as it was; timings are printed so a slow notebook is noticed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def course_notebooks(prefixes: list[str] | None = None, include_template: bool = False) -> list[Path]:
    """The course's notebooks in order (`NN_name.ipynb`), optionally only those with given prefixes."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if include_template:
        paths.append(NOTEBOOKS / "_template.ipynb")
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(x) for x in prefixes)]
    return paths


def execute(path: Path, timeout: int = 600) -> float:
    """Execute one notebook in place (cwd = its folder); return the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps of an earlier run
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        record_timing=False,  # no execution timestamps: they change on every run
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose file name starts with one of these")
    parser.add_argument("--template", action="store_true", help="also execute notebooks/_template.ipynb")
    args = parser.parse_args(argv)
    paths = course_notebooks(args.prefixes, include_template=args.template or "_template" in args.prefixes)
    if not paths:
        print(f"no notebook matches {args.prefixes}", file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        try:
            seconds = execute(path)
            print(f"{path.name:45s} {seconds:6.1f} s")
        except CellExecutionError as exc:
            failed = True
            print(f"{path.name}: FAILED, file left unchanged\n{str(exc)[-2000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
