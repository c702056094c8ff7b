"""The course's widget convention: a pure `compute_...` function, and an `Explorer` around it.

Every interactive figure in the course is an `Explorer`: a few named value controls (sliders,
dropdowns, toggle buttons, checkboxes), one matplotlib figure redrawn in place when a control
moves, and an optional caption. The figure is rendered to PNG and shown in an
`ipywidgets.Image`, so it works in JupyterLab, Colab and VS Code without a special backend. The
image widget gets the PNG as a `data:` URL (its "url" format) rather than as bytes it would turn into
a blob URL: the browser then shows a new picture without fetching it from its blob store, 5-25 ms
sooner on 2 cores (measured in JupyterLab in Chromium; the more so the larger the picture).
`explorer.png` is the picture's PNG bytes.

Seen without a kernel too: an Explorer's display bundle holds the widget view and, beside it, the
current figure as `image/png` (and a `text/plain` that says what it is). JupyterLab, Colab and VS
Code with a kernel show the live widget; GitHub, nbviewer, `jupyter nbconvert --to html` and the
course website show the picture.

Sharp, at its natural size: the figure is shown at `dpi` CSS pixels per inch, never stretched to
the cell's width, and rendered at `pixel_ratio` times that resolution so that it stays sharp on
high-density screens (a 2x PNG shown at half its pixel size). The kernel cannot know the screen, so
by default it renders at 2x while that stays within the update budget: an update timed when the
explorer is built (times `BROWSER_SLOWDOWN`, as the browser will share the machine), or two updates in
a row from the browser, slower than `SLOW_UPDATE_MS` make it render at 1x from then on.

Updates coalesce: a control moved in the browser (a slider dragged) is redrawn once the kernel has
handled the messages already waiting, with the latest values: no queue of stale pictures. (The
browser side sends at most one update per control until the kernel has answered, and merges the
rest.) A change made from Python (`explorer.set(...)`, `control.value = ...`) redraws at once.

A widget module (one per notebook in `course_utils/widgets/`) holds:
- `compute_...(...)`: the numbers to show, pure and unit-tested without a kernel;
- `make_...()`: builds the figure and an `Explorer` whose `draw(**values)` calls `compute_...`
  and updates the figure's artists. Every `make_...` can be called with no arguments; the
  benchmark (`make bench`) and the tests find them all by that convention.

Fast updates: a builder may pass `dynamic=[...]`, the artists its `draw` changes (lines, markers,
texts, a legend). The Explorer then renders everything else once, keeps that picture, and on each
update restores it and draws only those artists on top: an update costs a fraction of a full
redraw, because axes, ticks and labels (the expensive text) are not drawn again. Should `draw`
change anything else (an axis limit, a title, an artist not listed), matplotlib marks the figure
stale and the Explorer redraws everything, so the picture is always right; only the speed depends
on the list being complete. The tests compare every update with a full redraw, pixel for pixel.
Habits that keep updates on the fast path: fix axis limits and tick positions when the widget is
built; let a title change only with a `background_key` control or where every picture is kept
(`keep_pictures`), and then with `ax.title.set_text(...)` (`ax.set_title` also moves titles, which
marks the axes stale); keep a fixed pool of artists and update or hide them instead of
adding and removing; list a static artist that must stay on top of moving ones (a legend) too.
Text costs most (about 0.6 ms a text plus 0.15 ms a character with matplotlib 3.11, a legend 8-20 ms):
numbers that change with the controls belong in the caption (HTML, nearly free), and a legend beside
or above its panel, where nothing moving can cross it, needs no redraw at all. Each artist drawn also
costs about a third of a millisecond whatever its size: many alike artists that move together belong in
one collection (`LineCollection`, `PolyCollection`, `scatter`, `course_utils.plotting.BarCollection`).

Controls show their whole description: a builder that leaves a control's `description_width` unset gets
"initial" (the text's own width) instead of ipywidgets' fixed 80 px, which cuts longer descriptions off with
an ellipsis; toggle buttons need a `button_width` that fits their longest label (the browser test fails on
any control text cut off).

CSS classes let the browser tests find things: the explorer's box has `cu-explorer` and
`cu-explorer-<name>`, each control `cu-control` and `cu-control-<key>`, the image `cu-figure`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import io
import itertools
import re
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

DrawFn = Callable[..., "str | None"]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# 2: sharp on high-density (retina) screens; a 1x screen shows the same picture scaled down by half.
PIXEL_RATIO = 2.0
# A 2x picture has four times the pixels: about 1.3 to 2 times the update time in the kernel, and the browser
# decodes four times the pixels. An explorer left at the default ratio whose update takes longer than this (timed
# when it is built, or twice in a row from the browser) drops to 1x. Why 35 ms: the budget in the page is 150 ms
# p95 from input to painted, and about 50-80 ms of that is not the kernel's drawing (measured on 2 cores: a
# kept picture, shown in 0.1 ms, is painted 50-80 ms after the input: messages to the kernel and back through the
# server, ipywidgets, decoding, painting), while the kernel draws about `BROWSER_SLOWDOWN` times slower than idle
# with the browser beside it.
SLOW_UPDATE_MS = 35.0
# An update timed when the explorer is built has the machine to itself; in the browser it shares it with the
# browser and the server, and takes about 1.5 to 3.5 times as long on 2 cores (measured in the kernel during the
# browser test: an update of the optimizer race that takes 17-20 ms idle took 26-74 ms there). The update timed at
# build is scaled by this before it is compared with SLOW_UPDATE_MS, so that an explorer that would drop to 1x at its
# first moves starts at 1x: a drop in the browser throws away the backgrounds kept at 2x. (Not for an explorer
# that keeps every picture: its moves draw nothing and never drop it.)
BROWSER_SLOWDOWN = 2.5


class Explorer:
    """Controls, one figure redrawn when they change, and a caption."""

    def __init__(
        self,
        name: str,
        controls: Mapping[str, widgets.ValueWidget],
        figure: Figure,
        draw: DrawFn,
        *,
        dpi: int = 80,
        layout: str = "top",
        dynamic: Iterable[Artist] = (),
        background_key: Callable[..., Hashable] | None = None,
        pixel_ratio: float | None = None,
        keep_pictures: bool | Iterable[Mapping] = False,
    ):
        """
        Args:
            name: short identifier, used in CSS classes and the benchmark ("activation-curves").
            controls: keyword name -> value widget; `draw` receives the values by these names.
            figure: a `matplotlib.figure.Figure` (see `plotting.new_figure`), drawn into in place.
            draw: `draw(**values)` updates the figure's artists; it may return HTML for the caption.
            dpi: CSS pixels per figure inch: the figure is shown `width * dpi` pixels wide, never stretched.
            layout: "top" puts the controls above the figure, "left" beside it.
            dynamic: the artists `draw` changes; everything else is rendered once and reused (see the
                module docstring). Leave it empty to redraw the whole figure on every update.
            background_key: for a control that switches between a few static pictures (a dropdown
                of test surfaces): `background_key(**values)` names the static picture a setting
                shows, and each one is drawn once and kept (up to 16), so switching back is quick.
                Everything not dynamic must then depend on the key alone.
            pixel_ratio: the PNG has this many pixels per CSS pixel. Default: `PIXEL_RATIO` (2, sharp on
                high-density screens), dropping to 1 if updates turn out slow (see the module docstring);
                a number given here is kept.
            keep_pictures: the picture depends on the control values alone (`draw` is a pure function
                of them): draw every setting's picture and caption when the explorer is built
                (`prepare_pictures`) and keep them, so that every move shows one at once. True: every
                combination of the controls' values, each of which must have options or be a checkbox.
                Or the settings themselves, a list of dicts naming every control, in the order to set
                them: for a slider, or controls that depend on each other (a slider whose range
                follows a menu). Worth it where the settings are few and a picture is slow.
        """
        if not name or not isinstance(name, str):
            raise ValueError(f"Explorer: name must be a non-empty string, got {name!r}")
        if not controls:
            raise ValueError("Explorer: controls must name at least one value widget")
        if layout not in ("top", "left"):
            raise ValueError(f"Explorer: layout must be 'top' or 'left', got {layout!r}")
        if background_key is not None and not callable(background_key):
            raise ValueError(
                f"Explorer: background_key must be a function of the control values, got {background_key!r}"
            )
        if not isinstance(dpi, int) or not 20 <= dpi <= 300:
            raise ValueError(f"Explorer: dpi must be an int between 20 and 300, got {dpi!r}")
        self._adaptive = pixel_ratio is None
        pixel_ratio = PIXEL_RATIO if pixel_ratio is None else pixel_ratio
        if isinstance(pixel_ratio, bool) or not isinstance(pixel_ratio, (int, float)) or not 1 <= pixel_ratio <= 4:
            raise ValueError(f"Explorer: pixel_ratio must be a number from 1 to 4, got {pixel_ratio!r}")
        if keep_pictures is True:  # every combination of the controls' values
            listed = {key: _listed_values(control) for key, control in controls.items()}
            unlisted = [key for key, values in listed.items() if not values]
            if unlisted:
                raise ValueError(
                    f"Explorer: keep_pictures draws every setting, but controls {unlisted} have no options to go "
                    "through (a checkbox has two): list the settings to draw instead"
                )
            settings = [dict(zip(listed, values)) for values in itertools.product(*listed.values())]
        elif keep_pictures is False:
            settings = None
        else:
            settings = list(keep_pictures) if isinstance(keep_pictures, Iterable) else None
            if not settings or not all(isinstance(x, Mapping) and set(x) == set(controls) for x in settings):
                raise ValueError(
                    f"Explorer: keep_pictures must be True, False or a non-empty list of settings, dicts naming "
                    f"every control ({sorted(controls)}); got {keep_pictures!r}"
                )
            settings = [dict(x) for x in settings]
        dynamic = list(dynamic)
        for artist in dynamic:
            if not isinstance(artist, Artist) or _root_figure(artist) is not figure:
                raise ValueError(f"Explorer: dynamic must hold artists of this figure, got {artist!r}")
        self.name = name
        self.controls = dict(controls)
        self.figure = figure
        self.dpi = dpi
        self.pixel_ratio = float(pixel_ratio)
        self._draw = draw
        self.dynamic = dynamic
        for artist in self.dynamic:
            # animated: a normal draw skips it, so it is not in the cached background; its parts (a
            # legend's texts) too, so that changing them does not mark the whole figure stale
            for part in artist.findobj():
                part.set_animated(True)
        figure.set_dpi(dpi * self.pixel_ratio)
        self._canvas = FigureCanvasAgg(figure)  # attaches itself to the figure
        self._background = None
        self._background_key = background_key
        self._backgrounds: OrderedDict = OrderedDict()  # key -> background, most recently used last
        self._shown_key = None
        self.full_redraws = 0  # how many updates had to redraw everything (the rest reused the background)
        self.renders = 0  # pictures rendered since the explorer was built (coalesced updates count once)
        self._pending = False  # a coalesced redraw is scheduled on the kernel's event loop
        self._slow_updates = 0  # browser updates in a row slower than SLOW_UPDATE_MS
        self._settings = settings  # the settings whose pictures are kept (keep_pictures); None: none kept
        self._pictures: dict = {}  # control values -> (caption, PNG), when keep_pictures
        width, height = self.size_px
        # shown at its natural size: exactly `size_px` CSS pixels, smaller only where the page is narrower
        # (max-width), never stretched to the cell's width (align_self: a flex box would stretch it)
        self.png = b""  # the current figure as PNG (`_show_png` sets it and the image widget together)
        self.image = widgets.Image(
            format="url",
            width=str(width),
            height=str(height),
            layout=widgets.Layout(
                width=f"{width}px", height="auto", max_width="100%", align_self="flex-start", flex="0 0 auto"
            ),
        )
        self.image.add_class("cu-figure")
        self.caption = widgets.HTML()
        self.caption.add_class("cu-caption")
        self.last_update_s = float("nan")
        for key, control in self.controls.items():
            control.add_class("cu-control")
            control.add_class(f"cu-control-{key.replace('_', '-')}")
            control.observe(self._on_change, names="value")
            style = getattr(control, "style", None)
            if style is not None and style.has_trait("description_width") and not style.description_width:
                # the whole description ("temperature", "weight scale"): ipywidgets' default label is 80 px
                # wide whatever its text, and cuts a longer one off ("weight sc...")
                style.description_width = "initial"
        box = widgets.VBox if layout == "top" else widgets.HBox
        controls_box = (widgets.HBox if layout == "top" else widgets.VBox)(list(self.controls.values()))
        controls_box.layout.flex_flow = "row wrap" if layout == "top" else "column"
        self.ui = widgets.VBox([box([controls_box, self.image]), self.caption])
        self.ui.add_class("cu-explorer")
        self.ui.add_class(f"cu-explorer-{name}")
        _plain_log_ticks(self.figure)
        self.refresh()
        self._freeze_layout()
        self.figure.stale = False  # freezing the layout moved nothing: the background just drawn still holds
        if self._adaptive and self.pixel_ratio > 1:
            self._pictures.clear()  # a kept picture would time nothing
            self.refresh()  # one update as a move makes it: too slow at this ratio, and every move starts at 1x
            slowdown = 1.0 if self._settings is not None else BROWSER_SLOWDOWN  # kept pictures: moves draw nothing
            if self.last_update_s * 1000 * slowdown > SLOW_UPDATE_MS:
                self.set_pixel_ratio(1.0)
                self.refresh()
            self.renders = self.full_redraws = 1  # the counts start from the picture the explorer is built with
        if self._settings is not None:
            self.prepare_pictures()

    def _freeze_layout(self) -> None:
        """Keep the axes where the first draw put them: re-running the layout engine on every update
        would roughly double the redraw time, and the axes should not jump while a slider moves."""
        engine = self.figure.get_layout_engine()
        if engine is None:
            return
        try:
            # None, not "none": "none" installs a placeholder engine, and any engine makes savefig draw twice
            self.figure.set_layout_engine(None)
        except RuntimeError:  # some engines cannot be switched off once colorbars exist: keep it
            pass

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) in CSS pixels at which the figure is shown: its size in inches times `dpi`."""
        width, height = self.figure.get_size_inches()
        return round(width * self.dpi), round(height * self.dpi)

    @property
    def values(self) -> dict:
        """The controls' current values, by keyword."""
        return {key: control.value for key, control in self.controls.items()}

    def refresh(self, *, full: bool = False) -> None:
        """Recompute and redraw from the current control values (`full=True`: ignore the cached background)."""
        start = time.perf_counter()
        kept = self._pictures.get(tuple(self.values.items())) if self._settings is not None and not full else None
        if kept is not None:
            self.caption.value, png = kept
            self._show_png(png)
            self.renders += 1
            self.last_update_s = time.perf_counter() - start
            return
        try:
            caption = self._draw(**self.values)
        except (ValueError, TypeError) as exc:  # a combination the compute function rejects
            caption = _cannot_draw(str(exc))
        self.caption.value = _caption_html(caption or "")
        self._show_png(self.render_png(full=full))
        if self._settings is not None:
            self._pictures[tuple(self.values.items())] = (self.caption.value, self.png)
        self.renders += 1
        self.last_update_s = time.perf_counter() - start

    def _show_png(self, png: bytes) -> None:
        """Show a picture: kept as `png`, and sent to the image widget as a data: URL (its "url" format;
        made at each showing, a fraction of a millisecond, rather than kept beside the PNG)."""
        self.png = png
        self.image.value = b"data:image/png;base64," + base64.b64encode(png)

    def render_png(self, *, full: bool = False) -> bytes:
        """The figure as PNG bytes: the cached background plus the dynamic artists, or everything anew
        when the background is missing, out of date (the figure is stale) or `full` is asked for."""
        canvas = self._canvas
        key = self._background_key(**self.values) if self._background_key is not None else None
        if full or self._background is None or self.figure.stale:
            # a static picture drawn before, for another key: reuse it (if the key has not changed, the
            # figure went stale for another reason, and only a full redraw is safe)
            cached = self._backgrounds.get(key) if key is not None and key != self._shown_key and not full else None
            if cached is not None:
                self._backgrounds.move_to_end(key)
                canvas.restore_region(cached)
                self._background = cached
                self.figure.stale = False
            else:
                # everything but the dynamic artists. Animated artists are left out of a normal draw, except
                # images before matplotlib 3.10: hide those for this draw. (Not the others: a hidden title,
                # say, would be misplaced, as the axes place their titles during this draw.)
                shown = [artist for artist in self.dynamic if isinstance(artist, AxesImage) and artist.get_visible()]
                for artist in shown:
                    artist.set_visible(False)
                try:
                    canvas.draw()
                finally:
                    for artist in shown:
                        artist.set_visible(True)
                self._background = canvas.copy_from_bbox(self.figure.bbox) if self.dynamic else None
                self.full_redraws += 1
                if key is not None and self._background is not None:
                    self._backgrounds[key] = self._background
                    self._backgrounds.move_to_end(key)
                    while len(self._backgrounds) > 16:
                        self._backgrounds.popitem(last=False)
            self._shown_key = key
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        # dynamic artists go on top, in the order a full draw would use (axes in order, then zorder;
        # sorted here, not once, in case `draw` changed a zorder)
        order = {id(ax): i for i, ax in enumerate(self.figure.axes)}
        for artist in sorted(self.dynamic, key=lambda a: (order.get(id(a.axes), len(order)), a.get_zorder())):
            artist.draw(renderer)
        return encode_png(np.asarray(canvas.buffer_rgba()))

    def set(self, **values) -> None:
        """Set several controls at once with a single redraw (handy in notebooks and tests)."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"Explorer.set: unknown control(s) {sorted(unknown)}; known: {sorted(self.controls)}")
        with self._hold():
            for key, value in values.items():
                self.controls[key].value = value
        self.refresh()

    def prepare_backgrounds(self, *controls: str) -> None:
        """Draw now the static picture for every combination of the named controls' values (menus or
        checkboxes that switch between a few pictures, named by `background_key`), so that the first
        switch to each is as quick as the rest. The controls end where they were."""
        if self._background_key is None:
            raise ValueError("Explorer.prepare_backgrounds: needs a background_key")
        listed = {key: _listed_values(self.controls[key]) if key in self.controls else [] for key in controls}
        if not controls or not all(listed.values()):
            raise ValueError(
                f"Explorer.prepare_backgrounds: controls must name controls with options or checkboxes, got {controls!r}"
            )
        original = {key: self.controls[key].value for key in controls}
        for values in itertools.product(*listed.values()):
            self.set(**dict(zip(controls, values)))
        self.set(**original)

    def prepare_pictures(self) -> None:
        """Render the picture of every setting `keep_pictures` names (True: every combination of the
        controls' values) and keep them; the explorer calls this when it is built (call it again after
        `set_pixel_ratio`, say), so that every move shows a kept picture. The controls end where they were."""
        if self._settings is None:
            raise ValueError("Explorer.prepare_pictures: needs keep_pictures (True or a list of settings)")
        original = self.values
        for setting in self._settings:
            self.set(**setting)
        # back in the order the settings give (a menu before the slider whose range it sets)
        self.set(**{key: original[key] for key in self._settings[0]})

    @contextlib.contextmanager
    def _hold(self):
        self._held = True
        try:
            yield
        finally:
            self._held = False

    _held = False

    def _on_change(self, change) -> None:
        if self._held:
            return
        loop = _running_loop()
        if not _from_frontend(change.owner):
            self.refresh()  # a change made from Python: the picture is up to date when the line returns
        elif loop is None:
            self._refresh_from_browser()
        elif not self._pending:
            # from the browser: redraw once the kernel has handled the messages already waiting, so a burst
            # of moves gives one picture of the latest values instead of a queue of stale ones
            self._pending = True
            loop.call_soon(self._refresh_pending)

    def _refresh_pending(self) -> None:
        self._pending = False
        try:
            self._refresh_from_browser()
        except Exception as exc:  # not raised into the event loop, where nobody would see it
            self.caption.value = _caption_html(_cannot_draw(f"{type(exc).__name__}: {exc}"))

    def _refresh_from_browser(self) -> None:
        """Redraw for a move in the browser; at the default ratio, drop to 1x after two slow updates in a row."""
        self.refresh()
        if not self._adaptive or self.pixel_ratio == 1:
            return
        self._slow_updates = self._slow_updates + 1 if self.last_update_s * 1000 > SLOW_UPDATE_MS else 0
        if self._slow_updates >= 2:
            self.set_pixel_ratio(1.0)

    def set_pixel_ratio(self, ratio: float) -> None:
        """Render at `ratio` PNG pixels per CSS pixel from the next update on (the shown size stays the same)."""
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 <= ratio <= 4:
            raise ValueError(f"Explorer.set_pixel_ratio: ratio must be a number from 1 to 4, got {ratio!r}")
        self.pixel_ratio = float(ratio)
        self.figure.set_dpi(self.dpi * self.pixel_ratio)
        self._background = None  # every kept picture has the old resolution
        self._backgrounds.clear()
        self._pictures.clear()
        self._shown_key = None

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The widget view, plus the current figure as PNG for places without a kernel (GitHub, nbviewer,
        nbconvert, the course website) and a plain-text line instead of the widget's long repr."""
        width, _ = self.size_px
        # the figure with its caption below (a reader without a kernel sees no caption widget): what the
        # controls' setting gives, which the figure itself leaves to the caption
        png, height = _static_png(self.png, self.caption.value, width)
        data = {
            "text/plain": f"<Explorer {self.name!r}: {', '.join(self.controls)} (run the notebook to move them)>",
            # what ipywidgets (7 and 8) sends for a widget: the live view wherever a widget manager runs
            WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": self.ui.model_id},
            "image/png": base64.b64encode(png).decode("ascii"),
        }
        metadata = {"image/png": {"width": width, "height": height}}  # natural size, for a 2x picture
        if include:
            data = {k: v for k, v in data.items() if k in include}
        if exclude:
            data = {k: v for k, v in data.items() if k not in exclude}
        return data, metadata


