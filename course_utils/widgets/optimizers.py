"""Widgets for notebook 04, Adam Optimizer: a race of six optimizers on 2-D loss surfaces.

Every racer is one of the from-scratch optimizers in `course_utils.optim`, stepping a single
2-D point. All racers run in one loop: their points are rows of one (k, 2) tensor, so the
surface's gradient is evaluated once per step for all of them (plain tensor maths, no
autograd). Optional gradient noise (Gaussian, the same draws for every racer, from a fixed
seed) stands in for minibatch noise. A trajectory is cached by the settings that racer
actually uses, so moving beta2 re-runs only RMSprop, Adam and AdamW.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from torch.optim import Optimizer

from course_utils.optim import SGD, SURFACE_NAMES, Adagrad, Adam, AdamW, RMSprop, get_surface
from course_utils.plotting import PALETTE, label, new_figure

RACE_WEIGHT_DECAY = 0.1  # AdamW's decay in the race: 10x PyTorch's default, so its pull toward 0 shows
DIVERGED_NORM = 1e3  # a racer farther than this from the origin has diverged: its trajectory stops there
LR_CHOICES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
BETA1_CHOICES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)
BETA2_CHOICES = (0.5, 0.9, 0.99, 0.999, 0.9999)
# Standard deviation of the Gaussian noise added to each gradient coordinate: off, or about the size of the
# gradients the racers meet near the minima (a minibatch gradient's noise, see notebook 03).
NOISE_CHOICES = (0.0, 0.5, 2.0)
NOISE_SEED = 0  # the same noise draws for every racer and every setting: differences come from the optimizers
# Bottom of the loss panel, the same for every lr and beta: gaps below 1e-12 are rounding noise (on the
# quadratic and the saddle about half the settings get there). On the Rosenbrock valley no setting gets
# below 1e-9 and the usual ones stay above 1e-3, so its panel starts higher (a rare curve that goes
# lower leaves through the bottom; the caption still gives its final loss).
LOSS_FLOOR = 1e-12 / 3
LOSS_FLOORS = {"rosenbrock": 1e-6}


@dataclass(frozen=True)
class Racer:
    """One optimizer in the race: how to build it, and which of beta1 / beta2 it uses."""

    name: str
    color: str
    make: Callable[[list[torch.Tensor], float, float, float], Optimizer]  # (params, lr, beta1, beta2)
    uses_beta1: bool
    uses_beta2: bool


RACERS: tuple[Racer, ...] = (
    Racer("SGD", PALETTE["black"], lambda ps, lr, b1, b2: SGD(ps, lr=lr), False, False),
    # beta1 plays the part of the momentum coefficient, beta2 that of RMSprop's alpha: the same
    # knobs, so their effect on Adam can be compared with their effect on the simpler methods.
    Racer("SGD + momentum", PALETTE["sky"], lambda ps, lr, b1, b2: SGD(ps, lr=lr, momentum=b1), True, False),
    Racer("RMSprop", PALETTE["green"], lambda ps, lr, b1, b2: RMSprop(ps, lr=lr, alpha=b2), False, True),
    Racer("Adagrad", PALETTE["purple"], lambda ps, lr, b1, b2: Adagrad(ps, lr=lr), False, False),
    Racer("Adam", PALETTE["vermillion"], lambda ps, lr, b1, b2: Adam(ps, lr=lr, betas=(b1, b2)), True, True),
    Racer(
        "AdamW",
        PALETTE["orange"],
        lambda ps, lr, b1, b2: AdamW(ps, lr=lr, betas=(b1, b2), weight_decay=RACE_WEIGHT_DECAY),
        True,
        True,
    ),
)
RACER_NAMES = tuple(r.name for r in RACERS)


@dataclass
class Trajectory:
    """Where one racer went: its points and losses, and the step where it diverged (if it did)."""

    points: torch.Tensor  # (n, 2), float64; n = steps + 1, or fewer if it diverged
    losses: torch.Tensor  # (n,)
    diverged_at: int | None  # first step whose point was not finite or beyond DIVERGED_NORM

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])


def _check_race_args(surface: str, lr, beta1, beta2, steps, noise=0.0) -> None:
    get_surface(surface)  # raises for an unknown name
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < math.inf:
        raise ValueError(f"compute_race: noise must be a number >= 0 (a standard deviation), got {noise!r}")
    for name, value, low, high in (("lr", lr, 0.0, math.inf), ("beta1", beta1, 0.0, 1.0), ("beta2", beta2, 0.0, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"compute_race: {name} must be a number, got {type(value).__name__} {value!r}")
        if not low <= value < high or (name == "lr" and value == 0):
            allowed = "> 0" if name == "lr" else "in [0, 1)"
            raise ValueError(f"compute_race: {name} must be {allowed}, got {value!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10_000:
        raise ValueError(f"compute_race: steps must be an int in [1, 10000], got {steps!r}")


def compute_race(
    surface: str = "rosenbrock",
    lr: float = 0.02,
    beta1: float = 0.9,
    beta2: float = 0.999,
    *,
    steps: int = 150,
    racers: Sequence[str] | None = None,
    noise: float = 0.0,
) -> dict[str, Trajectory]:
    """Run the racers from the surface's start point for `steps` steps, all with the same settings.

    Args:
        surface: a name from `course_utils.optim.SURFACE_NAMES`.
        lr: learning rate shared by all racers, > 0.
        beta1: Adam's first-moment decay, also SGD's momentum coefficient, in [0, 1).
        beta2: Adam's second-moment decay, also RMSprop's alpha, in [0, 1).
        steps: optimizer steps per racer, in [1, 10000].
        racers: names from `RACER_NAMES` to run (default: all six).
        noise: standard deviation of Gaussian noise added to every gradient coordinate, >= 0. The
            draws come from a fixed seed and are the same for every racer (step t gets the same noise
            whichever racers run), so a racer's path does not depend on which others run with it.

    Returns:
        {racer name: Trajectory}; points of shape (steps + 1, 2) (fewer if the racer diverged).
    """
    _check_race_args(surface, lr, beta1, beta2, steps, noise)
    chosen = [r for r in RACERS if racers is None or r.name in racers]
    unknown = set(racers or ()) - set(RACER_NAMES)
    if unknown:
        raise ValueError(f"compute_race: racers must be names from {RACER_NAMES}, got unknown {sorted(unknown)}")
    surf = get_surface(surface)
    k = len(chosen)
    points = torch.tensor(surf.start, dtype=torch.float64).repeat(k, 1)  # (k, 2): one row per racer
    grads = torch.zeros_like(points)  # (k, 2)
    updates = []
    for i, racer in enumerate(chosen):
        p = points[i]  # a view: the optimizer's in-place updates land in `points`
        opt = racer.make([p], float(lr), float(beta1), float(beta2))
        # The optimizer's own update rule, called directly: `step()` would do the same through
        # PyTorch's hooks and profiling wrapper, which cost more than the update of a 2-D point.
        updates.append((opt._update, p, grads[i], opt.state[p], opt.param_groups[0]))
    draws = None
    if noise > 0:
        generator = torch.Generator().manual_seed(NOISE_SEED)
        draws = noise * torch.randn(steps, 2, dtype=torch.float64, generator=generator)  # (steps, 2)
    history = torch.empty(steps + 1, k, 2, dtype=torch.float64)  # (steps + 1, k, 2)
    history[0] = points
    with torch.no_grad():
        for t in range(1, steps + 1):
            grads.copy_(surf.grad(points))  # one gradient evaluation for all racers
            if draws is not None:
                grads += draws[t - 1]  # the same noise for every racer, broadcast over the rows
            for update, p, grad, state, group in updates:
                update(p, grad, state, group)
            history[t] = points
    losses = surf.loss(history)  # (steps + 1, k)
    bad = ~torch.isfinite(losses) | ~torch.isfinite(history).all(-1) | (history.abs().amax(-1) > DIVERGED_NORM)
    result = {}
    for i, racer in enumerate(chosen):
        where = bad[:, i].nonzero()
        stop = int(where[0]) if len(where) else None
        n = steps + 1 if stop is None else max(stop, 1)
        result[racer.name] = Trajectory(history[:n, i].clone(), losses[:n, i].clone(), stop)
    return result


def compute_loss_image(surface: str, resolution: int = 200) -> dict[str, torch.Tensor]:
    """The surface's loss on a grid covering its view box, for a contour plot.

    Args:
        surface: a name from `course_utils.optim.SURFACE_NAMES`.
        resolution: grid points per side, in [10, 1000].

    Returns:
        {"x": (resolution,), "y": (resolution,), "loss": (resolution, resolution) with rows along y}.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 10 <= resolution <= 1000:
        raise ValueError(f"compute_loss_image: resolution must be an int in [10, 1000], got {resolution!r}")
    surf = get_surface(surface)
    x = torch.linspace(*surf.xlim, resolution, dtype=torch.float64)
    y = torch.linspace(*surf.ylim, resolution, dtype=torch.float64)
    yy, xx = torch.meshgrid(y, x, indexing="ij")  # (resolution, resolution) each
    return {"x": x, "y": y, "loss": surf.loss(torch.stack([xx, yy], dim=-1))}


