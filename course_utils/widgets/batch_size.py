"""The batch-size slider: gradient noise, loss curves, time and memory as the batch size changes.

One small network (`batching.TinyTanhMLP`, 2 -> 32 tanh -> 2) on a 2-D toy set of N examples:
- `compute_gradient_noise(batch_size, per_example_grads)`: draw mini-batches without replacement,
  measure how far their gradients scatter around the full-batch gradient, and project them to a
  plane (along the full gradient, and across it in the noisiest direction) to draw them;
- `compute_training_curves(batch_size, ...)`: one SGD run from the same start, with a fixed or a
  linearly scaled learning rate, scored at the end on held-out examples it never trained on;
- `compute_batch_size_study(config)`: all of the above for every batch size, plus measured time per
  epoch and activation memory per step; cached, so the widget and a notebook's experiments share it;
- `make_batch_size_explorer()`: the widget, drawing from the study (an update only moves artists).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import ipywidgets as widgets
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from course_utils.batching import (
    SGDRun,
    TinyTanhMLP,
    batch_size_options,
    check_batch_size,
    linear_scaled_lr,
    saved_activation_bytes,
    steps_per_epoch,
    time_per_epoch,
    train_sgd,
)
from course_utils.data import make_toy_2d
from course_utils.plotting import PALETTE, label, new_figure
from course_utils.repro import single_thread
from course_utils.widgets.explorer import Explorer


@dataclass(frozen=True)
class BatchSizeConfig:
    """What the batch-size study trains and measures."""

    dataset: str = "circles"  # a toy set from `course_utils.data.make_toy_2d`
    n_samples: int = 256  # N: the training set, and so the full batch
    n_held_out: int = 256  # examples drawn with the training set but never trained on (held-out loss, accuracy)
    noise: float = 0.1  # noise of the toy set
    hidden: int = 32  # tanh units of the one hidden layer
    epochs: int = 8  # every batch size sees the same number of examples: epochs * N
    base_lr: float = 0.2  # the learning rate of the reference run ...
    base_batch_size: int = 8  # ... at this batch size; the linear rule scales from here
    num_draws: int = 200  # mini-batches drawn per batch size for the gradient cloud
    seed: int = 0  # data, starting weights, shuffling and draws


@dataclass
class GradientNoise:
    """Mini-batch gradients of one batch size, measured in full and projected to a plane."""

    batch_size: int
    points: torch.Tensor  # (K, 2): each drawn mini-batch gradient in the plane
    full: torch.Tensor  # (2,): the full-batch gradient g in the plane, (|g|, 0)
    measured_variance: float  # mean over the draws of |g_B - g|^2, over all P coordinates
    predicted_variance: float  # tr(Sigma) / B * (N - B) / (N - 1)
    uphill_fraction: float  # share of draws with g_B . g < 0: a step along -g_B would raise the loss
    covariance_2d: torch.Tensor  # (2, 2): the predicted covariance of `points`


@single_thread()  # small matrices: a second thread only adds overhead, a lot of it on a busy machine
def gradient_plane(per_example_grads: torch.Tensor) -> torch.Tensor:
    """Two orthonormal directions to draw gradients in: along the full-batch gradient g, then across it.

    The second is the direction, orthogonal to g, in which per-example gradients vary most (the top
    principal component of their spread, with g's direction removed).

    Args:
        per_example_grads: (N, P), one gradient per example.

    Returns:
        (2, P) with unit rows.
    """
    g = per_example_grads.mean(0)  # (P,)
    along = g / g.norm()
    spread = per_example_grads - g  # (N, P)
    spread = spread - (spread @ along)[:, None] * along  # remove the component along g
    across = torch.linalg.svd(spread, full_matrices=False).Vh[0]  # (P,)
    across = across * torch.sign(across[across.abs().argmax()])  # a fixed sign, so the picture is stable
    return torch.stack([along, across])


@single_thread()
def compute_gradient_noise(
    batch_size: int,
    per_example_grads: torch.Tensor,
    *,
    basis: torch.Tensor | None = None,
    num_draws: int = 200,
    seed: int = 0,
) -> GradientNoise:
    """Draw `num_draws` mini-batches of `batch_size` distinct examples and measure their gradients' spread.

    The mini-batch gradient is the mean of the batch's per-example gradients, g_B = (1/B) sum_{i in S} g_i;
    its expected squared distance to the full-batch gradient g is tr(Sigma) / B * (N - B) / (N - 1).

    Args:
        batch_size: B in [1, N].
        per_example_grads: (N, P).
        basis: (2, P) directions to project onto; `gradient_plane(per_example_grads)` by default.
        num_draws: K, the number of mini-batches drawn (>= 2).
        seed: seeds the draws.

    Returns:
        A `GradientNoise`.
    """
    if not isinstance(per_example_grads, torch.Tensor) or per_example_grads.dim() != 2:
        raise ValueError("compute_gradient_noise: per_example_grads must be a tensor of shape (N, P)")
    n = per_example_grads.shape[0]
    check_batch_size(batch_size, n, "compute_gradient_noise")
    if isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 2:
        raise ValueError(f"compute_gradient_noise: num_draws must be an int >= 2, got {num_draws!r}")
    grads = per_example_grads.double()
    basis = gradient_plane(grads) if basis is None else basis.double()
    g = grads.mean(0)  # (P,)
    generator = torch.Generator().manual_seed(int(seed))
    # Each row of `chosen` marks B distinct examples: the positions where a random permutation is < B.
    chosen = torch.rand(num_draws, n, generator=generator).argsort(dim=1) < batch_size  # (K, N)
    batch_grads = chosen.double() @ grads / batch_size  # (K, P)
    centred = grads - g  # (N, P)
    trace_sigma = (centred**2).sum(1).mean().item()  # tr(Sigma), Sigma the population covariance
    shrink = (n - batch_size) / (batch_size * (n - 1)) if n > 1 else 0.0
    sigma_2d = (basis @ centred.T) @ (centred @ basis.T) / n  # (2, 2)
    return GradientNoise(
        batch_size=batch_size,
        points=(batch_grads @ basis.T).float(),  # (K, 2)
        full=(basis @ g).float(),  # (2,)
        measured_variance=((batch_grads - g) ** 2).sum(1).mean().item(),
        predicted_variance=trace_sigma * shrink,
        uphill_fraction=(batch_grads @ g < 0).double().mean().item(),
        covariance_2d=(sigma_2d * shrink).float(),
    )


@functools.lru_cache(maxsize=4)
def _dataset(config: BatchSizeConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, y, X_held_out, y_held_out): one draw of the toy set, split at random into training and held-out."""
    X, y = make_toy_2d(config.dataset, config.n_samples + config.n_held_out, config.noise, seed=config.seed)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(config.seed))
    train, held_out = order[: config.n_samples], order[config.n_samples :]
    return X[train], y[train], X[held_out], y[held_out]


