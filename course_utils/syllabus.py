"""The course's map, read from each notebook's `metadata.course`: syllabus, prerequisite graph, workshop agenda.

The README's syllabus, the workshop agenda and the figure in notebook 00 are all generated from
this one source, so they cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils.paths import NOTEBOOKS_DIR

# Where the course is published. Assumed until the repository exists: the Colab links and the Colab
# set-up cell of every notebook are made from these two (tools/normalize_notebooks.py).
REPOSITORY = "https://github.com/dl-one-term/deep-learning-one-term"
BRANCH = "main"
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
    if isinstance(meta.get("objectives"), list) and not (
        meta["objectives"] and all(isinstance(o, str) for o in meta["objectives"])
    ):
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
        entries.append(
            Entry(
                path.stem,
                meta["term"],
                meta["minutes"],
                tuple(meta["prerequisites"]),
                tuple(meta["objectives"]),
                meta["device"],
            )
        )
    return entries


def syllabus_markdown(entries: list[Entry]) -> str:
    """The README's syllabus table."""
    rows = ["| # | notebook | term | minutes | builds on | device |", "|---|---|---|---|---|---|"]
    for e in entries:
        prereq = ", ".join(p[:2] for p in e.prerequisites) or "none"
        rows.append(
            f"| {e.number} | [{e.title}](notebooks/{e.stem}.ipynb) | {e.term} | {e.minutes} | {prereq} | {e.device} |"
        )
    total = sum(e.minutes for e in entries)
    rows.append(f"| | **total** | | **{total}** | | |")
    return "\n".join(rows)


def prerequisite_layers(entries: list[Entry]) -> dict[str, tuple[int, int]]:
    """Where each notebook sits on the course map: (column, row).

    The column is the notebook's prerequisite depth (0 for one that builds on nothing in `entries`,
    else one more than its deepest prerequisite); within a column, notebooks are ordered by the mean row
    of their prerequisites, so arrows cross as little as this simple rule allows.

    Raises:
        ValueError: prerequisites that form a cycle.
    """
    by_stem = {e.stem: e for e in entries}
    depth: dict[str, int] = {}

    def level(stem: str, seen: tuple[str, ...] = ()) -> int:
        if stem in seen:
            raise ValueError(f"draw_prerequisite_graph: the prerequisites of {list(seen)} form a cycle")
        if stem not in depth:
            prereqs = [p for p in by_stem[stem].prerequisites if p in by_stem]
            depth[stem] = 1 + max((level(p, (*seen, stem)) for p in prereqs), default=-1)
        return depth[stem]

    columns: dict[int, list[str]] = {}
    for e in entries:
        columns.setdefault(level(e.stem), []).append(e.stem)
    place: dict[str, tuple[int, int]] = {}
    for col in sorted(columns):
        stems = columns[col]

        def centre(stem: str) -> float:
            rows = [place[p][1] for p in by_stem[stem].prerequisites if p in place]
            return sum(rows) / len(rows) if rows else 0.0

        stems.sort(key=lambda s: (centre(s), s))
        for row, stem in enumerate(stems):
            place[stem] = (col, row)
    return place


