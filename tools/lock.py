"""Write the lock files in requirements/: exact versions with hashes, for every platform and Python.

    python tools/lock.py          # needs uv (`pip install uv`) and PyPI

Four files, each universal (Linux, macOS and Windows; Python 3.10 and newer, with markers where a
package's version differs), every distribution pinned by its SHA-256:

    requirements/lab.txt        the course (`make lab`)
    requirements/test.txt       the course plus the test and site tools (`make test`)
    requirements/lab-cpu.txt    the same without PyTorch's CUDA libraries, for machines where
    requirements/test-cpu.txt   PyTorch's CPU build is installed first (CI, Binder): `.ci/run`

`make` installs from them when they exist (else from pyproject.toml's ranges). PyTorch is pinned to
TORCH, the release CI tests; on Linux the plain files give PyPI's CUDA build, as `pip install torch`
would. Re-run after changing pyproject.toml's dependencies; a test fails when a dependency has no pin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "requirements"
TORCH = "2.13.0"  # the release CI tests (the oldest supported, 2.11, is pyproject.toml's floor)
OLDEST_PYTHON = "3.10"
# Packages only PyTorch's CUDA build for Linux needs; its CPU build, macOS and Windows need none.
CUDA_ONLY = re.compile(r"^(nvidia-|cuda-|triton\b)")
HEADER = """\
# Lock file written by `python tools/lock.py` (uv pip compile --universal --generate-hashes): every
# package pinned with its hashes, for Linux, macOS and Windows, Python {python}+. {what}
# Used by `make` when present; regenerate after changing pyproject.toml.
"""


def compile_lock(extras: list[str], path: Path, what: str) -> None:
    uv = shutil.which("uv") or sys.exit("tools/lock.py needs uv: pip install uv")
    with tempfile.TemporaryDirectory() as tmp:
        pin = Path(tmp) / "torch.txt"
        pin.write_text(f"torch=={TORCH}\n", encoding="utf-8")
        cmd = [
            uv,
            "pip",
            "compile",
            str(ROOT / "pyproject.toml"),
            "--universal",
            "--generate-hashes",
            "--python-version",
            OLDEST_PYTHON,
            "-c",
            str(pin),
            "--no-header",
            "--quiet",
            "--no-emit-package",
            "course-utils",
            "-o",
            str(path),
        ]
        for extra in extras:
            cmd += ["--extra", extra]
        subprocess.run(cmd, check=True, cwd=ROOT)
    path.write_text(HEADER.format(python=OLDEST_PYTHON, what=what) + path.read_text(encoding="utf-8"), encoding="utf-8")


def without_cuda(text: str) -> str:
    """The lock without the blocks of CUDA-only packages (each block: a pin line and its hash lines)."""
    blocks, current = [], []
    for line in text.splitlines(keepends=True):
        if line and not line[0].isspace() and current:
            blocks.append(current)
            current = []
        current.append(line)
    blocks.append(current)
    kept = [b for b in blocks if not CUDA_ONLY.match(b[0])]
    return "".join(line for b in kept for line in b)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, extras in (("lab", []), ("test", ["test", "site"])):
        path = OUT / f"{name}.txt"
        compile_lock(extras, path, "On Linux, PyTorch's CUDA build, as pip would install.")
        cpu = without_cuda(path.read_text(encoding="utf-8")).replace(
            "On Linux, PyTorch's CUDA build, as pip would install.",
            f"Without CUDA libraries: install torch=={TORCH} (its CPU build) first.",
        )
        (OUT / f"{name}-cpu.txt").write_text(cpu, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} and {name}-cpu.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
