"""Activations through the depth of an MLP, with and without batch normalisation.

A batch of random inputs goes through a deep stack of `Linear -> [BatchNorm] -> activation`
layers whose weights are drawn with standard deviation `weight_scale / sqrt(width)`. Without
batch normalisation the spread of the activations shrinks or grows layer after layer (tanh
units pile up at +-1 when it grows); with it every layer starts from zero mean and unit variance,
whatever the weight scale.

`compute_depth_histograms` returns the numbers (pure, unit-tested); `make_depth_histograms`
builds the `Explorer`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import torch
from matplotlib.collections import LineCollection, PolyCollection

from course_utils.layers.batchnorm import BatchNorm1d
from course_utils.plotting import PALETTE, new_figure
from course_utils.repro import single_thread
from course_utils.widgets.explorer import Explorer

DEPTH_ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")
MAX_DEPTH = 20
# Histogram range per activation; values outside are counted in the end bins, so an exploding
# layer shows up as a spike at the edge rather than vanishing from the plot.
_RANGES = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "relu": (0.0, 3.0), "identity": (-3.0, 3.0)}
_STD_CLIP = (1e-6, 1e6)  # the std panel's y range; values beyond are drawn at its edge
_PER_LAYER = ("hist", "std", "saturated", "beyond")  # compute_depth_histograms's entries with one row per layer
_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
# PyTorch's own activations (the course's from-scratch ones match them, notebook 01): this widget is about
# depth, and they are several times faster on the (depth, 256, 128) activations it recomputes at every move.
_TORCH_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda z: z}


@lru_cache(maxsize=4)
def _raw_network(width: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard normal inputs (batch_size, width) and raw weights (MAX_DEPTH, width, width), cached."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, width, generator=g)
    weights = torch.randn(MAX_DEPTH, width, width, generator=g)
    return x, weights


def _saturation(name: str, values: torch.Tensor) -> torch.Tensor:
    """Per row of `values` (one layer each), the share of units in a flat region of the activation
    (where its gradient nearly vanishes)."""
    if name == "tanh":
        flat = values.abs() > 0.97
    elif name == "sigmoid":
        flat = (values < 0.03) | (values > 0.97)
    elif name == "relu":
        flat = values == 0
    else:
        return torch.zeros(len(values))
    return flat.float().mean(dim=1)


def _histograms(values: torch.Tensor, low: float, high: float, bins: int, skip_zeros: bool) -> torch.Tensor:
    """One histogram per row of `values` (depth, n), `bins` equal bins over [low, high], values outside
    counted in the end bins: the same counts as `torch.histc(row.clamp(low, high), bins, low, high)` row
    by row (a test checks), in one pass. NaNs are left out, and with `skip_zeros` exact zeros too (ReLU's
    inactive units)."""
    depth = len(values)
    # histc's arithmetic, so that a value on (or next to) a bin edge lands in histc's bin
    index = ((values.clamp(low, high) - low) * bins / (high - low)).to(torch.int64).clamp_(max=bins - 1)
    index += torch.arange(depth).unsqueeze(1) * bins  # row r counts into bins [r * bins, (r + 1) * bins)
    dropped = values.isnan()  # not counted (as histc does not count them); their int64 cast is undefined
    if skip_zeros:
        dropped |= values == 0
    index[dropped] = depth * bins  # one extra bin, dropped below
    counts = torch.bincount(index.flatten(), minlength=depth * bins + 1)
    return counts[: depth * bins].view(depth, bins).float()


@torch.no_grad()
def compute_depth_histograms(
    activation: str = "tanh",
    weight_scale: float = 1.0,
    depth: int = 10,
    batch_norm: bool = False,
    *,
    width: int = 128,
    batch_size: int = 256,
    bins: int = 40,
    seed: int = 0,
) -> dict:
    """Histograms of the activations after each layer of a deep random MLP.

    Args:
        activation: one of `DEPTH_ACTIVATIONS`.
        weight_scale: weights are N(0, (weight_scale / sqrt(width))^2); 1 keeps the variance of
            a linear layer, sqrt(2) is He's choice for ReLU; a positive number.
        depth: number of hidden layers, in [1, MAX_DEPTH].
        batch_norm: insert batch normalisation (batch statistics, no affine) before each activation.
        width: units per layer; batch_size: inputs in the batch; bins: histogram bins.
        seed: the inputs and weights are drawn from it (the same seed gives the same network).

    Returns:
        A dict with
        - "edges" (bins + 1,) and "centres" (bins,): the histogram's bins, over "range";
        - "hist" (depth, bins): each layer's histogram scaled so its tallest bin is 1 (values
          outside "range" go to the end bins; for ReLU the exact zeros are left out, they are
          counted in "saturated"; a layer with nothing to count has a row of zeros);
        - "std" (depth,): standard deviation of each layer's activations;
        - "saturated" (depth,): share of units where the activation is flat (|tanh| > 0.97,
          sigmoid < 0.03 or > 0.97, ReLU exactly 0; 0 for identity);
        - "beyond" (depth,): share of each layer's activations outside "range".
    """
    if activation not in DEPTH_ACTIVATIONS:
        raise ValueError(f"compute_depth_histograms: activation must be one of {DEPTH_ACTIVATIONS}, got {activation!r}")
    if isinstance(weight_scale, bool) or not isinstance(weight_scale, (int, float)) or not weight_scale > 0:
        raise ValueError(f"compute_depth_histograms: weight_scale must be a positive number, got {weight_scale!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"compute_depth_histograms: depth must be an int in [1, {MAX_DEPTH}], got {depth!r}")
    for pname, value, low in (("width", width, 2), ("batch_size", batch_size, 2), ("bins", bins, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"compute_depth_histograms: {pname} must be an int >= {low}, got {value!r}")
    f = _TORCH_ACTIVATIONS[activation]
    x, raw = _raw_network(width, batch_size, seed)  # (B, width), (MAX_DEPTH, width, width)
    # Batch statistics in both modes, nothing learned: the same normalisation as at the start of training.
    bn = BatchNorm1d(width, affine=False, track_running_stats=False) if batch_norm else None
    low, high = _RANGES[activation]
    edges = torch.linspace(low, high, bins + 1)
    outputs = torch.empty(depth, batch_size, width)  # every layer's activations
    h = x
    with single_thread():  # small (256, 128) matmuls: a second thread costs more than it saves
        for layer in range(depth):
            z = h @ (raw[layer] * (weight_scale / width**0.5))  # (B, width)
            if bn is not None:
                z = bn(z)
            h = f(z)  # (B, width)
            outputs[layer] = h
        values = outputs.reshape(depth, -1)  # (depth, B * width): one row per layer
        std = torch.stack([row.std() for row in values])  # (depth,); faster than values.std(dim=1)
        saturated = _saturation(activation, values)
        beyond = ((values < low) | (values > high)).float().mean(dim=1)
        counts = _histograms(values, low, high, bins, skip_zeros=activation == "relu")  # (depth, bins)
    tallest = counts.amax(dim=1, keepdim=True)
    hist = torch.where(tallest > 0, counts / tallest.clamp_min(1), 0.0)  # a row with no values stays 0
    return {
        "edges": edges.numpy(),
        "centres": (0.5 * (edges[1:] + edges[:-1])).numpy(),
        "range": (low, high),
        "hist": hist.double().numpy(),
        "std": std.double().numpy(),
        "saturated": saturated.double().numpy(),
        "beyond": beyond.double().numpy(),
    }


def _numbered_layers(depth: int) -> list[int]:
    """The layers whose numbers the histogram panel shows: about six, evenly spaced, and the last one."""
    step = max(1, math.ceil((depth - 1) / 5))
    return sorted({*range(1, depth + 1, step), depth})


def make_depth_histograms(
    activation: str = "tanh", weight_scale: float = 0.6, depth: int = 10, batch_norm: bool = False
) -> Explorer:
    """Explorer: per-layer activation histograms (left) and their spread through depth (right).

    Controls: the activation, the weight scale, the number of layers, and a batch-norm checkbox.
    The right panel always shows both networks (plain and with BN); the one shown on the left
    is drawn bold.
    """
    fig, (ax_hist, ax_std) = new_figure(2, width=10.0, height=4.6)
    fig.get_layout_engine().set(w_pad=0.1)
    ax_std.set_yscale("log")
    ax_std.set_ylim(*_STD_CLIP)
    # Room for the deepest network whatever the slider says: a fixed axis lets a depth move redraw only
    # the lines (and shows the network grow as layers are added).
    ax_std.set_xlim(0.5, MAX_DEPTH + 0.5)
    ax_std.set_xlabel("layer")
    ax_std.set_ylabel("std of activations (log scale)")
    ax_std.set_title("Spread through depth")
    ax_hist.grid(False)
    # The histograms fill the panel's height whatever the depth: their heights are given as fractions of
    # it (y = 0 at the bottom, 1 at the top), so the y limits never change. The layer numbers do: they are
    # texts of their own beside the panel, not the y axis's tick labels (redrawing the y axis at every
    # update cost 17-22 ms, as much as everything else together; a few texts cost a few ms).
    ax_hist.set_ylim(0.0, 1.0)
    ax_hist.set_yticks([])
    tick = mpl.rcParams["ytick.major.size"]
    beside = mpl.transforms.offset_copy(  # x: this many points left of the panel; y: the panel's fraction
        ax_hist.get_yaxis_transform(), fig=fig, x=-(tick + mpl.rcParams["ytick.major.pad"]), units="points"
    )
    number_style = {"transform": beside, "ha": "right", "fontsize": mpl.rcParams["ytick.labelsize"]}
    ax_hist.text(0, 1, "layer", va="bottom", **number_style)  # a heading over the column of numbers
    pool = max(len(_numbered_layers(d)) for d in range(1, MAX_DEPTH + 1))
    numbers = [ax_hist.text(0, 0, "", va="center", **number_style) for _ in range(pool)]
    (ticks,) = ax_hist.plot(  # a tick mark at each numbered layer
        [],
        [],
        ls="",
        marker=mpl.markers.TICKLEFT,
        ms=tick,
        mew=mpl.rcParams["ytick.major.width"],
        color=mpl.rcParams["ytick.color"],
        transform=ax_hist.get_yaxis_transform(),
        clip_on=False,
    )
    colours = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, MAX_DEPTH))
    # every layer's histogram in one collection of fills and one of outlines: two artists to draw at an
    # update instead of two per layer (matplotlib spends about a third of a millisecond on each artist)
    fills = ax_hist.add_collection(PolyCollection([], alpha=0.55, lw=0), autolim=False)
    outlines = ax_hist.add_collection(LineCollection([], lw=1.2), autolim=False)
    (plain_line,) = ax_std.plot([], [], "o-", color=PALETTE["vermillion"], label="plain", ms=4)
    (bn_line,) = ax_std.plot([], [], "s-", color=PALETTE["blue"], label="with BN", ms=4)
    unit_line = ax_std.axhline(1.0, color="grey", lw=0.8, ls=":")
    # Beside the panel, where no line can run over it: a legend inside the panel would have to be redrawn
    # on top of the lines at every update (~10 ms of text).
    ax_std.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2, handlelength=1.5)
    ax_std.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    # Fixed ticks with plain-text labels: the log axis's default mathtext labels and minor ticks
    # would cost a large share of each redraw.
    powers = range(-6, 7, 2)
    ax_std.set_yticks([10.0**p for p in powers], [f"10{str(p).translate(_SUPERSCRIPTS)}" for p in powers])
    ax_std.yaxis.set_minor_locator(mpl.ticker.NullLocator())
    shown = {"activation": None, "batch_norm": None}
    deepest: dict[tuple, dict] = {}  # (activation, weight_scale, batch_norm) -> the deepest network computed

    def layers(activation: str, weight_scale: float, depth: int, batch_norm: bool) -> dict:
        """`compute_depth_histograms`'s numbers, cut from the deepest network computed so far with these
        settings: a layer does not depend on the ones after it, so they are the same, and moving the
        depth slider back (or the checkbox) computes nothing."""
        key = (activation, weight_scale, batch_norm)
        if key not in deepest or len(deepest[key]["std"]) < depth:
            deepest[key] = compute_depth_histograms(activation, weight_scale, depth, batch_norm)
        return {name: value[:depth] if name in _PER_LAYER else value for name, value in deepest[key].items()}

    def draw(activation: str, weight_scale: float, depth: int, batch_norm: bool) -> str:
        plain = layers(activation, weight_scale, depth, False)
        with_bn = layers(activation, weight_scale, depth, True)
        network = with_bn if batch_norm else plain
        edges, low, high = network["edges"], *network["range"]
        height = depth + 0.1  # in layers: one per layer, and a margin of 0.1 below the last one
        xs = np.repeat(edges, 2)[1:-1]
        steps, areas = [], []
        for i in range(depth):
            base = depth - 1 - i  # layer 1 on top, deeper layers below
            top = base + 0.9 * np.repeat(network["hist"][i], 2)  # a step outline over the bins
            # from layers to fractions of the panel's height
            top, base = (top + 0.1) / height, (base + 0.1) / height
            steps.append(np.column_stack([xs, top]))
            areas.append(np.column_stack([np.r_[xs, xs[::-1]], np.r_[top, np.full_like(top, base)]]))
        fills.set_verts(areas)
        fills.set_facecolor(colours[:depth])  # the collection's alpha applies
        outlines.set_segments(steps)
        outlines.set_color(colours[:depth])
        mode = "with BN" if batch_norm else "plain"
        # A new activation (x range and label) or mode (title): everything is redrawn, once per pair, as
        # the background_key below says. Only then: setting a label marks the figure changed even when
        # it stays the same.
        if (shown["activation"], shown["batch_norm"]) != (activation, batch_norm):
            ax_hist.set_xlim(low, high)
            ax_hist.set_xlabel(f"activation value h = {activation}(z)")
            ax_hist.title.set_text("network with BN" if batch_norm else "plain network")
            shown.update(activation=activation, batch_norm=batch_norm)
        numbered = _numbered_layers(depth)
        at = [(depth - n + 0.55) / height for n in numbered]  # the middle of each numbered layer's band
        for text, n, y in zip(numbers, [*numbered, *[None] * len(numbers)], [*at, *[0.0] * len(numbers)]):
            text.set_visible(n is not None)
            text.set(text=str(n), y=y)
        ticks.set_data(np.zeros(len(at)), at)
        plain_line.set_data(np.arange(1, depth + 1), np.clip(plain["std"], *_STD_CLIP))
        bn_line.set_data(np.arange(1, depth + 1), np.clip(with_bn["std"], *_STD_CLIP))
        plain_line.set(lw=2.5 if not batch_norm else 1.0, alpha=1.0 if not batch_norm else 0.45)
        bn_line.set(lw=2.5 if batch_norm else 1.0, alpha=1.0 if batch_norm else 0.45)
        flat = {"tanh": "|h| > 0.97", "sigmoid": "h < 0.03 or h > 0.97", "relu": "h = 0"}.get(activation)
        caption = (
            f"<b>{mode}</b>, {activation}, {depth} layers, weight std = {weight_scale:.1f} / √width: "
            f"the last layer's activations have std {network['std'][-1]:.3g}"
        )
        if flat:
            caption += (
                f", {100 * network['saturated'][-1]:.0f}% of them flat ({flat}, where the gradient is (near) zero)"
            )
        caption += "."
        if network["beyond"][-1] >= 0.005:
            caption += f" {100 * network['beyond'][-1]:.0f}% of its values lie beyond the x-axis; they are counted in the end bin."
        if batch_norm:
            caption += " With BN the weight scale no longer changes the histograms: BN divides it out."
        return caption

    controls = {
        "activation": widgets.Dropdown(options=list(DEPTH_ACTIVATIONS), value=activation, description="activation"),
        "weight_scale": widgets.FloatSlider(
            value=weight_scale, min=0.2, max=3.0, step=0.1, description="weight scale", readout_format=".1f"
        ),
        "depth": widgets.IntSlider(value=depth, min=2, max=MAX_DEPTH, step=1, description="layers"),
        "batch_norm": widgets.Checkbox(value=batch_norm, description="batch norm"),
    }
    # Lay the figure out once, for the widest layer numbers (20 layers), then keep that layout:
    # re-running constrained layout on every update would double the redraw time.
    draw(activation, weight_scale, MAX_DEPTH, batch_norm)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    # dynamic: what draw changes at every move (the layer numbers too), and what must stay on top of it:
    # the spines the histograms and the clipped std lines touch, and the unit line
    dynamic = [fills, outlines, *numbers, ticks, ax_hist.spines["left"]]
    dynamic += [plain_line, bn_line, unit_line, ax_std.spines["bottom"]]
    # background_key: the x range and label follow the activation, the title the mode: each pair's picture is kept
    explorer = Explorer(
        "depth-histograms",
        controls,
        fig,
        draw,
        dynamic=dynamic,
        background_key=lambda activation, batch_norm, **_: (activation, batch_norm),
    )
    explorer.prepare_backgrounds("activation", "batch_norm")  # every pair's picture now: each first switch is quick too
    return explorer