def draw_prerequisite_graph(entries: list[Entry], ax=None):
    """The course map: one box per notebook, in columns by prerequisite depth, an arrow from each prerequisite.

    Labels are wrapped to fit their boxes (the font shrinks if a word is still too long), boxes never
    overlap, and everything stays inside the figure (`tests/test_course_map.py` checks all three).

    Args:
        entries: the notebooks, e.g. `load_syllabus()`.
        ax: an Axes to draw into; by default a new figure 10 inches wide, as tall as the columns need.

    Returns:
        The matplotlib Figure.
    """
    import textwrap

    from matplotlib.patches import FancyBboxPatch

    from course_utils.plotting import PALETTE, new_figure

    if not entries:
        raise ValueError("draw_prerequisite_graph: entries must not be empty")
    place = prerequisite_layers(entries)
    n_cols = 1 + max(c for c, _ in place.values())
    col_size = {c: 1 + max(r for cc, r in place.values() if cc == c) for c in range(n_cols)}
    n_rows = max(col_size.values())
    if ax is None:
        fig, ax = new_figure(width=10.0, height=1.0 + 1.15 * n_rows)
    else:
        fig = ax.figure
    box_w, box_h = 0.84, 0.66  # in units of the column and row spacing

    def centre(stem: str) -> tuple[float, float]:
        col, row = place[stem]
        return float(col), (col_size[col] - 1) / 2 - row  # each column centred on y = 0

    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(-n_rows / 2 - 0.05, n_rows / 2 + 0.05)
    ax.axis("off")
    boxes, texts = {}, {}
    for e in entries:
        x, y = centre(e.stem)
        colour = PALETTE["orange"] if e.device == "gpu-optional" else PALETTE["sky"]
        box = FancyBboxPatch(
            (x - box_w / 2, y - box_h / 2),
            box_w,
            box_h,
            boxstyle="round,pad=0,rounding_size=0.06",
            fc=colour,
            ec="0.3",
            lw=1,
            alpha=0.95,
            zorder=3,
        )
        ax.add_patch(box)
        boxes[e.stem] = box
        texts[e.stem] = ax.text(x, y, "", ha="center", va="center", fontsize=9, zorder=4)
    ax.set_title("The course: each arrow points from a notebook to one that builds on it", fontsize=11)
    if any(e.device == "gpu-optional" for e in entries):
        ax.text(
            0.5,
            0.0,
            "orange: uses a GPU when there is one (a CPU is enough)",
            transform=ax.transAxes,
            ha="center",
            va="bottom",
            fontsize=8.5,
            color="0.25",
        )
    fig.draw_without_rendering()  # runs the layout engine: the axes' final size, which the measurements below need
    to_px = ax.transData.transform

    rects = {}  # each box in pixels, with a little room around it
    for stem in boxes:
        bx, by = centre(stem)
        (left, bottom), (right, top) = to_px(
            [(bx - box_w / 2 - 0.04, by - box_h / 2 - 0.04), (bx + box_w / 2 + 0.04, by + box_h / 2 + 0.04)]
        )
        rects[stem] = (left, bottom, right, top)
    centres_px = {stem: tuple(to_px(centre(stem))) for stem in boxes}

    def crossings(rad: float, a: str, b: str) -> int:
        """How many points of the arc from box a to box b (matplotlib's arc3 curve) fall inside other boxes."""
        (x0, y0), (x1, y1) = centres_px[a], centres_px[b]
        cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
        hits = 0
        for t in [i / 40 for i in range(1, 40)]:
            px = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1
            py = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1
            hits += sum(
                left <= px <= right and bottom <= py <= top
                for stem, (left, bottom, right, top) in rects.items()
                if stem not in (a, b)
            )
        return hits

    for e in entries:
        for p in e.prerequisites:
            if p not in place:
                continue
            # the straightest arc that passes no other box (or the fewest)
            rad = min(
                (0.0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45, 0.6, -0.6),
                key=lambda r, a=p, b=e.stem: (crossings(r, a, b), abs(r)),
            )
            ax.annotate(
                "",
                xy=centre(e.stem),
                xytext=centre(p),
                zorder=2,
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "0.5",
                    "lw": 1.1,
                    "patchA": boxes[p],
                    "patchB": boxes[e.stem],
                    "shrinkA": 1,
                    "shrinkB": 1,
                    "connectionstyle": f"arc3,rad={rad}",
                },
            )
    # wrap each label to its box, shrinking the font until every line fits (measured, not guessed)
    # (a figure from new_figure has no drawing canvas yet: matplotlib's own renderer measures the same)
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else fig._get_renderer()
    for e in entries:
        box_px = boxes[e.stem].get_window_extent(renderer)
        text = texts[e.stem]
        # whole words first, down to 7 points; only then split a word too long for its box
        for size, split in (
            (9, False),
            (8.5, False),
            (8, False),
            (7.5, False),
            (7, False),
            (7, True),
            (6.5, True),
            (6, True),
        ):
            text.set_fontsize(size)
            chars = max(4, int(box_px.width / (0.55 * size * fig.dpi / 72)))
            lines = textwrap.wrap(f"{e.number} · {e.term}", chars, break_long_words=split)
            text.set_text("\n".join([*lines, f"{e.minutes} min"]))
            extent = text.get_window_extent(renderer)
            if extent.width <= box_px.width * 0.94 and extent.height <= box_px.height * 0.94:
                break
    return fig


