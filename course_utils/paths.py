"""Where the course's shipped files live: the pre-trained checkpoints and the notebooks.

One place for these paths, so the package works from a checkout (editable install) and, once the
checkpoints ship as package data, from a plain `pip install` too.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"  # the shipped checkpoints (tinygpt_world*.pt), listed in data/README.md
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
