"""The workshop and self-study kit: slides, Colab, the generated agenda and its scheduler, the instructor guide."""

import copy
import os
import sys
import types
from pathlib import Path

import nbformat
import pytest

from course_utils.syllabus import (
    REPOSITORY,
    WORKSHOP_FORMATS,
    Entry,
    Session,
    colab_url,
    load_syllabus,
    schedule_workshop,
    syllabus_markdown,
    workshop_markdown,
    workshop_order,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from normalize_notebooks import (  # noqa: E402
    COLAB_CELL,
    normalize,
    slide_type,
    split_at_headings,
    with_colab_link,
)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_TEMPLATE = [*NOTEBOOKS, ROOT / "notebooks" / "_template.ipynb"]
ids = [p.stem for p in WITH_TEMPLATE]
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def read(path):
    return nbformat.read(path, as_version=4)


# --- every notebook carries the kit ---------------------------------------------------------------


@pytest.mark.parametrize("path", WITH_TEMPLATE, ids=ids)
def test_every_cell_has_slide_metadata(path):
    nb = read(path)
    for i, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        assert kind in SLIDE_TYPES, f"cell {i} has slide_type {kind!r}: run tools/normalize_notebooks.py"
    assert nb.cells[0].metadata["slideshow"]["slide_type"] == "slide", "the title opens the first slide"
    assert nb.metadata.get("rise", {}).get("scroll") is True


@pytest.mark.parametrize("path", WITH_TEMPLATE, ids=ids)
def test_title_links_to_colab_and_the_first_code_cell_sets_colab_up(path):
    nb = read(path)
    assert f"[Open in Colab]({colab_url(path.stem)})" in nb.cells[0].source
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == COLAB_CELL
    assert first_code.outputs == [], "outside Colab the set-up cell prints nothing"
    assert first_code.metadata["slideshow"]["slide_type"] == "skip"


@pytest.mark.parametrize("path", WITH_TEMPLATE, ids=ids)
def test_notebook_is_normalized(path):
    nb = read(path)
    assert normalize(copy.deepcopy(nb), path.stem) == nb, f"run: python tools/normalize_notebooks.py {path.name[:2]}"


def test_notebook_00_shows_the_current_map():
    nb = read(ROOT / "notebooks" / "00_start_here.ipynb")
    table = next(c for c in nb.cells if c.cell_type == "code" and "syllabus_markdown(" in c.source)
    shown = "".join(o.get("data", {}).get("text/markdown", "") for o in table.outputs)
    assert shown == syllabus_markdown(load_syllabus()), "the course changed: re-execute notebook 00"


# --- the Colab set-up cell ------------------------------------------------------------------------


def _run_colab_cell(magics: list) -> None:
    """Run the Colab cell as IPython would (its `%pip` line becomes a magic call), recording magic calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    class Shell:
        def run_line_magic(self, name, line):
            magics.append((name, line))

    python = TransformerManager().transform_cell(COLAB_CELL)
    exec(compile(python, "colab-cell", "exec"), {"get_ipython": Shell})


def test_colab_cell_does_nothing_outside_colab(monkeypatch, capfd):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path_before, cwd_before, magics = list(sys.path), os.getcwd(), []
    _run_colab_cell(magics)
    assert magics == [] and capfd.readouterr() == ("", "")
    assert sys.path == path_before and os.getcwd() == cwd_before


def test_colab_cell_in_colab_is_one_pip_install_of_the_repository(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    magics = []
    _run_colab_cell(magics)
    # no clone, no editable install, no chdir: the wheel carries the checkpoints and notebooks (tests/test_install.py)
    assert magics == [("pip", f'install -q --no-deps "git+{REPOSITORY}"')]
    last_line = [line for line in COLAB_CELL.splitlines() if line.strip()][-1]
    assert last_line.strip() == f'%pip install -q --no-deps "git+{REPOSITORY}"'


def test_colab_url():
    url = colab_url("01_activation_functions")
    owner_name = REPOSITORY.removeprefix("https://github.com/")
    assert (
        url
        == f"https://colab.research.google.com/github/{owner_name}/blob/main/notebooks/01_activation_functions.ipynb"
    )
    assert colab_url("x", repository="https://github.com/a/b.git", branch="dev").endswith(
        "/a/b/blob/dev/notebooks/x.ipynb"
    )
    for bad in (
        {"stem": "01 bad"},
        {"stem": "x.ipynb"},
        {"stem": "x", "repository": "https://gitlab.com/a/b"},
        {"stem": "x", "branch": ""},
    ):
        with pytest.raises(ValueError, match=next(iter(bad.keys() - {"stem"}), "stem")):
            colab_url(**bad)


# --- the normalizer's rules -----------------------------------------------------------------------


def md(source):
    return nbformat.v4.new_markdown_cell(source)


def test_markdown_is_split_before_headings_but_not_inside_code_or_right_under_a_heading():
    cell = md("Text.\n\n## Mechanics\n\n### The maths\nMore.\n```\n# a comment\n## not a heading\n```\n### Next\nEnd.")
    cell["id"] = "abc"
    pieces = split_at_headings(cell)
    assert [p.source.splitlines()[0] for p in pieces] == ["Text.", "## Mechanics", "### Next"]
    assert "## not a heading" in pieces[1].source  # fenced code stays whole
    assert [p["id"] for p in pieces] == ["abc", "abc-1", "abc-2"]
    assert split_at_headings(pieces[1]) == [pieces[1]]  # already split: unchanged
    code = nbformat.v4.new_code_cell("x = 1\n## a comment")
    assert split_at_headings(code) == [code]


def test_slide_types_follow_the_rule():
    check = nbformat.v4.new_code_cell("check_x(x)")
    check.metadata["tags"] = ["check"]
    cells = [
        md("# Title"),
        nbformat.v4.new_code_cell(COLAB_CELL),
        md("## Section"),
        md("### Sub"),
        md("Text"),
        nbformat.v4.new_code_cell("x = 1"),
        check,
        md("#### Small heading"),
    ]
    assert [slide_type(c, i) for i, c in enumerate(cells)] == [
        "slide",
        "skip",
        "slide",
        "subslide",
        "-",
        "-",
        "fragment",
        "-",
    ]


def test_colab_link_is_added_once_and_follows_the_file_name():
    title = "# NN · Term\n\n**The term.** Words."
    once = with_colab_link(title, "_template")
    assert once == f"# NN · Term\n\n[Open in Colab]({colab_url('_template')})\n\n**The term.** Words."
    assert with_colab_link(once, "_template") == once
    renamed = with_colab_link(once, "11_new_term")
    assert colab_url("11_new_term") in renamed and colab_url("_template") not in renamed
    assert renamed.count("Open in Colab") == 1


def test_normalize_adds_the_colab_cell_first_and_keeps_code_untouched():
    setup = nbformat.v4.new_code_cell("from course_utils import set_seed", execution_count=1)
    nb = nbformat.v4.new_notebook(cells=[md("# 99 · Test\n\nWords."), setup, md("Intro.\n\n## Intuition first\nPlay.")])
    out = normalize(copy.deepcopy(nb), "99_test")
    assert [c.cell_type for c in out.cells] == ["markdown", "code", "code", "markdown", "markdown"]
    assert out.cells[1].source == COLAB_CELL and out.cells[2] == {**setup, "metadata": out.cells[2].metadata}
    assert normalize(copy.deepcopy(out), "99_test") == out
    nbformat.validate(out)


# --- the scheduler --------------------------------------------------------------------------------


def entry(number, minutes, *prereqs):
    return Entry(
        f"{number:02d}_n{number}",
        f"Term {number}",
        minutes,
        tuple(f"{p:02d}_n{p}" for p in prereqs),
        ("objective",),
        "cpu",
    )


COURSE = [
    entry(0, 10),
    entry(1, 30, 0),
    entry(2, 35, 1),
    entry(3, 35, 1, 2),
    entry(4, 40, 2, 3),
    entry(5, 35, 3, 4),
    entry(6, 35, 1, 4),
    entry(7, 40, 1, 2),
]
DAY = (Session("Morning", "09:00", 210), Session("Afternoon", "13:30", 240))


def notebooks_in(schedule):
    return [slot.entry for s in schedule.sessions for slot in s.slots if not slot.is_break]


def test_sessions_fill_in_order_without_splitting_a_notebook():
    plan = schedule_workshop(COURSE, DAY)
    assert notebooks_in(plan) == COURSE and plan.leftover == ()
    for s in plan.sessions:
        assert s.used_minutes <= s.session.minutes
        starts = [slot.start for slot in s.slots]
        assert starts[0] == 0 and all(a.start + a.minutes == b.start for a, b in zip(s.slots, s.slots[1:]))
    morning = [slot.entry.stem[:2] for slot in plan.sessions[0].slots if not slot.is_break]
    assert morning == ["00", "01", "02", "03", "04"]  # 05 does not fit after a break: it opens the afternoon
    assert plan.sessions[0].used_minutes + 15 + 35 > 210


def test_breaks_come_before_work_would_pass_the_limit_and_never_end_a_session():
    plan = schedule_workshop(COURSE, DAY, break_every=90, break_minutes=15)
    for s in plan.sessions:
        assert not s.slots[-1].is_break and not s.slots[0].is_break
        work = 0
        for a, b in zip(s.slots, s.slots[1:]):
            assert not (a.is_break and b.is_break)
        for slot in s.slots:
            work = 0 if slot.is_break else work + slot.minutes
            assert work <= 90
    assert [slot.minutes for s in plan.sessions for slot in s.slots if slot.is_break] == [15, 15]
    no_breaks = schedule_workshop(COURSE, DAY, break_minutes=0)
    assert no_breaks.break_minutes == 0 and notebooks_in(no_breaks) == COURSE


def test_a_notebook_longer_than_the_break_limit_stands_alone():
    plan = schedule_workshop(
        [entry(0, 20), entry(1, 100), entry(2, 20)], [Session("Day", "09:00", 300)], break_every=60, break_minutes=10
    )
    kinds = [("break" if slot.is_break else slot.minutes) for slot in plan.sessions[0].slots]
    assert kinds == [20, "break", 100, "break", 20]


def test_prerequisites_come_first_whatever_the_given_order():
    shuffled = [COURSE[i] for i in (7, 5, 0, 6, 2, 4, 1, 3)]
    order = workshop_order(shuffled)
    seen = set()
    for e in order:
        assert set(e.prerequisites) <= seen, f"{e.stem} before its prerequisites"
        seen.add(e.stem)
    assert order[0].stem == "00_n0" and order[1].stem == "01_n1"
    plan = schedule_workshop(shuffled, DAY)
    assert [e.stem for e in notebooks_in(plan)] == [e.stem for e in order]
    assert workshop_order([entry(5, 30, 3)]) == [entry(5, 30, 3)], "a prerequisite outside the set counts as done"


def test_totals_add_up():
    plan = schedule_workshop(COURSE, DAY)
    assert plan.teaching_minutes == sum(e.minutes for e in COURSE) == 260
    assert plan.break_minutes == sum(s.break_minutes for s in plan.sessions) == 30
    for s in plan.sessions:
        assert s.used_minutes == s.teaching_minutes + s.break_minutes


def test_what_does_not_fit_is_refused_or_left_for_self_study():
    short = (Session("Only", "09:00", 120),)
    with pytest.raises(ValueError, match=r"\['03_n3', '04_n4'.*do not fit"):
        schedule_workshop(COURSE, short)
    plan = schedule_workshop(COURSE, short, allow_leftover=True)
    assert [e.stem[:2] for e in plan.leftover] == ["03", "04", "05", "06", "07"]
    assert notebooks_in(plan) + list(plan.leftover) == COURSE
    with pytest.raises(ValueError, match="longer than the longest session"):
        schedule_workshop([entry(0, 300)], DAY, allow_leftover=True)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"sessions": ()}, TypeError),
        ({"sessions": [("Morning", "09:00", 60)]}, TypeError),
        ({"sessions": [Session("Morning", "9:00", 60)]}, ValueError),
        ({"sessions": [Session("Morning", "09:00", 0)]}, ValueError),
        ({"break_every": 0}, ValueError),
        ({"break_minutes": -5}, ValueError),
        ({"break_every": True}, ValueError),
    ],
)
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error):
        schedule_workshop(COURSE, **{"sessions": DAY, **kwargs})


def test_cycles_and_duplicates_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        workshop_order([entry(1, 10, 2), entry(2, 10, 1)])
    with pytest.raises(ValueError, match="distinct"):
        workshop_order([entry(1, 10), entry(1, 20)])


def test_agenda_lists_every_notebook_in_every_format_with_clock_times():
    text = workshop_markdown(COURSE)
    for fmt in WORKSHOP_FORMATS:
        assert f"## {fmt.name}" in text
    assert "| 09:00–09:10 | [00 · N0](notebooks/00_n0.ipynb) | 10 | none |" in text
    assert "| 10:15–10:30 | *break* | 15 | |" in text
    assert "### Afternoon, 13:30 to 17:30" in text
    for e in COURSE:
        assert text.count(f"](notebooks/{e.stem}.ipynb)") == len(WORKSHOP_FORMATS) + 1  # each format + the list
    tight = workshop_markdown(
        COURSE, [WORKSHOP_FORMATS[0].__class__("Short", "One hour.", (Session("S", "09:00", 60),))]
    )
    assert "Not in this format, for self-study afterwards: 02 · N2 (35 min)" in tight


def test_the_real_course_schedules_with_prerequisites_first():
    entries = load_syllabus()
    for fmt in WORKSHOP_FORMATS:
        plan = schedule_workshop(entries, fmt.sessions, allow_leftover=True)
        placed = notebooks_in(plan) + list(plan.leftover)
        assert sorted(e.stem for e in placed) == sorted(e.stem for e in entries)
        done = set()
        for e in placed:
            assert {p for p in e.prerequisites if p in {x.stem for x in entries}} <= done
            done.add(e.stem)


# --- commands and docs ----------------------------------------------------------------------------


def test_makefile_readme_and_instructor_guide():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nstudent:" in makefile and "tools/student_copies.py" in makefile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/instructors.md" in readme and "WORKSHOP.md" in readme
    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    for topic in (
        "make lab",
        "Littlest JupyterHub",
        "Zero to JupyterHub",
        "Binder",
        "Colab",
        "make checkpoints",
        "make student",
        "jupyterlab-rise",
        'use_style("workshop")',
        "00_start_here",
    ):
        assert topic in guide, f"the instructor guide should cover {topic}"