def _caption_html(text: str) -> str:
    """The caption as its widget shows it. ipywidgets gives an HTML widget's text the line height of a control
    (28 px), which double-spaces a caption of several lines at 13 px; 1.45 times the font size reads as text."""
    return f"<div class='cu-caption-text' style='line-height: 1.45'>{text}</div>" if text else ""


def _cannot_draw(reason: str) -> str:
    """The caption of a setting that could not be drawn, in the course's warning colour."""
    return f"<span style='color:#D55E00'>Cannot draw this setting: {reason}</span>"


def encode_png(rgba: np.ndarray) -> bytes:
    """An (height, width, 4) uint8 picture (a canvas's `buffer_rgba()`, opaque) as an RGB PNG, quickly.

    Every update of an explorer is encoded, so this is on the path a learner waits on: no row filters
    and zlib's fastest level, written out here, take about 60% of the time of Pillow's PNG writer at its
    fastest level (which tries five filters on every row), for files of about the same size.
    """
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"encode_png: rgba must be a (height, width, 4) uint8 array, got {rgba.dtype} {rgba.shape}")
    height, width = rgba.shape[:2]
    rows = np.empty((height, 1 + 3 * width), np.uint8)
    rows[:, 0] = 0  # each row starts with its filter type: 0, none
    # red, green and blue one at a time, each a strided copy: about 8 times quicker than taking the three
    # channels at once (`rgba[:, :, :3].reshape(...)`, which numpy does byte by byte through a temporary)
    pixels = rgba.reshape(height, 4 * width)
    for channel in range(3):
        rows[:, 1 + channel :: 3] = pixels[:, channel::4]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits per channel, RGB, no interlacing
    idat = zlib.compress(rows.data, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _static_png(png: bytes, caption: str, width: int) -> tuple[bytes, int]:
    """The picture for the saved notebook: the figure, its caption below it as plain text, in 256 colours
    (about a quarter of the bytes, the same to the eye: every display stores it beside the widget's own
    copy, so it adds to every notebook's size). Returns the PNG and its height in CSS pixels, for a figure
    shown `width` CSS pixels wide."""
    from PIL import Image

    figure = Image.open(io.BytesIO(png)).convert("RGB")
    ratio = figure.width / width  # PNG pixels per CSS pixel
    text = html.unescape(re.sub(r"<[^>]+>", "", caption)).strip()
    if text:
        below = _caption_picture(text, width, ratio)
        both = Image.new("RGB", (figure.width, figure.height + below.height), "white")
        both.paste(figure, (0, 0))
        both.paste(below, (0, figure.height))
        figure = both
    picture = figure.quantize(256, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    picture.save(buffer, format="png", optimize=True)
    return buffer.getvalue(), round(figure.height / ratio)


def _caption_picture(text: str, width: int, ratio: float):
    """`text` wrapped to `width` CSS pixels at the caption's size (13 px), as a picture `ratio` times as sharp."""
    from matplotlib.font_manager import FontProperties
    from PIL import Image

    dpi, size, margin = 72, 13, 4  # at 72 dpi a point is a CSS pixel
    figure = Figure(figsize=(width / dpi, 1.0), dpi=dpi * ratio)
    canvas = FigureCanvasAgg(figure)
    renderer, font = canvas.get_renderer(), FontProperties(size=size)
    lines, line = [], ""
    for word in text.split():  # greedy wrapping, measured in the renderer's pixels
        longer = f"{line} {word}" if line else word
        if (
            line
            and renderer.get_text_width_height_descent(longer, font, ismath=False)[0] > (width - 2 * margin) * ratio
        ):
            lines.append(line)
            longer = word
        line = longer
    lines.append(line)
    height = round(len(lines) * size * 1.3 + 2 * margin)  # whole CSS pixels
    figure.set_size_inches(width / dpi, height / dpi)
    figure.text(margin / width, 1 - margin / height, "\n".join(lines), fontproperties=font, va="top", linespacing=1.3)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[:, :, :3].copy())


def _listed_values(control: widgets.ValueWidget) -> list:
    """Every value a control can take, where they can be listed (options, or a checkbox's two); else []."""
    if isinstance(control, widgets.Checkbox):
        return [False, True]
    if hasattr(control, "options"):
        return [o[1] if isinstance(o, tuple) else o for o in control.options]
    return []


def _running_loop():
    """The asyncio event loop running in this thread (a Jupyter kernel's), or None (a script, a test)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _from_frontend(widget) -> bool:
    """True while `widget` applies a state sent by the browser (ipywidgets locks the properties it sets)."""
    return bool(getattr(widget, "_property_lock", None))


def _root_figure(artist: Artist):
    """The figure an artist is drawn in (`get_figure(root=True)` from matplotlib 3.10 on; `.figure` before)."""
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: no `root`, and `.figure` is the root figure
        return artist.figure


def _plain_log_ticks(figure: Figure) -> None:
    """Swap maths-typeset log tick labels for plain text: on a log axis they were most of a redraw's time."""
    from matplotlib.ticker import FuncFormatter, LogFormatterMathtext

    from course_utils.plotting import plain_log_label

    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if isinstance(axis.get_major_formatter(), LogFormatterMathtext):
                axis.set_major_formatter(FuncFormatter(plain_log_label))


def discover_builders() -> dict[str, Callable[[], Explorer]]:
    """Every `make_...` function in the modules of `course_utils.widgets`, by "module.name".

    The convention that every builder runs with no arguments lets the tests and the benchmark
    drive every widget of the course without a list to keep up to date.
    """
    import importlib
    import inspect
    import pkgutil

    import course_utils.widgets as package

    builders = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name == "explorer":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("make_") and fn.__module__ == module.__name__:
                builders[f"{info.name}.{name}"] = fn
    return builders


def alternative_values(control: widgets.ValueWidget, count: int = 4) -> list:
    """Up to `count` values, other than the current one, that `control` can take (spread over its range)."""
    current = control.value
    listed = _listed_values(control)
    if listed:
        others = [o for o in listed if o != current]
    elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        step = control.step or 1
        n_steps = int(round((control.max - control.min) / step))
        positions = sorted({round(i * n_steps / max(count, 1)) for i in range(count + 1)})
        values = [control.min + p * step for p in positions]
        if isinstance(control, widgets.IntSlider):
            values = [int(v) for v in values]
        others = [v for v in values if abs(v - current) > 1e-12 and control.min <= v <= control.max]
    else:
        raise TypeError(f"alternative_values: unsupported control type {type(control).__name__}")
    if len(others) <= count:
        return others
    picks = [others[round(i * (len(others) - 1) / (count - 1))] for i in range(count)] if count > 1 else others[:1]
    return list(dict.fromkeys(picks))
