"""Where the course's shipped files live: the pre-trained checkpoints and the notebooks.

The one place for these paths; every other module imports them from here. They are found relative
to the package itself, never to the working directory, so notebooks run from any folder, and both
kinds of install work:

- a wheel (`pip install "git+<repository URL>"`, Colab): the checkpoints and the notebooks ship
  inside the package, as `course_utils/checkpoints/` and `course_utils/notebooks/` (pyproject.toml
  maps the repository's `data/` and `notebooks/` there; those folders stay the source);
- a checkout (`pip install -e .`, `make lab`): the repository's own `data/` and `notebooks/`, beside
  the package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_or_checkout(shipped: str, checkout: str) -> Path:
    """The folder shipped inside the package (a wheel install), else the checkout's own folder."""
    inside = PACKAGE_DIR / shipped
    return inside if inside.is_dir() else PACKAGE_DIR.parent / checkout


DATA_DIR = _shipped_or_checkout("checkpoints", "data")  # the checkpoints (tinygpt_world*.pt), see data/README.md
NOTEBOOKS_DIR = _shipped_or_checkout("notebooks", "notebooks")  # NN_name.ipynb, read for the syllabus
REPO_ROOT = PACKAGE_DIR.parent  # a checkout's root; in a wheel install, site-packages (nothing of ours is there)
