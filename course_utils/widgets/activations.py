"""Widgets for notebook 01, Activation Functions: curves, decision boundaries, gradients through depth."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.ticker import FixedLocator, NullLocator
from torch import nn

from course_utils.activations import ACTIVATION_NAMES, INIT_SCHEMES, backward_signal_norms, get_activation, init_std
from course_utils.data import TOY_DATASETS, make_toy_2d
from course_utils.models.mlp import make_mlp
from course_utils.plotting import CLASS_CMAP, CLASS_PROB_CMAP, COLORS, PALETTE, label, new_figure
from course_utils.repro import single_thread

_LABELS = {
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "GELU",
    "silu": "SiLU",
    "identity": "identity",
}


def _activation_toggle(value: str = "relu") -> widgets.ToggleButtons:
    return widgets.ToggleButtons(
        options=[(_LABELS[n], n) for n in ACTIVATION_NAMES],
        value=value,
        description="activation",
        style={"button_width": "100px"},  # "Leaky ReLU" whole
    )


# ---------------------------------------------------------------- f and f'
def compute_activation_curves(activation: str, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The from-scratch activation `f(x)` and its derivative `f'(x)` on a grid.

    Args:
        activation: a name from `course_utils.activations.ACTIVATION_NAMES`.
        x: points to evaluate at; default 401 points in [-5, 5].

    Returns:
        {"x": x, "f": f(x), "df": f'(x)}, each of shape (len(x),).
    """
    act = get_activation(activation)
    x = torch.linspace(-5, 5, 401) if x is None else torch.as_tensor(x, dtype=torch.float32)
    return {"x": x, "f": act.f(x), "df": act.df(x)}


def make_activation_explorer(activation: str = "relu"):
    """Toggle the activation; see f and f' (the other activations in grey for comparison)."""
    from course_utils.widgets.explorer import Explorer

    fig, (ax_f, ax_df) = new_figure(2, width=9.0, height=3.3)
    curves = {name: compute_activation_curves(name) for name in ACTIVATION_NAMES}
    for c in curves.values():
        ax_f.plot(c["x"], c["f"], color="0.85", lw=1, zorder=1)
        ax_df.plot(c["x"], c["df"], color="0.85", lw=1, zorder=1)
    (line_f,) = ax_f.plot([], [], color=PALETTE["blue"], lw=2.5, zorder=3)
    (line_df,) = ax_df.plot([], [], color=PALETTE["vermillion"], lw=2.5, zorder=3)
    ax_f.set_ylim(-2, 5)
    ax_df.set_ylim(-0.2, 1.25)
    label(ax_f, "x", "f(x)", "the activation f")
    label(ax_df, "x", "f'(x)", "its derivative f'\n(what backprop multiplies by)")

    def draw(activation):
        c = curves[activation]
        line_f.set_data(c["x"], c["f"])
        line_df.set_data(c["x"], c["df"])
        act = get_activation(activation)
        # set_text, not set_title: set_title would also reset the title's position, which is only worked out
        # when the whole figure is drawn
        ax_f.title.set_text(f"{_LABELS[activation]}:  $f(x) = {act.formula}$")
        peak = c["df"].max().item()
        return (
            f"<b>{_LABELS[activation]}</b>: largest slope {peak:.2f}; "
            f"slope at x = -4: {act.df(torch.tensor(-4.0)).item():.3f}, at x = 4: {act.df(torch.tensor(4.0)).item():.3f}"
        )

    # dynamic: the two highlighted curves and the title that names them; axes and grey curves stay cached.
    # Seven pictures in all: each drawn now and kept, so every toggle shows one at once
    return Explorer(
        "activation-curves",
        {"activation": _activation_toggle(activation)},
        fig,
        draw,
        dynamic=[line_f, line_df, ax_f.title],
        keep_pictures=True,
    )


# ---------------------------------------------------------------- decision boundaries
_BOUNDARY_CACHE: dict[tuple, dict] = {}  # the widget and the notebook's table train the same 21 networks: once


