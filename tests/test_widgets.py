"""Every widget of the course, driven without a kernel: each control must redraw the figure."""

import ipywidgets as widgets
import matplotlib
import pytest

from course_utils.plotting import new_figure
from course_utils.widgets import Explorer
from course_utils.widgets.explorer import alternative_values, discover_builders

matplotlib.use("Agg")
BUILDERS = discover_builders()


def test_builders_are_found():
    assert "activations.make_activation_explorer" in BUILDERS
    assert "start_here.make_widget_check" in BUILDERS


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_every_control_changes_the_figure(key):
    explorer = BUILDERS[key]()
    assert isinstance(explorer, Explorer), f"{key} must return an Explorer"
    assert explorer.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    for name, control in explorer.controls.items():
        before = explorer.image.value
        others = alternative_values(control, count=1)
        assert others, f"{key}: control {name!r} has no other value to move to"
        control.value = others[0]
        assert explorer.image.value != before, f"{key}: moving {name!r} to {others[0]!r} did not change the figure"
        assert "Cannot draw" not in explorer.caption.value, explorer.caption.value


def test_explorer_set_redraws_once_and_rejects_unknown_controls():
    fig, ax = new_figure()
    calls = []

    def draw(a, b):
        calls.append((a, b))
        ax.set_title(f"{a} {b}")

    explorer = Explorer("demo", {"a": widgets.IntSlider(value=1, min=0, max=5),
                                 "b": widgets.Checkbox(value=False)}, fig, draw)
    explorer.set(a=3, b=True)
    assert calls == [(1, False), (3, True)]
    with pytest.raises(ValueError, match="unknown control"):
        explorer.set(c=1)


def test_explorer_explains_rejected_settings_in_the_caption():
    fig, _ = new_figure()

    def draw(n):
        if n == 0:
            raise ValueError("n must be positive")

    explorer = Explorer("demo", {"n": widgets.IntSlider(value=1, min=0, max=3)}, fig, draw)
    explorer.controls["n"].value = 0
    assert "n must be positive" in explorer.caption.value


def test_explorer_bad_arguments():
    fig, _ = new_figure()
    with pytest.raises(ValueError, match="controls"):
        Explorer("demo", {}, fig, lambda: None)
    with pytest.raises(ValueError, match="layout"):
        Explorer("demo", {"n": widgets.IntSlider()}, fig, lambda n: None, layout="diagonal")


def test_alternative_values():
    assert alternative_values(widgets.Checkbox(value=True)) == [False]
    assert alternative_values(widgets.Dropdown(options=["a", "b", "c"], value="a")) == ["b", "c"]
    slider = alternative_values(widgets.IntSlider(value=0, min=0, max=10), count=2)
    assert slider == [5, 10]
    toggle = alternative_values(widgets.ToggleButtons(options=[("A", "a"), ("B", "b")], value="a"))
    assert toggle == ["b"]


def test_log_axes_get_plain_text_tick_labels():
    from course_utils.plotting import plain_log_label

    assert [plain_log_label(v) for v in (0.5, 64, 1e-12, 1e6, 0)] == ["0.5", "64", "1e-12", "1e6", ""]
    fig, ax = new_figure()
    ax.set_yscale("log")
    ax.set_ylim(1e-8, 1)
    explorer = Explorer("demo", {"n": widgets.IntSlider(value=1, min=0, max=3)}, fig, lambda n: None)
    labels = [t.get_text() for t in explorer.figure.axes[0].get_yticklabels()]
    assert "1e-8" in labels and not any("$" in t or "mathdefault" in t for t in labels)
