"""The project's own files agree with each other: environments, constraints, generated docs, CI."""

import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import generate_docs  # noqa: E402


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _yaml_requirements(path: Path) -> dict[str, str]:
    """Package name -> requirement text, from the conda and pip sections of an environment file."""
    found = {}
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("dependencies:"))
    for line in lines[start + 1:]:
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
    assert "- -e ." in (ROOT / "environment.yml").read_text(), "environment.yml installs the course editable"
    assert "pip install" in (ROOT / "binder" / "postBuild").read_text()


def test_torch_range_admits_2_11_and_constraints_pin_what_ci_tests():
    torch_dep = next(d for d in _pyproject()["project"]["dependencies"] if _name(d) == "torch")
    assert torch_dep.replace(" ", "") == "torch>=2.11"
    constraints = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", constraints, re.M)
    pinned = {_name(line) for line in constraints.splitlines() if line and not line.startswith("#")}
    for extra in ("test",):
        for dep in _pyproject()["project"]["optional-dependencies"][extra]:
            assert _name(dep) in pinned, f"{dep} (extra {extra!r}) has no pin in constraints.txt"


def test_generated_docs_are_current():
    for path, content in generate_docs.generated_files().items():
        assert path.read_text(encoding="utf-8") == content, f"{path.name} is stale: run `make docs`"


def test_makefile_and_ci_entry_point():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "execute", "bench", "docs", "checkpoints", "student", "normalize"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"
    assert "constraints.txt" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