def _check_config(config: BatchSizeConfig | None) -> BatchSizeConfig:
    if config is None:
        return BatchSizeConfig()
    if not isinstance(config, BatchSizeConfig):
        raise TypeError(f"config must be a BatchSizeConfig or None, got {type(config).__name__}")
    if isinstance(config.n_held_out, bool) or not isinstance(config.n_held_out, int) or config.n_held_out < 1:
        raise ValueError(f"BatchSizeConfig: n_held_out must be a positive int, got {config.n_held_out!r}")
    options = batch_size_options(config.n_samples)
    if config.base_batch_size not in options:
        raise ValueError(f"BatchSizeConfig: base_batch_size must be one of {options}, got {config.base_batch_size!r}")
    return config


def learning_rate(batch_size: int, scale_lr: bool, config: BatchSizeConfig | None = None) -> float:
    """The study's learning rate: `config.base_lr`, or scaled linearly from `config.base_batch_size`."""
    config = _check_config(config)
    return linear_scaled_lr(config.base_lr, config.base_batch_size, batch_size) if scale_lr else config.base_lr


def compute_training_curves(
    batch_size: int, *, scale_lr: bool = False, config: BatchSizeConfig | None = None
) -> SGDRun:
    """Train the study's network from its starting weights with SGD at one batch size.

    Args:
        batch_size: B in [1, N] (N = `config.n_samples`).
        scale_lr: use the linear scaling rule, lr = base_lr * B / base_batch_size; else lr = base_lr.
        config: a `BatchSizeConfig` (the defaults when None).

    Returns:
        An `SGDRun`: full training loss against steps and examples seen, over `config.epochs` epochs,
        and the held-out loss and accuracy at the end.
    """
    config = _check_config(config)
    check_batch_size(batch_size, config.n_samples, "compute_training_curves")
    X, y, X_held_out, y_held_out = _dataset(config)
    model = TinyTanhMLP.init(X.shape[1], config.hidden, 2, seed=config.seed)
    run = train_sgd(
        model,
        X,
        y,
        batch_size=batch_size,
        lr=learning_rate(batch_size, scale_lr, config),
        epochs=config.epochs,
        seed=config.seed,
        num_checkpoints=60,
    )
    run.held_out_loss = model.loss(X_held_out, y_held_out)
    run.held_out_accuracy = model.accuracy(X_held_out, y_held_out)
    return run


