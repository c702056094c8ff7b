"""Widgets for notebook 01, Activation Functions: curves, decision boundaries, gradients through depth."""

from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.ticker import LogLocator, NullLocator
from torch import nn

from course_utils.activations import ACTIVATION_NAMES, get_activation
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
        style={"button_width": "82px"},
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

    # dynamic: the two highlighted curves and the title that names them; axes and grey curves stay cached
    return Explorer(
        "activation-curves",
        {"activation": _activation_toggle(activation)},
        fig,
        draw,
        dynamic=[line_f, line_df, ax_f.title],
    )


# ---------------------------------------------------------------- decision boundaries
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

    Full-batch Adam for `steps` steps: a fraction of a second on a CPU.

    Returns:
        {"X": (N, 2), "y": (N,), "xx", "yy": (grid_size, grid_size) grid coordinates,
         "prob": (grid_size, grid_size) predicted probability of class 1, "accuracy": float, "loss": float}
    """
    if dataset not in TOY_DATASETS:
        raise ValueError(f"dataset must be one of {TOY_DATASETS}, got {dataset!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    X, y = make_toy_2d(dataset, n_samples=n_samples, noise=0.12, seed=seed)
    torch.manual_seed(seed)
    model = make_mlp(2, hidden, 2, activation=activation)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lim = X.abs().max().item() * 1.1
    axis = torch.linspace(-lim, lim, grid_size)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        logits = model(X)
        prob = model(torch.stack([xx.flatten(), yy.flatten()], 1)).softmax(-1)[:, 1].reshape(grid_size, grid_size)
        acc = (logits.argmax(-1) == y).float().mean().item()
        final_loss = nn.functional.cross_entropy(logits, y).item()
    return {"X": X, "y": y, "xx": xx, "yy": yy, "prob": prob, "accuracy": acc, "loss": final_loss}


def make_decision_boundary_explorer(datasets: tuple[str, ...] = ("moons", "circles", "xor")):
    """Toggle the activation and the data set; see what boundary a small MLP can draw.

    All combinations are trained once when the widget is built (about 0.1 s each).
    """
    from course_utils.widgets.explorer import Explorer

    results = {(a, d): compute_decision_boundary(a, d) for a in ACTIVATION_NAMES for d in datasets}
    # matplotlib wants arrays: handing it tensors works, but through a conversion numpy deprecates
    results = {
        key: {name: v.numpy() if isinstance(v, torch.Tensor) else v for name, v in r.items()} for key, r in results.items()
    }
    fig, ax = new_figure(width=4.6, height=4.2)
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
        first["X"][:, 0], first["X"][:, 1], c=first["y"], cmap=CLASS_CMAP, s=12, edgecolors="white", linewidths=0.3
    )
    label(ax, "$x_1$", "$x_2$")
    fig.colorbar(mesh, ax=ax, label="P(class 1)", shrink=0.8)

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
        ax.title.set_text(f"{_LABELS[activation]} on {dataset}: train accuracy {r['accuracy']:.0%}")
        return "black line: the decision boundary, where the model is 50/50"

    controls = {
        "activation": _activation_toggle(),
        "dataset": widgets.Dropdown(options=list(datasets), value=datasets[0], description="data set"),
    }
    # dynamic: what an activation change redraws (map, boundary, title), and the points that lie on the map;
    # background_key: the axes' range follows the data set alone, so each data set's picture is kept
    dynamic = [mesh, points, *boundaries.values(), ax.title]
    explorer = Explorer(
        "decision-boundary", controls, fig, draw, dynamic=dynamic, background_key=lambda dataset, **_: dataset
    )
    explorer.prepare_backgrounds("dataset")  # each data set's picture drawn now: the first switch is quick too
    return explorer


# ---------------------------------------------------------------- gradients through depth
@single_thread()
def compute_gradient_norms(
    activation: str = "sigmoid", depth: int = 20, *, width: int = 32, n_samples: int = 256, seed: int = 0
) -> torch.Tensor:
    """Gradient norm of each hidden layer's weights in a freshly initialised deep MLP, after one backward pass.

    Glorot (Xavier) normal initialisation with zero biases (Glorot & Bengio, 2010), standard-normal
    inputs, loss = mean of the outputs squared.

    Returns:
        A tensor of shape (depth,): entry i is ||dL/dW_i|| for hidden layer i (0 = nearest the input).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 200:
        raise ValueError(f"depth must be an int in [1, 200], got {depth!r}")
    torch.manual_seed(seed)
    model = make_mlp(width, [width] * depth, 1, activation=activation)
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    x = torch.randn(n_samples, width)
    loss = model(x).pow(2).mean()
    loss.backward()
    linears = [m for m in model if isinstance(m, nn.Linear)][:-1]
    return torch.stack([m.weight.grad.norm() for m in linears])


def make_gradient_depth_explorer():
    """Pick an activation and a depth; see how big the gradient is at each layer (log scale)."""
    from course_utils.widgets.explorer import Explorer

    max_depth = 30
    fig, ax = new_figure(width=7.0, height=3.4)
    bars = ax.bar(range(1, max_depth + 1), [1e-16] * max_depth, color=COLORS[0])
    ax.set_yscale("log")
    ax.set_ylim(1e-16, 10)
    # a tick every other decade and no minor ticks: 17 decades of minor ticks cost more to draw than the bars
    ax.yaxis.set_major_locator(LogLocator(base=100))
    ax.yaxis.set_minor_locator(NullLocator())
    norms_cache: dict[tuple[str, int], torch.Tensor] = {}
    ax.set_xlim(0.3, max_depth + 0.7)
    label(ax, "hidden layer (1 = nearest the input)", "gradient norm of its weights")

    def draw(activation, depth):
        if (activation, depth) not in norms_cache:
            norms_cache[activation, depth] = compute_gradient_norms(activation, depth)
        norms = norms_cache[activation, depth]
        for i, bar in enumerate(bars):
            bar.set_height(norms[i].item() if i < depth else 1e-16)
        ratio = (norms[0] / norms[-1]).item()
        ax.title.set_text(f"{_LABELS[activation]}, {depth} hidden layers")
        return (
            f"first layer / last layer gradient ratio: <b>{ratio:.2g}</b> "
            f"({'vanishing' if ratio < 1e-3 else 'healthy' if ratio < 1e3 else 'exploding'})"
        )

    controls = {
        "activation": _activation_toggle("sigmoid"),
        "depth": widgets.IntSlider(value=20, min=2, max=max_depth, description="depth"),
    }
    # dynamic: the bars (a fixed pool, one per possible layer) and the title; the log axis stays cached
    return Explorer("gradient-depth", controls, fig, draw, dynamic=[*bars, ax.title])