def make_optimizer_race(
    surface: str = "rosenbrock",
    lr: float = 0.05,
    beta1: float = 0.9,
    beta2: float = 0.999,
    steps: int = 150,
    noise: float = 0.0,
):
    """Six optimizers race from the same start on a 2-D surface; sliders for lr, beta1 and beta2, and
    a gradient-noise control (off, or Gaussian noise of a chosen standard deviation on every gradient).

    Left: the surface's contours (log scale) with each racer's path; right: loss - minimum per
    step. The caption gives each racer's final loss. The contour images are computed once per
    surface when the widget is built; trajectories are cached by the settings each racer uses.
    """
    from course_utils.widgets.explorer import Explorer

    _check_race_args(surface, lr, beta1, beta2, steps, noise)
    for name, value, choices in (
        ("lr", lr, LR_CHOICES),
        ("beta1", beta1, BETA1_CHOICES),
        ("beta2", beta2, BETA2_CHOICES),
        ("noise", noise, NOISE_CHOICES),
    ):
        if value not in choices:
            raise ValueError(f"make_optimizer_race: {name} must be one of the slider's values {choices}, got {value!r}")
    fig, (ax, ax_loss) = new_figure(2, width=11.0, height=4.0)
    # Fixed margins instead of constrained layout: re-solving the layout at every redraw doubles its cost.
    fig.set_layout_engine("none")
    ax.set_position([0.075, 0.12, 0.345, 0.8])  # [left, bottom, width, height] in figure fractions
    ax_loss.set_position([0.5, 0.12, 0.32, 0.8])  # the legend goes to its right
    # Every surface's picture is drawn once, then shown or hidden: contours are slow to redraw.
    backgrounds, loss_ylims = {}, {}
    for name in SURFACE_NAMES:
        surf = get_surface(name)
        img = compute_loss_image(name)
        shifted = (img["loss"] - surf.min_loss).clamp_min(0) + 1e-3  # > 0 for a log scale
        log_loss = shifted.log10()
        levels = torch.linspace(float(log_loss.min()), float(log_loss.max()), 15).tolist()
        # Filled bands of flat colour: they compress far better into a PNG than a smooth image.
        image = ax.contourf(img["x"], img["y"], log_loss, levels=levels, cmap="Greys", alpha=0.35, zorder=0)
        contours = ax.contour(img["x"], img["y"], log_loss, levels=levels[1:], colors="0.45", linewidths=0.5, zorder=1)
        (goal,) = ax.plot(*surf.minimum, marker="*", ms=14, color=PALETTE["yellow"], mec="black", zorder=4)
        (start,) = ax.plot(*surf.start, marker="o", ms=7, color="white", mec="black", zorder=4)
        backgrounds[name] = (image, contours, goal, start)
        # The loss panel's range is fixed per surface, the same for every lr and beta, so that a slider
        # move redraws only the curves: from LOSS_FLOOR up to 30x the loss at the start, room for a
        # diverging racer to leave through the top.
        start_gap = float(surf.loss(torch.tensor(surf.start, dtype=torch.float64))) - surf.min_loss
        loss_ylims[name] = (LOSS_FLOORS.get(name, LOSS_FLOOR), 30 * start_gap)
    # The racers' paths, their heads and their loss curves: one collection each, in the racers' colours
    # (matplotlib spends about a third of a millisecond on each artist it draws: with 18 lines an update
    # took about 17 ms on 2 cores, with these 3 collections about 13)
    colours = [racer.color for racer in RACERS]
    paths = ax.add_collection(LineCollection([], colors=colours, lw=1.8, alpha=0.9, zorder=3), autolim=False)
    heads = ax.scatter(np.empty(0), np.empty(0), s=36, edgecolors="black", linewidths=1.0, zorder=5)
    heads.set_facecolor(colours)  # one head per racer, in the racers' order
    curves = ax_loss.add_collection(LineCollection([], colors=colours, lw=1.8), autolim=False)
    label(ax, "x", "y")
    label(ax_loss, "step", "loss - minimum (log scale)", "loss per step")
    ax_loss.set_yscale("log")
    # A few labelled decades and no minor ticks: the range can span 20 decades, and each tick label
    # costs time at every redraw.
    ax_loss.yaxis.set_major_locator(LogLocator(numticks=6))
    ax_loss.yaxis.set_minor_locator(NullLocator())
    ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"1e{round(math.log10(v))}"))  # no mathtext: faster
    ax_loss.set_xlim(0, steps)
    ax_loss.legend(
        [Line2D([], [], color=r.color, lw=1.8, alpha=0.9) for r in RACERS],
        RACER_NAMES,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=9,
        frameon=False,
    )
    # The final losses are in the caption, not beside the names: the legend never changes, and is drawn
    # with the axes only. (Six texts redrawn at every move cost about a fifth of an update.)
    cache: dict[tuple, Trajectory] = {}

    def key(racer: Racer, surface, lr, beta1, beta2, noise) -> tuple:
        b1, b2 = beta1 if racer.uses_beta1 else None, beta2 if racer.uses_beta2 else None
        return (racer.name, surface, lr, b1, b2, noise)

    def trajectories(surface, lr, beta1, beta2, noise) -> dict[str, Trajectory]:
        missing = [r.name for r in RACERS if key(r, surface, lr, beta1, beta2, noise) not in cache]
        if missing:
            fresh = compute_race(surface, lr, beta1, beta2, steps=steps, racers=missing, noise=noise)
            for r in RACERS:
                if r.name in fresh:
                    cache[key(r, surface, lr, beta1, beta2, noise)] = fresh[r.name]
        return {r.name: cache[key(r, surface, lr, beta1, beta2, noise)] for r in RACERS}

    shown = {"surface": None}

    def draw(surface, lr, beta1, beta2, noise):
        surf = get_surface(surface)
        if shown["surface"] != surface:
            # A new surface: new view boxes and title, so everything is redrawn. Only here: setting a
            # limit or a title marks the figure stale even when nothing changes, and a slider move
            # should redraw only the racers.
            for name, artists in backgrounds.items():
                for artist in artists:
                    artist.set_visible(name == surface)
            ax.set_xlim(*surf.xlim)
            ax.set_ylim(*surf.ylim)
            ax.set_title(f"{surf.title}: {surf.formula_text}", fontsize=11)
            ax_loss.set_ylim(*loss_ylims[surface])
            shown["surface"] = surface
        race = trajectories(surface, lr, beta1, beta2, noise)
        points = [race[racer.name].points.numpy() for racer in RACERS]
        paths.set_segments(points)
        heads.set_offsets(np.array([pts[-1] for pts in points]))
        gaps = [(race[r.name].losses - surf.min_loss).clamp_min(1e-16).numpy() for r in RACERS]  # log scale: > 0
        curves.set_segments([np.column_stack([np.arange(len(gap)), gap]) for gap in gaps])
        leader = min(
            (r for r in RACERS if race[r.name].diverged_at is None), key=lambda r: race[r.name].final_loss, default=None
        )
        caption = (
            f"lr = {lr:g}, beta1 = {beta1:g} (also SGD's momentum), beta2 = {beta2:g} (also RMSprop's alpha), "
            f"{steps} steps each, AdamW weight decay {RACE_WEIGHT_DECAY:g}. "
        )
        if noise > 0:
            caption += f"Gradient noise: std {noise:g} per coordinate, the same draws for every racer. "
        finals, explained = [], False  # in the legend's order; each name in its colour, as in the figure
        for racer in RACERS:
            traj = race[racer.name]
            name = f"<span style='color:{racer.color}'>{racer.name}</span>"
            if traj.diverged_at is not None:
                why = "" if explained else " (lr too large for the curvature it met)"
                finals.append(f"{name} diverged at step {traj.diverged_at}{why}")
                explained = True
            elif racer is leader:
                finals.append(f"<b>{name} {traj.final_loss:.2g}</b> (lowest)")
            else:
                finals.append(f"{name} {traj.final_loss:.2g}")
        return caption + "Final loss: " + ", ".join(finals) + "."

    def slider(options, value, description):
        return widgets.SelectionSlider(options=[(f"{v:g}", v) for v in options], value=value, description=description)

    controls = {
        "surface": widgets.Dropdown(options=list(SURFACE_NAMES), value=surface, description="surface"),
        "lr": slider(LR_CHOICES, lr, "lr"),
        "beta1": slider(BETA1_CHOICES, beta1, "beta1"),
        "beta2": slider(BETA2_CHOICES, beta2, "beta2"),
        "noise": widgets.ToggleButtons(
            options=[("off" if v == 0 else f"σ = {v:g}", v) for v in NOISE_CHOICES],
            value=noise,
            description="noise",
            style={"button_width": "76px"},  # "σ = 0.5" whole
        ),
    }
    # dynamic: what a slider move changes, and the goal and start markers, which must stay on top of the paths
    dynamic = [paths, heads, curves]
    dynamic += [marker for _, _, goal, start in backgrounds.values() for marker in (goal, start)]
    # background_key: each surface's static picture (contours, limits, title) is drawn once and kept
    explorer = Explorer(
        "optimizer-race", controls, fig, draw, dynamic=dynamic, background_key=lambda surface, **_: surface
    )
    explorer.prepare_backgrounds("surface")  # each surface's picture drawn now: the first switch is quick too
    return explorer
