"""The course installs anywhere: a wheel, installed outside the checkout, finds its own checkpoints and notebooks.

`pip install "git+<repository URL>"` (Colab's first cell) builds the same wheel as this test. The test
builds it from a copy of the sources, installs it into a fresh virtual environment in a temporary folder
and, from a working directory that is not the checkout, loads the shipped model, a snapshot, the corpus
and the syllabus. Nothing is downloaded: the build uses the current environment's setuptools, and the
fresh environment borrows the current one's site-packages (torch and the rest) after its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject.toml lists packages by name (find cannot map data/ into the package): none may be missing."""
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    config = toml.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "course_utils").rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(on_disk - listed)}"
    assert config["package-dir"] == {"course_utils.checkpoints": "data", "course_utils.notebooks": "notebooks"}


def test_paths_are_found_from_the_package_not_the_working_directory(tmp_path):
    script = (
        "from course_utils.paths import DATA_DIR, NOTEBOOKS_DIR; "
        "print(DATA_DIR.is_absolute(), (DATA_DIR / 'tinygpt_world.pt').is_file(), "
        "len(list(NOTEBOOKS_DIR.glob('[0-9][0-9]_*.ipynb'))) > 0)"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "True"]


def _copy_sources(target: Path) -> None:
    """What `pip install git+...` sees of a clone: the build configuration, the package, data/ and notebooks/."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in ("course_utils", "data", "notebooks"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)


CHECK = textwrap.dedent("""
    import sys
    from pathlib import Path

    import course_utils
    from course_utils.paths import DATA_DIR, NOTEBOOKS_DIR
    from course_utils.pretraining import list_snapshots, load_pretrained
    from course_utils.syllabus import load_syllabus
    from course_utils.text import make_corpus

    package = Path(course_utils.__file__).resolve().parent
    venv = Path(sys.argv[1]).resolve()
    assert venv in package.parents, f"imported {package}, not the installed wheel in {venv}"
    assert DATA_DIR == package / "checkpoints" and NOTEBOOKS_DIR == package / "notebooks", (DATA_DIR, NOTEBOOKS_DIR)
    model, tokenizer, checkpoint = load_pretrained()
    snapshots = list_snapshots()
    corpus = make_corpus(20_000)
    ids = tokenizer.encode(corpus[:200])
    syllabus = load_syllabus()
    print("model", sum(p.numel() for p in model.parameters()), "snapshots", len(snapshots),
          "corpus", len(corpus), "tokens", len(ids), "notebooks", len(syllabus))
""")


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_loads_the_shipped_model_and_corpus(tmp_path):
    sources, wheels, venv, elsewhere = (tmp_path / n for n in ("src", "wheels", "venv", "elsewhere"))
    _copy_sources(sources)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(wheels),
            str(sources),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"building the wheel failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    (wheel,) = wheels.glob("course_utils-*.whl")

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the current environment's packages (torch, matplotlib, ...) after the fresh one's own; a plain path line,
    # so the checkout's editable-install hook in there is not run
    (purelib / "zz_borrowed_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, f"installing the wheel failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    assert (purelib / "course_utils" / "checkpoints" / "tinygpt_world.pt").is_file()

    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    run = subprocess.run(
        [str(python), "-I", "-c", CHECK, str(venv)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"the installed course does not work outside the checkout:\n{run.stderr[-3000:]}"
    found = dict(re.findall(r"(\w+) (\d+)", run.stdout))
    assert int(found["model"]) > 0 and int(found["snapshots"]) >= 2 and int(found["corpus"]) >= 20_000
    assert int(found["notebooks"]) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