@single_thread()  # a tiny network: one thread is fastest
def compute_decision_boundary(
    activation: str = "relu",
    dataset: str = "moons",
    *,
    hidden: tuple[int, ...] = (16, 16),
    steps: int = 300,
    lr: float = 0.03,
    n_samples: int = 300,
    seed: int = 0,
    grid_size: int = 60,
) -> dict:
    """Train a small MLP with `activation` on a 2-D toy set; return its decision boundary.

    Full-batch Adam for `steps` steps: a fraction of a second on a CPU. `seed` seeds both the data
    and the network's initialisation.

    Returns:
        {"X": (N, 2), "y": (N,), "xx", "yy": (grid_size, grid_size) grid coordinates,
         "prob": (grid_size, grid_size) predicted probability of class 1, "accuracy": float, "loss": float,
         "losses": list of `steps` floats, the training loss before each step}
    """
    if dataset not in TOY_DATASETS:
        raise ValueError(f"dataset must be one of {TOY_DATASETS}, got {dataset!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    get_activation(activation)  # a clear error for an unknown name
    key = (activation, dataset, tuple(hidden), steps, lr, n_samples, seed, grid_size)
    if key not in _BOUNDARY_CACHE:
        _BOUNDARY_CACHE[key] = _train_boundary(activation, dataset, hidden, steps, lr, n_samples, seed, grid_size)
    return dict(_BOUNDARY_CACHE[key])  # a copy: a caller may change its dict, not the cached one


def _train_boundary(activation, dataset, hidden, steps, lr, n_samples, seed, grid_size) -> dict:
    X, y = make_toy_2d(dataset, n_samples=n_samples, noise=0.12, seed=seed)
    torch.manual_seed(seed)
    model = make_mlp(2, hidden, 2, activation=activation)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    lim = X.abs().max().item() * 1.1
    axis = torch.linspace(-lim, lim, grid_size)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        logits = model(X)
        prob = model(torch.stack([xx.flatten(), yy.flatten()], 1)).softmax(-1)[:, 1].reshape(grid_size, grid_size)
        acc = (logits.argmax(-1) == y).float().mean().item()
        final_loss = nn.functional.cross_entropy(logits, y).item()
    return {"X": X, "y": y, "xx": xx, "yy": yy, "prob": prob, "accuracy": acc, "loss": final_loss, "losses": losses}


def make_decision_boundary_explorer(datasets: tuple[str, ...] = ("moons", "circles", "xor")):
    """Toggle the activation and the data set; see what boundary a small MLP can draw, and how its loss fell.

    All combinations are trained once when the widget is built (about 0.1 s each).
    """
    from course_utils.widgets.explorer import Explorer

    results = {(a, d): compute_decision_boundary(a, d) for a in ACTIVATION_NAMES for d in datasets}
    # matplotlib wants arrays: handing it tensors works, but through a conversion numpy deprecates
    results = {
        key: {name: v.numpy() if isinstance(v, torch.Tensor) else v for name, v in r.items()}
        for key, r in results.items()
    }
    # wide and short, so that controls and figure fit a laptop screen together
    fig, (ax, ax_loss) = new_figure(2, width=9.0, height=3.3, gridspec_kw={"width_ratios": [1, 1.25]})
    first = results[(ACTIVATION_NAMES[0], datasets[0])]
    lim = first["xx"].max().item()
    mesh = ax.imshow(
        first["prob"],
        origin="lower",
        extent=(-lim, lim, -lim, lim),
        cmap=CLASS_PROB_CMAP,
        vmin=0,
        vmax=1,
        alpha=0.6,
        aspect="auto",
    )
    # the p = 0.5 contour of every setting, drawn once here and shown one at a time: a contour set cannot be
    # updated in place, and creating one during an update would force the whole figure to be redrawn
    boundaries = {
        key: ax.contour(r["xx"], r["yy"], r["prob"], levels=[0.5], colors="black", linewidths=1.5)
        for key, r in results.items()
    }
    for boundary in boundaries.values():
        boundary.set_visible(False)
    points = ax.scatter(
        first["X"][:, 0], first["X"][:, 1], c=first["y"], cmap=CLASS_CMAP, s=10, edgecolors="white", linewidths=0.3
    )
    label(ax, "$x_1$", "$x_2$")
    # right: the training loss of every activation on this data set (grey), the chosen one in colour
    steps = len(first["losses"])
    others = [ax_loss.plot([], [], color="0.8", lw=1)[0] for _ in ACTIVATION_NAMES]
    (chosen,) = ax_loss.plot([], [], color=PALETTE["vermillion"], lw=2.5)
    ax_loss.set_yscale("log")
    ax_loss.set_xlim(0, steps)
    ax_loss.set_ylim(1e-3, 1.5)
    ax_loss.yaxis.set_major_locator(FixedLocator([1e-3, 1e-2, 1e-1, 1]))
    ax_loss.yaxis.set_minor_locator(NullLocator())
    label(ax_loss, "Adam step", "loss (log scale)", "training loss (grey: the others)")

    def draw(activation, dataset):
        r = results[(activation, dataset)]
        lim = r["xx"].max().item()
        mesh.set_data(r["prob"])
        for key, boundary in boundaries.items():
            boundary.set_visible(key == (activation, dataset))
        points.set_offsets(r["X"])
        points.set_array(r["y"])
        if ax.get_xlim() != (-lim, lim):  # the grid spans each data set: only a new data set moves the axes
            mesh.set_extent((-lim, lim, -lim, lim))
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        for line, name in zip(others, ACTIVATION_NAMES):
            line.set_data(range(steps), results[(name, dataset)]["losses"])
        chosen.set_data(range(steps), r["losses"])
        ax.title.set_text(f"{_LABELS[activation]} on {dataset}: accuracy {r['accuracy']:.0%}")
        return (
            f"final training loss <b>{r['loss']:.3f}</b>. Black line: the decision boundary, where the model "
            "is 50/50; shading: the predicted probability of the orange class."
        )

    controls = {
        "activation": _activation_toggle(),
        "dataset": widgets.Dropdown(
            options=list(datasets), value=datasets[0], description="data set", layout=widgets.Layout(width="200px")
        ),
    }
    # dynamic: what an activation change redraws (map, boundary, loss curves, titles), and the points on the map;
    # background_key: the map's range follows the data set alone, so each data set's background is kept.
    # Every combination's picture (21) is drawn now and kept: every move shows one at once
    dynamic = [mesh, points, *boundaries.values(), *others, chosen, ax.title]
    return Explorer(
        "decision-boundary",
        controls,
        fig,
        draw,
        dynamic=dynamic,
        background_key=lambda dataset, **_: dataset,
        keep_pictures=True,
    )


# ---------------------------------------------------------------- gradients through depth
GAINS = (0.25, 0.5, 0.71, 1.0, 1.41, 2.0, 4.0)  # multiples of an init scheme's standard deviation
_INIT_LABELS = {"default": "PyTorch default", "xavier": "Xavier/Glorot", "he": "He/Kaiming"}


@single_thread()
def compute_gradient_norms(
    activation: str = "sigmoid",
    depth: int = 20,
    *,
    init: str = "xavier",
    gain: float = 1.0,
    width: int = 64,
    n_samples: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """The gradient's norm at each layer of a freshly initialised deep network, relative to the last layer.

    The network is `depth` square layers h = activation(h @ W.T) of `width` units, zero biases, weights
    drawn from a normal distribution with standard deviation `init_std(init, width, width, gain)`, on
    standard-normal inputs. The gradient arriving at the top is standard normal too (the loss is a fixed
    random linear read-out), so only the layers shape what comes out at the bottom. Float64 throughout,
    so that exploding and vanishing values stay representable.

    Args:
        activation: a name from `ACTIVATION_NAMES`.
        depth: number of layers, 1 to 200.
        init: a scheme from `course_utils.activations.INIT_SCHEMES` ("default", "xavier", "he").
        gain: multiplier of the scheme's standard deviation (> 0).
        width, n_samples, seed: the layers' width, the batch size and the random seed.

    Returns:
        A float64 tensor of shape (depth,): entry l is ||dL/dz_l|| / ||dL/dz_last||, l = 0 nearest the input.
    """
    act = get_activation(activation)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 200:
        raise ValueError(f"depth must be an int in [1, 200], got {depth!r}")
    for pname, value in (("width", width), ("n_samples", n_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{pname} must be a positive int, got {value!r}")
    std = init_std(init, width, width, gain)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, width, generator=g, dtype=torch.float64)
    grad_out = torch.randn(n_samples, width, generator=g, dtype=torch.float64)
    weights = [torch.randn(width, width, generator=g, dtype=torch.float64) * std for _ in range(depth)]
    norms = backward_signal_norms(x, weights, act.f, act.df, grad_out)
    return norms / norms[-1]


def make_gradient_depth_explorer():
    """Pick an activation, a depth and an initialisation; see the gradient's size at each layer (log scale)."""
    from course_utils.widgets.explorer import Explorer

    max_depth = 30
    floor = 1e-30  # the bottom of the axis: bars of smaller values reach it and stop
    fig, ax = new_figure(width=9.0, height=3.2)
    bars = ax.bar(range(1, max_depth + 1), [floor] * max_depth, bottom=floor, color=COLORS[0])
    ax.axhline(1.0, color="0.3", lw=1, ls="--")
    ax.set_yscale("log")
    ax.set_ylim(floor, 1e30)
    # a tick every ten decades and no minor ticks: sixty decades of minor ticks cost more to draw than the bars
    ax.yaxis.set_major_locator(FixedLocator([10.0**k for k in range(-30, 31, 10)]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlim(0.3, max_depth + 0.7)
    # a fixed title: the setting is in the caption (a title redrawn at every move costs more than the bars)
    label(
        ax,
        "layer (1 = nearest the input)",
        "gradient norm / last layer's",
        "gradient norm at each layer (dashed line: the last layer's)",
    )
    norms_cache: dict[tuple, torch.Tensor] = {}

    def draw(activation, depth, init, gain):
        key = (activation, depth, init, gain)
        if key not in norms_cache:
            norms_cache[key] = compute_gradient_norms(activation, depth, init=init, gain=gain)
        norms = norms_cache[key].clamp(floor, 1e30)
        for i, bar in enumerate(bars):
            # a bar from 1 (the last layer's size) up or down to the layer's relative size
            height = norms[i].item() if i < depth else 1.0
            bar.set_y(min(height, 1.0))
            bar.set_height(abs(height - 1.0))
            bar.set_color(PALETTE["vermillion"] if height > 1 else PALETTE["blue"])
            bar.set_visible(i < depth)  # layers beyond the depth: no bar at all
        ratio = norms_cache[key][0].item()
        verdict = "vanishing" if ratio < 1e-2 else "exploding" if ratio > 1e2 else "healthy"
        setting = f"{_LABELS[activation]}, {depth} layers, {_INIT_LABELS[init]} init x {gain:g}"
        return f"{setting}: first layer / last layer gradient norm <b>{ratio:.2g}</b> ({verdict})"

    controls = {
        "activation": _activation_toggle("sigmoid"),
        "depth": widgets.IntSlider(value=20, min=2, max=max_depth, description="depth"),
        "init": widgets.Dropdown(
            options=[(_INIT_LABELS[s], s) for s in INIT_SCHEMES],
            value="xavier",
            description="init",
            layout=widgets.Layout(width="220px"),
        ),
        "gain": widgets.SelectionSlider(options=list(GAINS), value=1.0, description="std x"),
    }
    # dynamic: the bars (a fixed pool, one per possible layer); the log axis and the title stay cached
    return Explorer("gradient-depth", controls, fig, draw, dynamic=list(bars))