@dataclass
class BatchSizeStudy:
    """Everything the batch-size widget shows, for every batch size, computed once."""

    config: BatchSizeConfig
    X: torch.Tensor  # (N, 2): the training set
    y: torch.Tensor  # (N,)
    X_held_out: torch.Tensor  # (M, 2): same distribution, never trained on
    y_held_out: torch.Tensor  # (M,)
    model: TinyTanhMLP  # the starting weights every run begins from
    per_example_grads: torch.Tensor  # (N, P) at the starting weights
    basis: torch.Tensor  # (2, P): the plane the gradients are drawn in
    options: list[int]  # batch sizes: powers of two, then N
    noise: dict[int, GradientNoise]
    runs: dict[tuple[int, bool], SGDRun]  # (batch size, scale_lr) -> run
    seconds_per_epoch: dict[int, float]  # measured, one CPU thread, autograd + torch.optim.SGD
    activation_bytes: dict[int, int]  # saved for the backward pass, per step


def compute_batch_size_study(config: BatchSizeConfig | None = None) -> BatchSizeStudy:
    """Run the whole study (a few seconds on a CPU); cached, so a second call with the same config is free.

    Args:
        config: a `BatchSizeConfig`; None means the defaults (and shares their cache entry).

    Returns:
        A `BatchSizeStudy`. Treat it as read-only: later calls return the same object.
    """
    return _study(_check_config(config))


@functools.lru_cache(maxsize=2)
def _study(config: BatchSizeConfig) -> BatchSizeStudy:
    X, y, X_held_out, y_held_out = _dataset(config)
    model = TinyTanhMLP.init(X.shape[1], config.hidden, 2, seed=config.seed)
    grads = model.clone(torch.float64).per_example_gradients(X.double(), y)  # (N, P)
    basis = gradient_plane(grads)
    options = batch_size_options(config.n_samples)
    module = model.to_module()
    return BatchSizeStudy(
        config=config,
        X=X,
        y=y,
        X_held_out=X_held_out,
        y_held_out=y_held_out,
        model=model,
        per_example_grads=grads,
        basis=basis,
        options=options,
        noise={
            b: compute_gradient_noise(b, grads, basis=basis, num_draws=config.num_draws, seed=config.seed)
            for b in options
        },
        runs={(b, s): compute_training_curves(b, scale_lr=s, config=config) for s in (False, True) for b in options},
        seconds_per_epoch={b: time_per_epoch(module, X, y, b, lr=config.base_lr) for b in options},
        activation_bytes={b: saved_activation_bytes(module, X[:b], y[:b]) for b in options},
    )