# --- Colab --------------------------------------------------------------------------------------


def colab_url(stem: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The address that opens `notebooks/<stem>.ipynb` of the published repository in Google Colab.

    Args:
        stem: the notebook's file name without `.ipynb`, e.g. "01_activation_functions".
        repository: the repository's address, `https://github.com/<owner>/<name>`.
        branch: the branch Colab reads the notebook from.

    Returns:
        `https://colab.research.google.com/github/<owner>/<name>/blob/<branch>/notebooks/<stem>.ipynb`.
    """
    if not isinstance(stem, str) or not re.fullmatch(r"[A-Za-z0-9_]+", stem):
        raise ValueError(f"colab_url: stem must be a notebook name without .ipynb (letters, digits, _), got {stem!r}")
    match = re.fullmatch(
        r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repository if isinstance(repository, str) else ""
    )
    if not match:
        raise ValueError(f"colab_url: repository must look like https://github.com/<owner>/<name>, got {repository!r}")
    if not isinstance(branch, str) or not re.fullmatch(r"[\w./-]+", branch):
        raise ValueError(f"colab_url: branch must be a non-empty branch name, got {branch!r}")
    return f"https://colab.research.google.com/github/{match.group(1)}/blob/{branch}/notebooks/{stem}.ipynb"


# --- Workshop agenda ----------------------------------------------------------------------------

BREAK_EVERY = 90  # minutes of work after which a break is due
BREAK_MINUTES = 15


@dataclass(frozen=True)
class Session:
    """A block of workshop time to fill with notebooks: a morning, an afternoon, a half day."""

    name: str  # the agenda's heading, e.g. "Morning"
    start: str  # clock time it begins, "HH:MM"
    minutes: int  # time available, breaks included


@dataclass(frozen=True)
class Slot:
    """One line of an agenda: a notebook, or a break when `entry` is None."""

    start: int  # minutes after the session begins
    minutes: int
    entry: Entry | None = None

    @property
    def is_break(self) -> bool:
        return self.entry is None


@dataclass(frozen=True)
class ScheduledSession:
    """A session filled with notebooks and breaks, in order."""

    session: Session
    slots: tuple[Slot, ...]

    @property
    def teaching_minutes(self) -> int:
        return sum(s.minutes for s in self.slots if not s.is_break)

    @property
    def break_minutes(self) -> int:
        return sum(s.minutes for s in self.slots if s.is_break)

    @property
    def used_minutes(self) -> int:
        """Minutes from the start to the end of the last slot; the rest of the session is slack."""
        return self.slots[-1].start + self.slots[-1].minutes if self.slots else 0


@dataclass(frozen=True)
class Schedule:
    """A workshop plan: the sessions filled, and the notebooks left for self-study afterwards."""

    sessions: tuple[ScheduledSession, ...]
    leftover: tuple[Entry, ...] = ()  # in teaching order; empty when everything fits

    @property
    def teaching_minutes(self) -> int:
        return sum(s.teaching_minutes for s in self.sessions)

    @property
    def break_minutes(self) -> int:
        return sum(s.break_minutes for s in self.sessions)


@dataclass(frozen=True)
class WorkshopFormat:
    """A way to run the whole course as a workshop: named sessions, in order."""

    name: str
    summary: str  # one line for the agenda, e.g. "09:00 to 17:30, lunch 12:30 to 13:30"
    sessions: tuple[Session, ...]


WORKSHOP_FORMATS = (
    WorkshopFormat(
        "One day",
        "09:00 to 17:30, with lunch from 12:30 to 13:30.",
        (Session("Morning", "09:00", 210), Session("Afternoon", "13:30", 240)),
    ),
    WorkshopFormat(
        "Two half days",
        "Two mornings, 09:00 to 13:00, on consecutive days or a week apart.",
        (Session("Day 1", "09:00", 240), Session("Day 2", "09:00", 240)),
    ),
)


def _clock(start: str, offset: int) -> str:
    """`start` ("HH:MM") plus `offset` minutes, as "HH:MM"."""
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", start) if isinstance(start, str) else None
    if not match:
        raise ValueError(f"start must be a clock time 'HH:MM' (24-hour), got {start!r}")
    total = int(match.group(1)) * 60 + int(match.group(2)) + offset
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


def workshop_order(entries: Sequence[Entry]) -> list[Entry]:
    """The entries in teaching order: as given, except that a notebook waits until its prerequisites are done.

    Prerequisites that are not among `entries` count as done before the workshop.

    Raises:
        ValueError: two entries with the same stem, or prerequisites that form a cycle.
    """
    stems = [e.stem for e in entries]
    if len(set(stems)) != len(stems):
        raise ValueError(f"workshop_order: entries must have distinct stems, got {stems}")
    remaining, done, ordered = list(entries), set(), []
    while remaining:
        ready = next((e for e in remaining if all(p in done or p not in stems for p in e.prerequisites)), None)
        if ready is None:
            raise ValueError(f"workshop_order: the prerequisites of {[e.stem for e in remaining]} form a cycle")
        ordered.append(ready)
        done.add(ready.stem)
        remaining.remove(ready)
    return ordered


def schedule_workshop(
    entries: Sequence[Entry],
    sessions: Sequence[Session],
    *,
    break_every: int = BREAK_EVERY,
    break_minutes: int = BREAK_MINUTES,
    allow_leftover: bool = False,
) -> Schedule:
    """Fill the sessions, in order, with the notebooks (prerequisites first) and breaks.

    Notebooks are never split: one that does not fit in what is left of a session opens the next.
    Within a session, a break of `break_minutes` comes before any notebook that would take the work
    since the last break (or the session's start) past `break_every` minutes; a session never ends
    on a break.

    Args:
        entries: the notebooks, e.g. `load_syllabus()`.
        sessions: the time available, in order.
        break_every: at most this many minutes of work between breaks (a longer notebook stands alone).
        break_minutes: the length of a break (0 for none).
        allow_leftover: when the notebooks do not all fit, return the first one that does not and all
            after it as `Schedule.leftover` (self-study) instead of raising.

    Returns:
        A `Schedule`: one `ScheduledSession` per session (a session may stay empty when everything
        fits before it), and the leftover notebooks.

    Raises:
        ValueError: bad arguments, a notebook longer than every session, or (unless `allow_leftover`)
            notebooks that do not fit, named with the minutes they need.
    """
    for pname, value, low in (("break_every", break_every, 1), ("break_minutes", break_minutes, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"schedule_workshop: {pname} must be an int >= {low}, got {value!r}")
    if not sessions or not all(isinstance(s, Session) for s in sessions):
        raise TypeError(f"schedule_workshop: sessions must be a non-empty sequence of Session, got {sessions!r}")
    for s in sessions:
        try:
            _clock(s.start, 0)
        except ValueError as exc:
            raise ValueError(f"schedule_workshop: session {s.name!r}: {exc}") from None
        if isinstance(s.minutes, bool) or not isinstance(s.minutes, int) or s.minutes < 1:
            raise ValueError(f"schedule_workshop: session {s.name!r} needs minutes >= 1, got {s.minutes!r}")
    queue = workshop_order(entries)
    longest = max(s.minutes for s in sessions)
    too_long = [e.stem for e in queue if e.minutes > longest]
    if too_long:
        raise ValueError(f"schedule_workshop: {too_long} take longer than the longest session ({longest} min)")
    filled = []
    for session in sessions:  # greedy: each session takes notebooks in order while they fit
        slots, clock, since_break = [], 0, 0
        while queue:
            entry = queue[0]
            needs_break = break_minutes > 0 and since_break > 0 and since_break + entry.minutes > break_every
            pause = break_minutes if needs_break else 0
            if clock + pause + entry.minutes > session.minutes:
                break  # the next session starts with it
            if needs_break:
                slots.append(Slot(clock, break_minutes))
                clock, since_break = clock + break_minutes, 0
            slots.append(Slot(clock, entry.minutes, entry))
            clock, since_break = clock + entry.minutes, since_break + entry.minutes
            queue.pop(0)
        filled.append(ScheduledSession(session, tuple(slots)))
    if queue and not allow_leftover:
        missing = sum(e.minutes for e in queue)
        raise ValueError(
            f"schedule_workshop: {[e.stem for e in queue]} ({missing} min) do not fit in the sessions "
            f"{[s.name for s in sessions]}: add time or a session, or pass allow_leftover=True"
        )
    return Schedule(tuple(filled), tuple(queue))


def _label(e: Entry) -> str:
    return f"{e.number} · {e.title}"


def _session_markdown(scheduled: ScheduledSession) -> list[str]:
    s = scheduled.session
    lines = [
        f"### {s.name}, {_clock(s.start, 0)} to {_clock(s.start, s.minutes)}",
        "",
        "| time | notebook | minutes | builds on |",
        "|---|---|---|---|",
    ]
    for slot in scheduled.slots:
        when = f"{_clock(s.start, slot.start)}–{_clock(s.start, slot.start + slot.minutes)}"
        if slot.is_break:
            lines.append(f"| {when} | *break* | {slot.minutes} | |")
        else:
            e = slot.entry
            prereq = ", ".join(p[:2] for p in e.prerequisites) or "none"
            gpu = " (GPU optional)" if e.device == "gpu-optional" else ""
            lines.append(f"| {when} | [{_label(e)}](notebooks/{e.stem}.ipynb){gpu} | {e.minutes} | {prereq} |")
    slack = s.minutes - scheduled.used_minutes
    lines += [
        "",
        f"{scheduled.teaching_minutes} min of notebooks and {scheduled.break_minutes} min of breaks; "
        f"{slack} min left for questions.",
    ]
    return lines


def workshop_markdown(
    entries: Sequence[Entry],
    formats: Sequence[WorkshopFormat] = WORKSHOP_FORMATS,
    *,
    break_every: int = BREAK_EVERY,
    break_minutes: int = BREAK_MINUTES,
) -> str:
    """WORKSHOP.md: the agenda of each format, what to prepare, and what each notebook covers.

    Args:
        entries: the notebooks, e.g. `load_syllabus()`.
        formats: the workshop formats to schedule (`WORKSHOP_FORMATS` by default).
        break_every, break_minutes: passed to `schedule_workshop`.

    Returns:
        The whole file's text, ending in a newline.
    """
    total = sum(e.minutes for e in entries)
    lines = [
        "# Workshop agenda",
        "",
        "<!-- Generated by `make docs` (tools/generate_docs.py) from each notebook's metadata.course; "
        "edit those, not this file. A test fails when it is stale. -->",
        "",
        f"The course as a workshop: {len(entries)} notebooks, {total} minutes of hands-on work (each notebook's",
        "own estimate for reading, running, the widgets and the exercises). Both formats below keep every",
        f"notebook after the ones it builds on and put a {break_minutes}-minute break after at most {break_every}"
        " minutes of work.",
        "How to set up the room, the hub or the cloud: [docs/instructors.md](docs/instructors.md).",
        "",
        "## Before the day",
        "",
        "- **Participants** need basic Python (functions, loops, lists) and what a derivative is; no",
        "  deep-learning background.",
        "- **Machines**: laptops with the course installed (`make lab`), or one link for everyone to a",
        "  JupyterHub, Binder or Colab. A CPU is enough.",
        "- **Capstone**: its pre-trained model ships in `data/`; if it is missing, run `make checkpoints`",
        "  beforehand, so nobody waits.",
        "- **Room check**: the agenda starts with notebook 00; every row of its environment check must say ok.",
        "- **Student copies**: `make student` writes the notebooks without solutions to `build/student/`.",
    ]
    for fmt in formats:
        plan = schedule_workshop(
            entries, fmt.sessions, break_every=break_every, break_minutes=break_minutes, allow_leftover=True
        )
        lines += ["", f"## {fmt.name}", "", fmt.summary]
        for session in plan.sessions:
            lines += [""] + _session_markdown(session)
        if plan.leftover:
            rest = ", ".join(f"{_label(e)} ({e.minutes} min)" for e in plan.leftover)
            lines += ["", f"Not in this format, for self-study afterwards: {rest}."]
    lines += ["", "## What each notebook covers", ""]
    for e in workshop_order(entries):
        prereq = ", ".join(p[:2] for p in e.prerequisites) or "nothing"
        lines += [f"**[{_label(e)}](notebooks/{e.stem}.ipynb)**, {e.minutes} min, builds on {prereq}:", ""]
        lines += [f"- {objective}" for objective in e.objectives] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
