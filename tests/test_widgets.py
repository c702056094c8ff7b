"""Every widget of the course, driven without a kernel: each control must redraw the figure."""

import base64
import io
import time

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
from PIL import Image

from course_utils.plotting import new_figure
from course_utils.widgets import Explorer
from course_utils.widgets.explorer import alternative_values, discover_builders, encode_png

matplotlib.use("Agg")
BUILDERS = discover_builders()


def test_builders_are_found():
    assert "activations.make_activation_explorer" in BUILDERS
    assert "start_here.make_widget_check" in BUILDERS


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_every_control_changes_the_figure(key):
    explorer = BUILDERS[key]()
    assert isinstance(explorer, Explorer), f"{key} must return an Explorer"
    assert explorer.png[:8] == b"\x89PNG\r\n\x1a\n"
    for name, control in explorer.controls.items():
        before = explorer.png
        others = alternative_values(control, count=1)
        assert others, f"{key}: control {name!r} has no other value to move to"
        control.value = others[0]
        assert explorer.png != before, f"{key}: moving {name!r} to {others[0]!r} did not change the figure"
        # what the browser gets: the same picture, as a data: URL (the image widget's "url" format)
        assert explorer.image.format == "url"
        assert explorer.image.value == b"data:image/png;base64," + base64.b64encode(explorer.png)
        assert "Cannot draw" not in explorer.caption.value, explorer.caption.value
        # an update that reused the cached background must show exactly what a full redraw shows
        quick = _pixels(explorer.png)
        explorer.refresh(full=True)
        assert np.array_equal(quick, _pixels(explorer.png)), (
            f"{key}: after moving {name!r} the picture differs from a full redraw: `draw` changes an artist "
            "that is not in the Explorer's dynamic list without marking the figure stale"
        )


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _line_explorer(dynamic: bool):
    fig, ax = new_figure()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 4)
    (line,) = ax.plot([0.2, 0.8], [0.5, 1])
    legend = ax.legend([line], ["slope 1"])

    def draw(slope, title):
        line.set_ydata([0.5, 0.5 + slope])
        legend.get_texts()[0].set_text(f"slope {slope}")
        if ax.get_title() != title:  # set_title marks the axes stale even when the text is the same
            ax.set_title(title)

    controls = {"slope": widgets.IntSlider(value=1, min=0, max=3), "title": widgets.Dropdown(options=["a", "b"])}
    # a fixed ratio: the default one depends on how fast the machine draws, and these pictures are compared
    return Explorer("demo", controls, fig, draw, dynamic=[line, legend] if dynamic else (), pixel_ratio=2)


def test_dynamic_artists_are_redrawn_over_a_cached_background():
    quick, full = _line_explorer(dynamic=True), _line_explorer(dynamic=False)
    assert quick.full_redraws == 1  # the first picture draws everything
    for explorer in (quick, full):
        explorer.controls["slope"].value = 3  # only dynamic artists change
    assert quick.full_redraws == 1 and full.full_redraws == 2
    assert np.array_equal(_pixels(quick.png), _pixels(full.png))
    for explorer in (quick, full):
        explorer.controls["title"].value = "b"  # a static artist changes: the background is redrawn
    assert quick.full_redraws == 2
    assert np.array_equal(_pixels(quick.png), _pixels(full.png))
    quick.controls["slope"].value = 0
    assert quick.full_redraws == 2


def test_background_key_keeps_one_static_picture_per_key():
    fig, ax = new_figure()
    (line,) = ax.plot([0.2, 0.8], [0.5, 1])
    limits = {"small": (0, 2), "large": (0, 20)}

    def draw(scale, slope, note):
        line.set_ydata([0.5, 0.5 + slope])
        if ax.get_ylim() != limits[scale]:
            ax.set_ylim(*limits[scale])  # static, and a function of the key alone
        if ax.get_xlabel() != note:
            ax.set_xlabel(note)  # static, but not a function of the key: must force a full redraw

    controls = {
        "scale": widgets.Dropdown(options=["small", "large"]),
        "slope": widgets.IntSlider(value=1, max=3),
        "note": widgets.Dropdown(options=["x", "y"]),
    }
    explorer = Explorer("demo", controls, fig, draw, dynamic=[line], background_key=lambda scale, **_: scale)
    explorer.controls["scale"].value = "large"  # first visit: drawn
    assert explorer.full_redraws == 2
    explorer.controls["scale"].value = "small"  # back: the kept picture
    explorer.controls["slope"].value = 3
    assert explorer.full_redraws == 2
    quick = _pixels(explorer.png)
    explorer.refresh(full=True)
    assert np.array_equal(quick, _pixels(explorer.png))
    redraws = explorer.full_redraws
    explorer.controls["note"].value = "y"  # same key, figure stale: only a full redraw is right
    assert explorer.full_redraws == redraws + 1
    assert ax.get_xlabel() == "y"
    with pytest.raises(ValueError, match="background_key"):
        Explorer("demo", controls, fig, draw, background_key="scale")


