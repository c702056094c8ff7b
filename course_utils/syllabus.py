"""The course's map, read from each notebook's `metadata.course`: syllabus table and prerequisite graph.

The README's syllabus, the workshop agenda and the figure in notebook 00 are all generated from
this one source, so they cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
REQUIRED_KEYS = {"term": str, "minutes": int, "prerequisites": list, "objectives": list, "device": str}
DEVICES = ("cpu", "gpu-optional")


@dataclass(frozen=True)
class Entry:
    """One notebook of the course."""

    stem: str  # file name without .ipynb, e.g. "01_activation_functions"
    term: str
    minutes: int
    prerequisites: tuple[str, ...]
    objectives: tuple[str, ...]
    device: str

    @property
    def number(self) -> str:
        return self.stem[:2]

    @property
    def title(self) -> str:
        return self.stem[3:].replace("_", " ").capitalize()


def validate_course_metadata(meta: object, where: str = "metadata.course") -> list[str]:
    """Problems with one notebook's `metadata.course`, as readable strings (empty when valid)."""
    if not isinstance(meta, dict):
        return [f"{where} is missing or not a mapping"]
    problems = []
    for key, kind in REQUIRED_KEYS.items():
        if key not in meta:
            problems.append(f"{where}.{key} is missing")
        elif not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            problems.append(f"{where}.{key} should be {kind.__name__}, got {type(meta[key]).__name__}")
    if isinstance(meta.get("minutes"), int) and not 5 <= meta["minutes"] <= 240:
        problems.append(f"{where}.minutes should be between 5 and 240, got {meta['minutes']}")
    if isinstance(meta.get("objectives"), list) and not (meta["objectives"] and all(isinstance(o, str) for o in meta["objectives"])):
        problems.append(f"{where}.objectives should be a non-empty list of strings")
    if meta.get("device") not in DEVICES and "device" in meta:
        problems.append(f"{where}.device should be one of {DEVICES}, got {meta['device']!r}")
    return problems


def load_syllabus(notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[Entry]:
    """Every `NN_name.ipynb` in `notebooks_dir`, in order, with its metadata."""
    entries = []
    for path in sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("course")
        problems = validate_course_metadata(meta, f"{path.name}: metadata.course")
        if problems:
            raise ValueError("; ".join(problems))
        entries.append(Entry(path.stem, meta["term"], meta["minutes"], tuple(meta["prerequisites"]),
                             tuple(meta["objectives"]), meta["device"]))
    return entries


def syllabus_markdown(entries: list[Entry]) -> str:
    """The README's syllabus table."""
    rows = ["| # | notebook | term | minutes | builds on | device |", "|---|---|---|---|---|---|"]
    for e in entries:
        prereq = ", ".join(p[:2] for p in e.prerequisites) or "none"
        rows.append(f"| {e.number} | [{e.title}](notebooks/{e.stem}.ipynb) | {e.term} | {e.minutes} | {prereq} | {e.device} |")
    total = sum(e.minutes for e in entries)
    rows.append(f"| | **total** | | **{total}** | | |")
    return "\n".join(rows)


def draw_prerequisite_graph(entries: list[Entry], ax=None):
    """Draw the notebooks as boxes in columns by depth, with an arrow from each prerequisite."""
    from course_utils.plotting import PALETTE, new_figure

    if ax is None:
        fig, ax = new_figure(width=10.0, height=4.6)
    else:
        fig = ax.figure
    by_stem = {e.stem: e for e in entries}
    depth: dict[str, int] = {}

    def level(stem: str) -> int:
        if stem not in depth:
            prereqs = [p for p in by_stem[stem].prerequisites if p in by_stem]
            depth[stem] = 1 + max((level(p) for p in prereqs), default=-1)
        return depth[stem]

    columns: dict[int, list[str]] = {}
    for e in entries:
        columns.setdefault(level(e.stem), []).append(e.stem)
    pos = {}
    for col, stems in columns.items():
        for row, stem in enumerate(stems):
            pos[stem] = (col, -(row - (len(stems) - 1) / 2))
    for e in entries:
        for p in e.prerequisites:
            if p in pos:
                ax.annotate("", xy=pos[e.stem], xytext=pos[p],
                            arrowprops={"arrowstyle": "-|>", "color": "0.55", "lw": 1.2,
                                        "shrinkA": 28, "shrinkB": 28, "connectionstyle": "arc3,rad=0.08"})
    for e in entries:
        colour = PALETTE["orange"] if e.device == "gpu-optional" else PALETTE["sky"]
        ax.text(*pos[e.stem], f"{e.number} {e.term}\n{e.minutes} min", ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.4", "fc": colour, "ec": "0.3", "alpha": 0.9})
    ax.set_xlim(-0.6, max(columns) + 0.6)
    rows = max(len(s) for s in columns.values())
    ax.set_ylim(-rows / 2 - 0.2, rows / 2 + 0.2)
    ax.axis("off")
    ax.set_title("The course: each arrow points from a notebook to one that builds on it")
    return fig
