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
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repository if isinstance(repository, str) else "")
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
    WorkshopFormat("One day", "09:00 to 17:30, with lunch from 12:30 to 13:30.",
                   (Session("Morning", "09:00", 210), Session("Afternoon", "13:30", 240))),
    WorkshopFormat("Two half days", "Two mornings, 09:00 to 13:00, on consecutive days or a week apart.",
                   (Session("Day 1", "09:00", 240), Session("Day 2", "09:00", 240))),
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


def schedule_workshop(entries: Sequence[Entry], sessions: Sequence[Session], *, break_every: int = BREAK_EVERY,
                      break_minutes: int = BREAK_MINUTES, allow_leftover: bool = False) -> Schedule:
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
        raise ValueError(f"schedule_workshop: {[e.stem for e in queue]} ({missing} min) do not fit in the sessions "
                         f"{[s.name for s in sessions]}: add time or a session, or pass allow_leftover=True")
    return Schedule(tuple(filled), tuple(queue))


def _label(e: Entry) -> str:
    return f"{e.number} · {e.title}"


def _session_markdown(scheduled: ScheduledSession) -> list[str]:
    s = scheduled.session
    lines = [f"### {s.name}, {_clock(s.start, 0)} to {_clock(s.start, s.minutes)}", "",
             "| time | notebook | minutes | builds on |", "|---|---|---|---|"]
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
    lines += ["", f"{scheduled.teaching_minutes} min of notebooks and {scheduled.break_minutes} min of breaks; "
                  f"{slack} min left for questions."]
    return lines


def workshop_markdown(entries: Sequence[Entry], formats: Sequence[WorkshopFormat] = WORKSHOP_FORMATS, *,
                      break_every: int = BREAK_EVERY, break_minutes: int = BREAK_MINUTES) -> str:
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
        plan = schedule_workshop(entries, fmt.sessions, break_every=break_every, break_minutes=break_minutes,
                                 allow_leftover=True)
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