def test_explorer_saved_figure_still_shows_dynamic_artists():
    explorer = _line_explorer(dynamic=True)
    buffer = io.BytesIO()
    explorer.figure.savefig(buffer, format="png", dpi=explorer.figure.dpi)  # saving draws animated artists too
    assert np.array_equal(_pixels(buffer.getvalue()), _pixels(explorer.png))


def test_explorer_set_redraws_once_and_rejects_unknown_controls():
    fig, ax = new_figure()
    calls = []

    def draw(a, b):
        calls.append((a, b))
        ax.set_title(f"{a} {b}")

    explorer = Explorer(
        "demo", {"a": widgets.IntSlider(value=1, min=0, max=5), "b": widgets.Checkbox(value=False)}, fig, draw
    )
    built = len(calls)  # building draws the first values (twice at the default ratio: once timed)
    explorer.set(a=3, b=True)
    assert set(calls[:built]) == {(1, False)} and calls[built:] == [(3, True)]
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
    with pytest.raises(ValueError, match="dpi"):
        Explorer("demo", {"n": widgets.IntSlider()}, fig, lambda n: None, dpi=0)
    for bad in (0.5, 5, "2", True):
        with pytest.raises(ValueError, match="pixel_ratio"):
            Explorer("demo", {"n": widgets.IntSlider()}, fig, lambda n: None, pixel_ratio=bad)
    other, other_ax = new_figure()
    (foreign,) = other_ax.plot([0, 1])
    with pytest.raises(ValueError, match="dynamic"):
        Explorer("demo", {"n": widgets.IntSlider()}, fig, lambda n: None, dynamic=[foreign])


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


@pytest.mark.slow  # builds every widget twice (about a minute)
@pytest.mark.parametrize("style", ["default", "workshop"])
def test_no_text_runs_off_the_figure(style, monkeypatch):
    """Titles, labels and annotations stay inside the picture, also with the workshop's big fonts."""
    from matplotlib.text import Text

    from course_utils.plotting import current_style, use_style

    # where a text lands does not depend on the pictures an explorer keeps: skip drawing every setting
    monkeypatch.setattr(Explorer, "prepare_pictures", lambda self: None)
    before = current_style()
    use_style(style)
    try:
        for key, builder in BUILDERS.items():
            explorer = builder()
            figure = explorer.figure
            renderer = explorer._canvas.get_renderer()
            # tick labels are drawn only inside the axis range, so theirs do not count
            ticks = {
                id(t) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels(which="both")
            }
            box = figure.bbox
            slack = 2 * explorer.pixel_ratio  # 2 pixels on the screen: the picture has pixel_ratio pixels for each
            for text in figure.findobj(Text):
                if id(text) in ticks or not text.get_visible() or not text.get_text().strip():
                    continue
                extent = text.get_window_extent(renderer)
                inside = (
                    extent.x0 >= box.x0 - slack
                    and extent.y0 >= box.y0 - slack
                    and extent.x1 <= box.x1 + slack
                    and extent.y1 <= box.y1 + slack
                )
                assert inside, f"{key} ({style} style): {text.get_text()!r} runs off the figure ({extent} vs {box})"
    finally:
        use_style(before)


def test_prepare_backgrounds_draws_each_option_once():
    fig, ax = new_figure()
    (line,) = ax.plot([0.2, 0.8], [0.5, 1])

    def draw(scale, slope):
        line.set_ydata([0.5, 0.5 + slope])
        if ax.get_ylim() != (0, scale):
            ax.set_ylim(0, scale)

    controls = {"scale": widgets.Dropdown(options=[2, 5, 20]), "slope": widgets.IntSlider(value=1, max=3)}
    explorer = Explorer("demo", controls, fig, draw, dynamic=[line], background_key=lambda scale, **_: scale)
    explorer.prepare_backgrounds("scale")
    assert explorer.full_redraws == 3 and explorer.values["scale"] == 2
    for value in (20, 5, 2):
        explorer.controls["scale"].value = value
    assert explorer.full_redraws == 3
    with pytest.raises(ValueError, match="control"):
        explorer.prepare_backgrounds("slope")