def _format_bytes(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"


def _format_seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def _log_ticks(axis, ticks: list[float]) -> None:
    """Log-axis ticks at `ticks`, labelled in plain numbers, no minor ticks (cheaper to draw than 10^k labels)."""
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _ticks_within(low: float, high: float) -> list[float]:
    """1-2-5 ticks between `low` and `high`."""
    ticks, k = [], math.floor(math.log10(low))
    while 10**k <= high * 10:
        ticks += [m * 10**k for m in (1, 2, 5) if low <= m * 10**k <= high]
        k += 1
    return [float(f"{t:.6g}") for t in ticks]


def make_batch_size_explorer(config: BatchSizeConfig | None = None) -> Explorer:
    """The batch-size slider: gradient noise, loss per step and per example, time and memory (one figure).

    Controls: the batch size (powers of two up to N, then the full batch) and whether the learning
    rate is scaled linearly with it. Everything is computed when the widget is built.
    """
    study = compute_batch_size_study(_check_config(config))
    cfg, n, options = study.config, study.config.n_samples, study.options
    fig, (ax_noise, ax_step, ax_seen, ax_cost) = new_figure(2, 2, width=10.5, height=2.3)

    # (a) gradient noise, in the plane (along g, across g). Limits fixed by the noisiest case, B = 1.
    worst = study.noise[options[0]]
    full = worst.full
    spread = worst.covariance_2d.diagonal().sqrt() * 2.5
    ax_noise.set_xlim(float(min(0.0, full[0] - spread[0])) * 1.05, float(full[0] + spread[0]))
    ax_noise.set_ylim(-float(spread[1]), float(spread[1]))
    ax_noise.axvspan(-1e3, 0, color=PALETTE["vermillion"], alpha=0.08, lw=0)
    ax_noise.text(
        0.02,
        0.97,
        "uphill\n(g_B·g < 0)",
        transform=ax_noise.transAxes,
        va="top",
        fontsize=9,
        color=PALETTE["vermillion"],
    )
    cloud = ax_noise.scatter(
        worst.points[:, 0],
        worst.points[:, 1],
        s=9,
        color=PALETTE["sky"],
        alpha=0.6,
        lw=0,
        label="mini-batch gradients g_B",
    )
    rays = LineCollection([], colors=PALETTE["blue"], linewidths=0.8, alpha=0.45)
    ax_noise.add_collection(rays)
    circle = torch.linspace(0, 2 * math.pi, 60)
    unit = torch.stack([circle.cos(), circle.sin()])  # (2, 60)
    (ellipse,) = ax_noise.plot([], [], "--", color=PALETTE["blue"], lw=1.3, label="1/B law: 2 std")
    arrow = ax_noise.annotate(  # dynamic only so that it stays on top of the cloud
        "", xy=(float(full[0]), 0.0), xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 2.2}
    )
    ax_noise.plot([], [], color="black", lw=2.2, label="full-batch gradient g")
    noise_text = ax_noise.text(
        0.98,
        0.03,
        "",
        transform=ax_noise.transAxes,
        ha="right",
        va="bottom",
        fontsize=9,
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9},
    )
    noise_legend = ax_noise.legend(loc="upper right", fontsize=8, framealpha=0.9)
    for axis in (ax_noise.xaxis, ax_noise.yaxis):
        axis.set_major_locator(MaxNLocator(5))
    label(
        ax_noise,
        "along the full-batch gradient g",
        "across g (noisiest)",
        "(a) gradient noise at the starting weights",
    )

    # (b) and (c): the same runs against steps and against examples seen. Grey: every batch size.
    def curve(run: SGDRun, ax) -> tuple[list, list]:
        if ax is ax_step:  # a log axis: leave out step 0
            return run.steps[1:], run.loss[1:]
        return [e / n for e in run.examples], run.loss  # examples seen, in epochs

    finite = [v for run in study.runs.values() for v in run.loss if math.isfinite(v)]
    loss_floor, loss_start = min(finite), study.runs[(options[0], False)].loss[0]
    background, chosen_lines, reference_lines = {}, {}, {}
    for ax in (ax_step, ax_seen):
        background[ax] = [ax.plot([], [], color="0.6", lw=1, alpha=0.5)[0] for _ in options]
        reference_lines[ax] = ax.plot([], [], color=PALETTE["blue"], lw=2, ls="--")[0]
        chosen_lines[ax] = ax.plot([], [], color=PALETTE["vermillion"], lw=2.6)[0]
        ax.set_yscale("log")
        ax.set_ylim(loss_floor * 0.7, loss_start * 2.5)
        _log_ticks(ax.yaxis, _ticks_within(loss_floor * 0.7, loss_start * 2.5))
    ax_step.set_xscale("log")
    _log_ticks(ax_step.xaxis, [10**k for k in range(len(str(cfg.epochs * n)))])
    ax_step.set_xlim(1, cfg.epochs * n * 1.3)
    ax_seen.set_xlim(0, cfg.epochs)
    step_legend = ax_step.legend(
        [chosen_lines[ax_step], reference_lines[ax_step], Line2D([], [], color="0.6")],
        ["chosen", f"reference: B = {cfg.base_batch_size}, lr = {cfg.base_lr:g}", "other batch sizes"],
        loc="lower left",
        fontsize=8,
        framealpha=0.9,
    )
    diverged_text = ax_seen.text(
        0.97,
        0.95,
        "",
        transform=ax_seen.transAxes,
        ha="right",
        va="top",
        fontsize=9,
        color=PALETTE["vermillion"],
        fontweight="bold",
        bbox={"boxstyle": "round", "fc": "white", "ec": PALETTE["vermillion"], "alpha": 0.9},
    )
    label(ax_step, "optimizer steps (log)", "full training loss (log)", "(b) loss per step")
    label(ax_seen, "examples seen (epochs of N)", "full training loss (log)", "(c) loss per example seen")

    # (d) cost: measured time per epoch (falls with B) and activation memory per step (grows with B).
    seconds = [study.seconds_per_epoch[b] * 1e3 for b in options]
    kib = [study.activation_bytes[b] / 1024 for b in options]
    ax_mem = ax_cost.twinx()
    ax_mem.spines["right"].set_visible(True)
    ax_mem.grid(False)
    ax_cost.plot(options, seconds, "o-", color=PALETTE["blue"], ms=4, label="time per epoch")
    ax_mem.plot(options, kib, "s-", color=PALETTE["orange"], ms=4, label="activations per step")
    (time_dot,) = ax_cost.plot([], [], "o", color=PALETTE["vermillion"], ms=11, mfc="none", mew=2.2)
    (mem_dot,) = ax_mem.plot([], [], "s", color=PALETTE["vermillion"], ms=11, mfc="none", mew=2.2)
    for ax, values in ((ax_cost, seconds), (ax_mem, kib)):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _log_ticks(ax.yaxis, _ticks_within(min(values) / 1.2, max(values) * 1.2))
    _log_ticks(ax_cost.xaxis, options[::2] if options[-1] == 2 ** (len(options) - 1) else options[:-1:2] + options[-1:])
    ax_cost.set_xlim(options[0] / 1.5, options[-1] * 1.5)
    ax_cost.set_xlabel("batch size B (log)")
    ax_cost.set_ylabel("ms per epoch (measured)", color=PALETTE["blue"])
    ax_mem.set_ylabel("KiB of activations per step", color=PALETTE["orange"])
    ax_cost.set_title("(d) cost: time per epoch and memory")

    def draw(batch_size: int, scale_lr: bool) -> str:
        check_batch_size(batch_size, n, "make_batch_size_explorer")
        noise = study.noise[batch_size]
        cloud.set_offsets(noise.points.numpy())
        rays.set_segments([[(0.0, 0.0), (float(x), float(y))] for x, y in noise.points[:20]])
        # 2-std ellipse of the predicted covariance: centre + 2 * L @ unit circle, L L^T = covariance
        chol = torch.linalg.cholesky(noise.covariance_2d.double() + 1e-12 * torch.eye(2)).float()
        ring = noise.full[:, None] + 2 * chol @ unit  # (2, 60)
        ellipse.set_data(ring[0].numpy(), ring[1].numpy())
        measured = noise.measured_variance if noise.measured_variance > 1e-12 else 0.0  # B = N: rounding only
        noise_text.set_text(
            f"E|g_B - g|²: {measured:.3g} measured, {noise.predicted_variance:.3g} by the law\n"
            f"uphill: {noise.uphill_fraction:.0%} of {cfg.num_draws} draws"
        )

        run = study.runs[(batch_size, scale_lr)]
        reference = study.runs[(cfg.base_batch_size, False)]
        for ax in (ax_step, ax_seen):
            for line, b in zip(background[ax], options):
                line.set_data(*curve(study.runs[(b, scale_lr)], ax))
            reference_lines[ax].set_data(*curve(reference, ax))
            chosen_lines[ax].set_data(*curve(run, ax))
        rule = f" = {cfg.base_lr:g}·{batch_size}/{cfg.base_batch_size}" if scale_lr else " (fixed)"
        step_legend.get_texts()[0].set_text(f"B = {batch_size}, lr = {run.lr:g}{rule}")
        diverged_text.set_text(f"lr = {run.lr:g} too large: diverged" if run.diverged else "")
        diverged_text.set_visible(run.diverged)

        i = options.index(batch_size)
        time_dot.set_data([batch_size], [seconds[i]])
        mem_dot.set_data([batch_size], [kib[i]])

        per_epoch = steps_per_epoch(n, batch_size)
        which = " (the full batch: plain gradient descent)" if batch_size == n else ""
        how = f" (scaled linearly from {cfg.base_lr:g} at B = {cfg.base_batch_size})" if scale_lr else ""
        broken = scale_lr and run.final_loss > 1.5 * reference.final_loss
        verdict = " The linear rule has broken down: this lr is too large." if broken else ""
        return (
            f"<b>B = {batch_size}</b>{which}: {per_epoch} step{'s' if per_epoch > 1 else ''} per epoch of "
            f"N = {n}, lr = {run.lr:g}{how}. After {cfg.epochs} epochs: training loss "
            f"<b>{run.final_loss:.3g}</b> (reference {reference.final_loss:.3g}), held-out accuracy "
            f"<b>{run.held_out_accuracy:.0%}</b>.{verdict} An epoch takes "
            f"{_format_seconds(study.seconds_per_epoch[batch_size])} (one CPU thread); "
            f"{_format_bytes(study.activation_bytes[batch_size])} of activations per step."
        )

    default = 32 if 32 in options else options[len(options) // 2]
    controls = {
        "batch_size": widgets.SelectionSlider(
            options=[(f"{b} (full)" if b == n else str(b), b) for b in options],
            value=default,
            description="batch size B",
            continuous_update=True,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="420px"),
        ),
        "scale_lr": widgets.Checkbox(
            value=False, description=f"scale lr with B (lr = {cfg.base_lr:g}·B/{cfg.base_batch_size})", indent=False
        ),
    }
    # dynamic: what draw changes, and the legends and arrow that must stay on top of it. Every setting's
    # picture (batch sizes x 2) is drawn now and kept: about 80 ms each to draw, none when shown
    dynamic = [cloud, rays, ellipse, arrow, noise_text, noise_legend, step_legend, diverged_text, time_dot, mem_dot]
    for ax in (ax_step, ax_seen):
        dynamic += [*background[ax], reference_lines[ax], chosen_lines[ax]]
    return Explorer("batch-size", controls, fig, draw, dynamic=dynamic, keep_pictures=True)
