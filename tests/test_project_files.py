"""The project's own files agree with each other: environments, lock files, generated docs, CI."""

import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import generate_docs  # noqa: E402
import lock  # noqa: E402


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _yaml_requirements(path: Path) -> dict[str, str]:
    """Package name -> requirement text, from the conda and pip sections of an environment file."""
    found = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("dependencies:"))
    for line in lines[start + 1 :]:
        item = line.strip()
        if not item.startswith("- ") or item.endswith(":"):
            continue
        item = item[2:].strip()
        if item.startswith(("-e", "--", "python=")) or item == "pip":
            continue
        found[_name(item)] = item
    return found


def test_environment_files_match_pyproject_dependencies():
    deps = {_name(d): d for d in _pyproject()["project"]["dependencies"]}
    for env_file in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        env = _yaml_requirements(env_file)
        assert set(env) == set(deps), f"{env_file.relative_to(ROOT)}: {sorted(set(env) ^ set(deps))} differ"
        for name, requirement in deps.items():
            lower = re.search(r">=\s*([\d.]+)", requirement)
            assert lower and lower.group(1) in env[name], f"{env_file.name}: {name} should say >={lower.group(1)}"
    assert "- -e ." in (ROOT / "environment.yml").read_text(encoding="utf-8"), (
        "environment.yml installs the course editable"
    )
    assert "pip install" in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")


def _lock_blocks(path: Path) -> dict[str, list[str]]:
    """Package name -> the lines of its entries (a pin line and its `--hash` lines) in a lock file."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = _name(line)
            blocks.setdefault(current, []).append(line)
        elif current is not None:
            blocks[current].append(line)
    return blocks


def test_torch_range_admits_2_11():
    torch_dep = next(d for d in _pyproject()["project"]["dependencies"] if _name(d) == "torch")
    assert torch_dep.replace(" ", "") == "torch>=2.11"


@pytest.mark.parametrize("suffix", ["", "-cpu"])
@pytest.mark.parametrize("name,extras", [("lab", []), ("test", ["test", "site"])])
def test_lock_files_pin_every_dependency_with_hashes(name, extras, suffix):
    path = ROOT / "requirements" / f"{name}{suffix}.txt"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run `make lock`"
    blocks = _lock_blocks(path)
    project = _pyproject()["project"]
    wanted = list(project["dependencies"]) + [d for e in extras for d in project["optional-dependencies"].get(e, [])]
    for dep in wanted:
        assert _name(dep) in blocks, f"{path.name}: {dep} has no pin; run `make lock`"
    for package, lines in blocks.items():
        pins = [line for line in lines if "==" in line and not line.lstrip().startswith("--hash")]
        assert pins and all("--hash=sha256:" in "".join(lines) for _ in pins), f"{path.name}: {package} has no hash"
    assert any(re.match(rf"torch=={re.escape(lock.TORCH)}\b", line) for line in blocks["torch"]), (
        f"{path.name}: torch should be pinned to {lock.TORCH}, the release CI tests"
    )
    cuda_only = [p for p in blocks if lock.CUDA_ONLY.match(p)]
    if suffix == "-cpu":
        assert not cuda_only, f"{path.name} should have no CUDA libraries, has {cuda_only}"
    else:
        assert cuda_only, f"{path.name}: Linux users should get PyTorch's CUDA build, as pip would give them"


def test_default_environment_does_not_force_cpu_torch():
    assert "whl/cpu" not in (ROOT / "environment.yml").read_text(encoding="utf-8"), (
        "GPU users would silently get CPU torch"
    )
    assert "whl/cpu" in (ROOT / "binder" / "environment.yml").read_text(encoding="utf-8"), (
        "Binder has no GPU: take the CPU build"
    )


def test_generated_docs_are_current():
    for path, content in generate_docs.generated_files().items():
        assert path.read_text(encoding="utf-8") == content, f"{path.name} is stale: run `make docs`"


def test_makefile_and_ci_entry_point():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in (
        "lab",
        "test",
        "test-fast",
        "lock",
        "execute",
        "bench",
        "docs",
        "checkpoints",
        "student",
        "normalize",
    ):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"
    assert re.search(r"^test-fast:", makefile, re.M), "contributors' quick loop: make test-fast"
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