# --- shown without a kernel, at natural size, sharp -------------------------------------------------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("ratio", [1, 2])
def test_figure_is_shown_at_natural_size_and_rendered_for_the_pixel_ratio(ratio):
    fig, ax = new_figure(width=5.0, height=3.0)
    explorer = Explorer(
        "demo",
        {"n": widgets.IntSlider(value=1, max=3)},
        fig,
        lambda n: ax.title.set_text(str(n)),
        dpi=80,
        pixel_ratio=ratio,
    )
    assert explorer.size_px == (400, 240)
    assert Image.open(io.BytesIO(explorer.png)).size == (400 * ratio, 240 * ratio)
    layout = explorer.image.layout
    # exactly its natural width, narrower only on a narrow page, never stretched by the flex box around it
    assert (layout.width, layout.height, layout.max_width, layout.align_self) == ("400px", "auto", "100%", "flex-start")
    assert (explorer.image.width, explorer.image.height) == ("400", "240")


def test_controls_show_their_whole_description_unless_the_builder_sets_a_width():
    fig, ax = new_figure(width=5.0, height=3.0)
    controls = {
        "scale": widgets.FloatSlider(value=1.0, description="weight scale"),  # wider than ipywidgets' 80 px
        "kind": widgets.ToggleButtons(options=["a", "b"], description="kind", style={"description_width": "120px"}),
        "on": widgets.Checkbox(value=False, description="batch norm"),
    }
    Explorer("demo", controls, fig, lambda scale, kind, on: ax.title.set_text(f"{scale}{kind}{on}"), pixel_ratio=1)
    widths = {key: control.style.description_width for key, control in controls.items()}
    assert widths == {"scale": "initial", "kind": "120px", "on": "initial"}


def test_display_bundle_carries_the_figure_as_png_beside_the_widget_view():
    explorer = _line_explorer(dynamic=True)
    explorer.controls["slope"].value = 3
    data, metadata = explorer._repr_mimebundle_()
    assert data[WIDGET_VIEW]["model_id"] == explorer.ui.model_id
    png = base64.b64decode(data["image/png"])
    # the current picture, in 256 colours
    difference = np.abs(_pixels(png).astype(int) - _pixels(explorer.png).astype(int))
    assert difference.shape[:2] == (2 * explorer.size_px[1], 2 * explorer.size_px[0])
    assert difference.mean() < 3 and np.quantile(difference, 0.999) < 24, "the PNG is the current picture"
    assert metadata["image/png"] == {"width": explorer.size_px[0], "height": explorer.size_px[1]}
    assert data["text/plain"].startswith("<Explorer 'demo'") and "VBox" not in data["text/plain"]
    only_png, _ = explorer._repr_mimebundle_(include=["image/png"])
    assert set(only_png) == {"image/png"}


def test_saved_picture_carries_the_caption_below_the_figure():
    """Without a kernel there is no caption widget: the saved picture shows the caption's text under the figure."""
    fig, ax = new_figure(width=5.0, height=3.0)
    (line,) = ax.plot([0, 1], [0, 1])

    def draw(slope):
        line.set_ydata([0, slope])
        return f"slope <b>{slope}</b> &amp; a caption long enough to need a second line at this width, " * 2

    explorer = Explorer("captioned", {"slope": widgets.IntSlider(value=1, min=0, max=3)}, fig, draw, pixel_ratio=2)
    data, metadata = explorer._repr_mimebundle_()
    saved = _pixels(__import__("base64").b64decode(data["image/png"]))
    width, height = explorer.size_px
    assert metadata["image/png"]["width"] == width and metadata["image/png"]["height"] > height + 2 * 13
    assert saved.shape[:2] == (2 * metadata["image/png"]["height"], 2 * width)
    difference = np.abs(saved[: 2 * height].astype(int) - _pixels(explorer.png).astype(int))
    assert difference.mean() < 3, "the top of the saved picture is the figure"
    below = saved[2 * height :]
    assert (below < 128).any(axis=2).sum() > 200, "the caption's text is drawn below the figure"


