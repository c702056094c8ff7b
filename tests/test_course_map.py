"""The course map of notebook 00 (`syllabus.draw_prerequisite_graph`): readable, whatever the course looks like.

Readable means: no two boxes overlap, every label stays inside its box, and no text runs off the figure.
Checked on the real course and on made-up ones (a wide layer, long names, a long chain).
"""

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyBboxPatch

from course_utils.syllabus import Entry, draw_prerequisite_graph, load_syllabus, prerequisite_layers

matplotlib.use("Agg")


def entry(stem, prerequisites=(), term=None, device="cpu"):
    return Entry(stem, term or stem[3:].replace("_", " ").title(), 30, tuple(prerequisites), ("an objective",), device)


WIDE = (
    [entry("00_start")]
    + [entry(f"0{i}_topic_{i}", ["00_start"], term=f"A rather long term name number {i}") for i in range(1, 6)]
    + [entry("06_end", [f"0{i}_topic_{i}" for i in range(1, 6)])]
)
CHAIN = [entry(f"{i:02d}_step", [f"{i - 1:02d}_step"] if i else [], term="Incomprehensibilities") for i in range(12)]
SKIPS = [
    entry("00_a"),
    entry("01_b", ["00_a"]),
    entry("02_c", ["01_b"]),
    entry("03_d", ["00_a", "02_c"], device="gpu-optional"),
]


def _drawn(entries):
    fig = draw_prerequisite_graph(entries)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return fig, canvas.get_renderer()


@pytest.mark.parametrize("entries", [load_syllabus(), WIDE, CHAIN, SKIPS], ids=["course", "wide", "chain", "skips"])
def test_boxes_do_not_overlap_and_labels_fit(entries):
    fig, renderer = _drawn(entries)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(entries)
    extents = [b.get_window_extent(renderer) for b in boxes]
    for i, a in enumerate(extents):
        for b in extents[i + 1 :]:
            assert not a.overlaps(b), f"boxes overlap: {a} and {b}"
    figure_box = fig.bbox
    # the axis is switched off, so its tick labels are never drawn: the texts are the axes' own and its title
    labels = [t for t in [*ax.texts, ax.title] if t.get_visible() and t.get_text().strip()]
    for text in labels:
        e = text.get_window_extent(renderer)
        assert e.x0 >= figure_box.x0 and e.y0 >= figure_box.y0 and e.x1 <= figure_box.x1 and e.y1 <= figure_box.y1, (
            f"{text.get_text()!r} runs off the figure ({e} vs {figure_box})"
        )
    for entry_, box in zip(entries, extents):
        label = next(t for t in ax.texts if t.get_text().startswith(f"{entry_.number} ·"))
        e = label.get_window_extent(renderer)
        assert box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0 and e.y1 <= box.y1, (
            f"label {label.get_text()!r} does not fit its box ({e} vs {box})"
        )
        assert label.get_fontsize() >= 6
        assert f"{entry_.minutes} min" in label.get_text()
        assert "".join(label.get_text().split()).startswith("".join(f"{entry_.number} · {entry_.term}".split()))


def test_layers_follow_prerequisite_depth():
    place = prerequisite_layers(SKIPS)
    assert {stem: col for stem, (col, _) in place.items()} == {"00_a": 0, "01_b": 1, "02_c": 2, "03_d": 3}
    course = load_syllabus()
    place = prerequisite_layers(course)
    for e in course:
        for p in e.prerequisites:
            assert place[p][0] < place[e.stem][0], f"{p} should sit left of {e.stem}"
    rows = {}
    for col, row in place.values():
        rows.setdefault(col, []).append(row)
    assert all(sorted(r) == list(range(len(r))) for r in rows.values())


def test_bad_input():
    with pytest.raises(ValueError, match="cycle"):
        prerequisite_layers([entry("00_a", ["01_b"]), entry("01_b", ["00_a"])])
    with pytest.raises(ValueError, match="entries"):
        draw_prerequisite_graph([])