def test_ipython_shows_the_bundle_when_an_explorer_ends_a_cell():
    from IPython.core.formatters import DisplayFormatter

    explorer = _line_explorer(dynamic=False)
    data, metadata = DisplayFormatter().format(explorer)
    assert {WIDGET_VIEW, "image/png", "text/plain"} <= set(data)
    assert metadata["image/png"]["width"] == explorer.size_px[0]


def test_nbconvert_without_widget_state_shows_the_figure():
    """GitHub's renderer, approximated: nbconvert to HTML of a notebook saved without widget state."""
    import nbformat
    from nbconvert import HTMLExporter

    explorer = _line_explorer(dynamic=True)
    data, metadata = explorer._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nb.cells = [cell]
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert f'src="data:image/png;base64,{data["image/png"]}"' in html
    assert f'width="{explorer.size_px[0]}"' in html
    assert "Explorer 'demo'" not in html, "the picture, not the text fallback"


# --- updates from the browser coalesce ----------------------------------------------------------------


def _counting_explorer(**kwargs):
    fig, ax = new_figure()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 12)
    (line,) = ax.plot([0.2, 0.8], [0.5, 1])
    drawn = []

    def draw(a, b):
        drawn.append((a, b))
        line.set_ydata([0.5, 0.5 + a + b])

    controls = {"a": widgets.IntSlider(value=0, min=0, max=10), "b": widgets.IntSlider(value=0, min=0, max=2)}
    return Explorer("demo", controls, fig, draw, dynamic=[line], **kwargs), drawn


def test_browser_updates_coalesce_the_latest_value_wins():
    import asyncio

    explorer, drawn = _counting_explorer()
    renders = explorer.renders

    async def drag():
        # what the kernel does with comm messages arriving while it is busy: each one sets a value the way
        # ipywidgets applies a browser's update (set_state), before the event loop gets a turn
        for value in range(1, 9):
            explorer.controls["a"].set_state({"value": value})
        explorer.controls["b"].set_state({"value": 2})
        assert explorer.renders == renders, "nothing is drawn while messages are still being handled"
        await asyncio.sleep(0)  # the event loop's turn: one redraw, of the latest values
        await asyncio.sleep(0)

    asyncio.run(drag())
    assert explorer.renders == renders + 1
    assert drawn[-1] == (8, 2) and drawn.count((8, 2)) == 1
    latest = _pixels(explorer.png)
    explorer.refresh(full=True)
    assert np.array_equal(latest, _pixels(explorer.png))


def test_changes_from_python_redraw_at_once_even_in_a_running_event_loop():
    import asyncio

    explorer, drawn = _counting_explorer()

    async def cell():  # a notebook cell runs inside the kernel's event loop
        explorer.controls["a"].value = 5
        assert drawn[-1] == (5, 0)
        explorer.set(a=6, b=1)
        assert drawn[-1] == (6, 1)

    asyncio.run(cell())


def test_an_error_in_a_coalesced_redraw_shows_in_the_caption():
    import asyncio

    fig, _ = new_figure()

    def draw(n):
        if n == 2:
            raise RuntimeError("boom")

    explorer = Explorer("demo", {"n": widgets.IntSlider(value=1, min=0, max=3)}, fig, draw)

    async def move():
        explorer.controls["n"].set_state({"value": 2})
        await asyncio.sleep(0)

    asyncio.run(move())
    assert "RuntimeError: boom" in explorer.caption.value


# --- the committed notebooks ---------------------------------------------------------------------------


def _explorer_outputs(path):
    """(cell index, output) of every output that displays an Explorer, found through the saved widget state."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    found, unknown = [], []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            model = state.get(view["model_id"])
            if model is None:
                unknown.append(index)
            elif "cu-explorer" in model["state"].get("_dom_classes", []):
                found.append((index, output))
    return found, unknown


NOTEBOOK_PATHS = sorted(
    p for p in (__import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")
)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=[p.stem for p in NOTEBOOK_PATHS])
def test_every_committed_widget_output_has_its_figure_as_png(path):
    """So the figure shows without a kernel (GitHub, nbviewer, the website). Fails until the notebook is
    re-executed with the current Explorer: `python tools/execute_notebooks.py NN`."""
    found, unknown = _explorer_outputs(path)
    assert not unknown, f"{path.name}: widget outputs in cells {unknown} have no saved widget state"
    assert found, f"{path.name} shows no explorer"
    for index, output in found:
        data = output["data"]
        assert "image/png" in data, f"{path.name} cell {index}: no image/png beside the widget: re-execute the notebook"
        assert data["image/png"].startswith("iVBORw0KGgo"), f"{path.name} cell {index}: image/png is not a PNG"
        assert not data["text/plain"].startswith("VBox("), f"{path.name} cell {index}: text/plain is the widget repr"
        assert "text/html" not in data, "nbconvert and GitHub would prefer the HTML to the picture"


def test_kept_pictures_are_shown_without_drawing_and_equal_a_fresh_render():
    fig, ax = new_figure()
    (line,) = ax.plot([0, 1], [0, 1])
    calls = []

    def draw(a, b):
        calls.append((a, b))
        line.set_ydata([0, a + b])
        return f"a={a} b={b}"

    controls = {"a": widgets.SelectionSlider(options=[0, 1, 2]), "b": widgets.Dropdown(options=[("x", 0), ("y", 5)])}
    explorer = Explorer("kept", controls, fig, draw, dynamic=[line], pixel_ratio=1, keep_pictures=True)
    explorer.prepare_pictures()
    assert {(a, b) for a in (0, 1, 2) for b in (0, 5)} <= set(calls) and explorer.values == {"a": 0, "b": 0}
    drawn = len(calls)
    explorer.set(a=2, b=5)
    assert len(calls) == drawn and explorer.caption.value.endswith(">a=2 b=5</div>")  # kept: not drawn again
    kept = _pixels(explorer.png)
    explorer.refresh(full=True)  # drawn anew
    assert len(calls) == drawn + 1 and np.array_equal(kept, _pixels(explorer.png))
    explorer.set_pixel_ratio(2)  # kept pictures have the old resolution: dropped
    explorer.set(a=1)
    assert len(calls) == drawn + 2
    with pytest.raises(ValueError, match="keep_pictures"):
        Explorer(
            "plain", {"a": widgets.SelectionSlider(options=[0, 1])}, new_figure()[0], lambda a: None
        ).prepare_pictures()
    with pytest.raises(ValueError, match="no options"):
        Explorer(
            "slider", {"a": widgets.IntSlider()}, new_figure()[0], lambda a: None, keep_pictures=True
        ).prepare_pictures()
    seen = []  # a checkbox's two values are listed too
    Explorer(
        "box", {"on": widgets.Checkbox(value=False)}, new_figure()[0], lambda on: seen.append(on), keep_pictures=True
    ).prepare_pictures()
    assert set(seen) == {False, True}


def test_kept_pictures_of_listed_settings_for_a_slider_whose_range_follows_a_menu():
    fig, ax = new_figure()
    (line,) = ax.plot([0, 1], [0, 1])
    calls = []
    sizes = {"short": 2, "long": 4}
    step, menu = widgets.IntSlider(value=3, min=0, max=3), widgets.Dropdown(options=list(sizes), value="long")

    def fit(change):  # registered before the Explorer's observer, as the backprop stepper does
        step.max = sizes[change["new"]] - 1

    menu.observe(fit, names="value")

    def draw(step, menu):
        calls.append((menu, step))
        line.set_ydata([0, step + sizes[menu]])
        return f"{menu} {step}"

    # menu first: it sets the range; the last setting is the short menu, whose range would clamp step 3
    settings = [{"menu": m, "step": i} for m in ("long", "short") for i in range(sizes[m])]
    explorer = Explorer("listed", {"step": step, "menu": menu}, fig, draw, dynamic=[line], keep_pictures=settings)
    assert {(m, i) for m, n in sizes.items() for i in range(n)} <= set(calls)
    assert explorer.values == {"step": 3, "menu": "long"}  # back where it was built, restored menu first
    drawn = len(calls)
    explorer.set(menu="short", step=1)
    assert len(calls) == drawn and explorer.caption.value.endswith(">short 1</div>")  # kept: not drawn again
    kept = _pixels(explorer.png)
    explorer.refresh(full=True)
    assert np.array_equal(kept, _pixels(explorer.png))
    for bad in ([], [{"step": 0}], "abc", 3):
        with pytest.raises(ValueError, match="keep_pictures must be"):
            Explorer("bad", {"step": widgets.IntSlider(), "menu": widgets.Dropdown(options=["a"])}, new_figure()[0],
                     lambda step, menu: None, keep_pictures=bad)  # fmt: skip


@pytest.mark.parametrize("given", [None, 2])
def test_an_update_too_slow_at_build_starts_the_default_ratio_at_1x(given):
    fig, ax = new_figure()
    (line,) = ax.plot([0, 1], [0, 1])

    def slow_draw(a):
        time.sleep(0.1)  # slower than SLOW_UPDATE_MS at any ratio
        line.set_ydata([0, a])

    explorer = Explorer("slow", {"a": widgets.IntSlider()}, fig, slow_draw, dynamic=[line], pixel_ratio=given)
    expected = 2 if given else 1  # a ratio asked for is kept
    assert explorer.pixel_ratio == expected
    assert Image.open(io.BytesIO(explorer.png)).size[0] == expected * explorer.size_px[0]


@pytest.mark.parametrize("given", [None, 2])
def test_slow_browser_updates_drop_the_default_ratio_to_1x(monkeypatch, given):
    import course_utils.widgets.explorer as explorer_module

    monkeypatch.setattr(explorer_module, "SLOW_UPDATE_MS", 1e9)  # built at 2x however busy the machine is
    explorer, _ = _counting_explorer(pixel_ratio=given)
    width = explorer.size_px[0]
    assert explorer.pixel_ratio == 2 and Image.open(io.BytesIO(explorer.png)).size[0] == 2 * width
    monkeypatch.setattr(explorer_module, "SLOW_UPDATE_MS", -1.0)  # every update counts as slow
    explorer.controls["a"].value = 1  # from Python: never adapts
    assert explorer.pixel_ratio == 2
    for value in (2, 3, 4):
        explorer.controls["a"].set_state({"value": value})  # from the browser (no event loop: at once)
    expected = 2 if given else 1
    assert explorer.pixel_ratio == expected
    assert Image.open(io.BytesIO(explorer.png)).size[0] == expected * width
    assert explorer.size_px[0] == width and explorer.image.layout.width == f"{width}px", "shown size unchanged"
    quick = _pixels(explorer.png)
    explorer.refresh(full=True)
    assert np.array_equal(quick, _pixels(explorer.png))
    with pytest.raises(ValueError, match="ratio"):
        explorer.set_pixel_ratio(0)


def test_png_encoder_keeps_every_pixel():
    """The explorer's own PNG writer: decoded by Pillow, the same RGB pixels as the canvas it was given."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(7, 13, 4), dtype=np.uint8)
    noise[..., 3] = 255
    explorer = _line_explorer(dynamic=True)
    canvas = np.asarray(explorer._canvas.buffer_rgba())
    for rgba in (noise, canvas):
        decoded = _pixels(encode_png(rgba))
        assert decoded.shape == rgba.shape[:2] + (3,)
        assert np.array_equal(decoded, rgba[..., :3])
    assert explorer.png == encode_png(canvas)  # what the widget shows is this encoding


def test_bar_collection_draws_what_ax_bar_draws():
    """BarCollection (one artist for all bars, quick to redraw) gives the picture of ax.bar's rectangles."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from course_utils.plotting import BarCollection

    heights, colours = [0.2, 0.9, 0.0, 0.5], ["#0072B2", "#E69F00", "#0072B2", "#999999"]
    pictures = []
    for as_collection in (False, True):
        fig, ax = new_figure(1, width=3.0, height=2.0)
        ax.set_xlim(-0.6, 3.6)
        ax.set_ylim(0, 1)
        if as_collection:
            ax.add_collection(BarCollection(range(4)), autolim=False).set_heights(heights, colours)
        else:
            ax.bar(range(4), heights, color=colours)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pictures.append(np.asarray(canvas.buffer_rgba()).astype(int))
    assert np.abs(pictures[0] - pictures[1]).max() <= 2  # antialiased edges may differ by a shade


def test_bar_collection_rejects_bad_input():
    from course_utils.plotting import BarCollection

    with pytest.raises(ValueError, match="x must be"):
        BarCollection([[0, 1]])
    for width in (0, -0.5, [0.8, 0.8, 0.8], True):
        with pytest.raises(ValueError, match="width must be a positive number"):
            BarCollection(range(3), width=width)
    with pytest.raises(ValueError, match=r"heights must have shape \(3,\)"):
        BarCollection(range(3)).set_heights([1.0, 2.0])
