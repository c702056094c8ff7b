"""Widgets for the Autoencoder notebook: walk the 2-D code of the digits, and watch a denoiser work.

- `make_latent_explorer()`: sliders move a point in the code plane of a 2-D autoencoder; the left
  panel shows where the training digits land, the right one the digit decoded from the point.
- `make_denoising_explorer()`: a noise slider corrupts a row of test digits; a plain autoencoder
  and a denoising one each try to rebuild the clean digits.

Models are trained once per process (`trained_digit_autoencoder` caches them), so building a
widget again is quick and moving a control only decodes and redraws.
"""

from __future__ import annotations

import functools

import ipywidgets as widgets
import numpy as np
import torch

from course_utils.data import load_digits, train_test_split
from course_utils.models.autoencoder import (
    NOISE_KINDS,
    Autoencoder,
    add_noise,
    pca_reconstruct,
    reconstruction_error,
    train_autoencoder,
)
from course_utils.plotting import PALETTE, label, new_figure
from course_utils.repro import single_thread
from course_utils.widgets.explorer import Explorer

# Ten classes need ten colours: the Okabe & Ito colours readable on white (their yellow is too
# faint for small markers), then two of Paul Tol's and a grey. Every point is also drawn as its digit,
# so the class never depends on telling colours apart.
DIGIT_COLORS = (
    PALETTE["blue"],
    PALETTE["orange"],
    PALETTE["green"],
    PALETTE["vermillion"],
    PALETTE["purple"],
    PALETTE["sky"],
    PALETTE["black"],
    "#882255",
    "#999933",
    "#888888",
)
DENOISE_NOISE = 0.3  # the noise level the denoising autoencoders are trained at
SWEEP_SIZES = (1, 2, 4, 8, 16, 32)


@functools.lru_cache(maxsize=2)
def _split(seed: int):
    X, y = load_digits()  # X: (1797, 64) in [0, 1]
    return train_test_split(X, y, test_fraction=0.25, seed=seed)


def digits_split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 8x8 digits split 75/25: `(X_train, y_train, X_test, y_test)`, X of shape (N, 64) in [0, 1]."""
    return tuple(t.clone() for t in _split(int(seed)))


@functools.lru_cache(maxsize=32)  # notebook 06 uses about 15 models, each under 100 kB
def _trained(bottleneck: int, hidden: tuple, noise: float, noise_kind: str, epochs: int, seed: int) -> Autoencoder:
    X_train = _split(0)[0]
    model, _ = train_autoencoder(
        X_train, bottleneck, hidden=hidden, noise=noise, noise_kind=noise_kind, epochs=epochs, seed=seed, progress=False
    )
    return model


def trained_digit_autoencoder(
    bottleneck: int = 2,
    *,
    hidden: tuple[int, ...] = (128,),
    noise: float = 0.0,
    noise_kind: str = "gaussian",
    epochs: int = 40,
    seed: int = 0,
) -> Autoencoder:
    """An `Autoencoder` trained on the training digits of `digits_split()`, cached per setting.

    The first call with a setting trains (under a second on a CPU); later calls return the same
    model, so treat it as read-only. Arguments as in `course_utils.models.train_autoencoder`.
    """
    return _trained(bottleneck, tuple(hidden), noise, noise_kind, epochs, seed)


@torch.no_grad()
def compute_codes(model: Autoencoder, X: torch.Tensor) -> np.ndarray:
    """The codes of inputs `X` (N, D): a NumPy array (N, bottleneck)."""
    with single_thread():
        return model.encode(X).numpy()


@torch.no_grad()
def compute_decoded(model: Autoencoder, z) -> np.ndarray:
    """The 8x8 image the decoder makes from one code `z` (a sequence of `model.bottleneck` numbers)."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
    if z.numel() != model.bottleneck:
        raise ValueError(f"compute_decoded: z must have {model.bottleneck} numbers (the bottleneck), got {z.numel()}")
    side = int(round(model.in_features**0.5))
    with single_thread():  # idle threads spinning after a tiny matmul cost more than the matmul
        return model.decode(z[None]).reshape(side, side).numpy()  # (1, D) -> (8, 8)


def compute_nearest_class(codes: np.ndarray, labels: np.ndarray, point, k: int = 15) -> tuple[int, float]:
    """The most common class among the `k` training codes nearest `point`, and its share of them."""
    if not 1 <= k <= len(codes):
        raise ValueError(f"compute_nearest_class: k must be in [1, {len(codes)}], got {k!r}")
    distances = np.linalg.norm(codes - np.asarray(point, dtype=codes.dtype), axis=1)  # (N,)
    nearest = np.asarray(labels)[np.argsort(distances)[:k]]
    counts = np.bincount(nearest)
    return int(counts.argmax()), float(counts.max() / k)


def compute_denoising(
    plain: Autoencoder, denoiser: Autoencoder, X: torch.Tensor, noise: float, kind: str = "gaussian", seed: int = 0
) -> dict:
    """Corrupt `X` (n, 64) and reconstruct it with both models.

    Returns:
        A dict with images "clean", "noisy", "plain", "denoised", each a NumPy array (n, 8, 8), and
        "mse": the mean squared error of "noisy", "plain" and "denoised" against "clean".
    """
    noisy = add_noise(X, noise, kind, torch.Generator().manual_seed(int(seed)))  # (n, 64)
    with torch.no_grad(), single_thread():
        images = {"clean": X, "noisy": noisy, "plain": plain(noisy), "denoised": denoiser(noisy)}
    mse = {key: torch.nn.functional.mse_loss(images[key], X).item() for key in ("noisy", "plain", "denoised")}
    result = {key: value.reshape(-1, 8, 8).numpy() for key, value in images.items()}
    result["mse"] = mse
    return result


def compute_bottleneck_sweep(
    X_train: torch.Tensor, X_test: torch.Tensor, sizes=SWEEP_SIZES, *, epochs: int = 40, seed: int = 0
) -> dict:
    """Test reconstruction error (MSE) against code size for three encoders.

    "autoencoder": the nonlinear `Autoencoder` (one hidden layer of 128 ReLUs each side);
    "linear": a linear autoencoder (no hidden layer, no sigmoid) trained the same way;
    "pca": the top-k principal components of `X_train`, the best linear code on the training data.

    When `X_train` is the training split of `digits_split()`, the nonlinear models come from
    `trained_digit_autoencoder` (cached), so later cells can reuse them without training again.

    Returns:
        `{"sizes": [...], "autoencoder": [...], "linear": [...], "pca": [...]}`, one MSE per size.
    """
    sizes = [int(k) for k in sizes]
    result = {"sizes": sizes, "autoencoder": [], "linear": [], "pca": []}
    default_split = X_train.shape == _split(0)[0].shape and torch.equal(X_train, _split(0)[0])
    for k in sizes:
        if default_split:
            nonlinear = trained_digit_autoencoder(k, epochs=epochs, seed=seed)
        else:
            nonlinear, _ = train_autoencoder(X_train, k, epochs=epochs, seed=seed, progress=False)
        linear, _ = train_autoencoder(
            X_train, k, hidden=(), output="linear", lr=2e-2, epochs=epochs, seed=seed, progress=False
        )
        result["autoencoder"].append(reconstruction_error(nonlinear, X_test))
        result["linear"].append(reconstruction_error(linear, X_test))
        pca = pca_reconstruct(X_train, X_test, k)
        result["pca"].append(torch.nn.functional.mse_loss(pca, X_test).item())
    return result


def _tile(images: np.ndarray, gap: int = 1) -> np.ndarray:
    """Images (n, h, w) side by side with `gap` masked columns between them: (h, n*w + (n-1)*gap)."""
    n, h, w = images.shape
    strip = np.full((h, n * w + (n - 1) * gap), np.nan)
    for i, image in enumerate(images):
        strip[:, i * (w + gap) : i * (w + gap) + w] = image
    return np.ma.masked_invalid(strip)


def make_latent_explorer(epochs: int = 40, seed: int = 0) -> Explorer:
    """Two sliders place a point in the 2-D code of a digit autoencoder; its decoded digit is shown.

    Args:
        epochs, seed: training of the (cached) 2-D autoencoder.
    """
    model = trained_digit_autoencoder(2, epochs=epochs, seed=seed)
    X_train, y_train, _, _ = _split(0)
    codes = compute_codes(model, X_train)  # (N, 2)
    labels = y_train.numpy()
    low, high = codes.min(0), codes.max(0)
    margin = 0.15 * (high - low)  # a little room outside the data, where decodings stop looking like digits
    low, high = np.floor((low - margin) * 10) / 10, np.ceil((high + margin) * 10) / 10
    start = np.median(codes[labels == 0], axis=0)  # start on a recognisable digit

    fig, (ax_code, ax_key, ax_image) = new_figure(
        3, width=8.6, height=4.0, gridspec_kw={"width_ratios": [1.45, 0.07, 1]}
    )
    for digit in range(10):
        mask = labels == digit
        ax_code.scatter(
            codes[mask, 0],
            codes[mask, 1],
            s=34,
            marker=f"${digit}$",
            color=DIGIT_COLORS[digit],
            alpha=0.7,
            linewidths=0,
        )
    (point,) = ax_code.plot(
        [start[0]],
        [start[1]],
        marker="X",
        markersize=15,
        color="white",
        markeredgecolor="black",
        markeredgewidth=2,
        linestyle="none",
        zorder=5,
    )
    ax_code.set_xlim(low[0], high[0])
    ax_code.set_ylim(low[1], high[1])
    label(ax_code, "code $z_1$", "code $z_2$", "training digits in the code plane")
    # The legend as a column of coloured digits: one artist instead of a Legend's twenty, so updates stay fast.
    ax_key.scatter(np.zeros(10), np.arange(10)[::-1], s=110, marker="o", c=DIGIT_COLORS, linewidths=0)
    for digit in range(10):
        ax_key.text(0, 9 - digit, str(digit), ha="center", va="center", color="white", fontsize=9, fontweight="bold")
    ax_key.set_xlim(-0.6, 0.6)
    ax_key.set_ylim(-0.8, 9.8)
    ax_key.set_title("digit", fontsize=10)
    ax_key.axis("off")
    image = ax_image.imshow(compute_decoded(model, start), cmap="gray_r", vmin=0, vmax=1)
    ax_image.set_xticks([])
    ax_image.set_yticks([])
    ax_image.grid(False)
    # a fixed title: the point's coordinates are in the caption (a title redrawn at every move costs more than the digit)
    ax_image.set_title("decoded from the white cross", fontsize=10)
    ax_image.set_xlabel("decoder output (8x8 pixels)")

    def step(i: int) -> float:
        return float(np.round((high[i] - low[i]) / 100, 3))

    controls = {
        f"z{i + 1}": widgets.FloatSlider(
            value=float(start[i]),
            min=float(low[i]),
            max=float(high[i]),
            step=step(i),
            description=f"z{i + 1}",
            readout_format=".2f",
            continuous_update=True,
        )
        for i in range(2)
    }

    def draw(z1: float, z2: float) -> str:
        point.set_data([z1], [z2])
        image.set_data(compute_decoded(model, (z1, z2)))
        digit, share = compute_nearest_class(codes, labels, (z1, z2))
        return (
            f"Decoded from z = ({z1:.2f}, {z2:.2f}). "
            f"The 15 training digits whose codes lie nearest this point are {share:.0%} <b>{digit}</b>s. "
            "Move between two clusters to see one digit morph into another; move far from every dot "
            "to see what the decoder does where it never saw data."
        )

    # dynamic: what the sliders change (the point and the decoded digit), and the spines drawn over the
    # digit; the point is above everything in its panel anyway (zorder 5)
    dynamic = [point, image, *ax_image.spines.values()]
    return Explorer("autoencoder-latent", controls, fig, draw, dynamic=dynamic)


def _denoising_digits(n_per_class: int = 1) -> torch.Tensor:
    """One test digit of each class 0-9, in order: (10, 64)."""
    _, _, X_test, y_test = _split(0)
    picks = [int(torch.nonzero(y_test == d)[0]) for d in range(10) for _ in range(n_per_class)]
    return X_test[picks]


def make_denoising_explorer(bottleneck: int = 32, epochs: int = 40, seed: int = 0) -> Explorer:
    """A noise slider corrupts ten test digits; a plain and a denoising autoencoder reconstruct them.

    Args:
        bottleneck: code size of both models (large enough that the plain one can copy the noise).
        epochs, seed: training of the (cached) models; the denoisers see noise of level
            `DENOISE_NOISE` of their own kind during training.
    """
    plain = trained_digit_autoencoder(bottleneck, epochs=epochs, seed=seed)
    denoisers = {
        kind: trained_digit_autoencoder(bottleneck, noise=DENOISE_NOISE, noise_kind=kind, epochs=epochs, seed=seed)
        for kind in NOISE_KINDS
    }
    X = _denoising_digits()  # (10, 64)
    rows = ("clean", "noisy", "plain", "denoised")
    names = {
        "clean": "clean test digits",
        "noisy": "noisy input",
        "plain": "plain autoencoder",
        "denoised": "denoising autoencoder",
    }

    fig, axes = new_figure(1, 4, width=7.5, height=1.25)
    first = compute_denoising(plain, denoisers["gaussian"], X, DENOISE_NOISE)
    artists = {}
    for ax, key in zip(axes, rows):
        artists[key] = ax.imshow(_tile(first[key]), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        # fixed titles: the errors and the noise setting are in the caption (titles redrawn at every move
        # cost more than the digits)
        ax.set_title(names[key], loc="left", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
    changing = rows[1:]  # the rows that depend on the noise

    controls = {
        "noise": widgets.FloatSlider(
            value=DENOISE_NOISE,
            min=0.0,
            max=0.8,
            step=0.05,
            description="noise level",
            readout_format=".2f",
            continuous_update=True,
        ),
        "kind": widgets.ToggleButtons(options=list(NOISE_KINDS), value="gaussian", description="noise"),
    }

    def draw(noise: float, kind: str) -> str:
        result = compute_denoising(plain, denoisers[kind], X, noise, kind, seed=seed)
        for key in changing:  # the clean row is the same at every setting: it stays in the background
            artists[key].set_data(_tile(result[key]))
        what = f"standard deviation {noise:.2f}" if kind == "gaussian" else f"share of pixels set to 0: {noise:.2f}"
        mse = result["mse"]
        best = min(mse, key=mse.get)
        errors = ", ".join(
            f"<b>{names[key]} {mse[key]:.4f}</b>" if key == best else f"{names[key]} {mse[key]:.4f}" for key in changing
        )
        return (
            f"{kind.capitalize()} noise, {what}. MSE to the clean digits: {errors} (closest in bold). "
            f"Both autoencoders have a {bottleneck}-number code; the denoising one was trained on {kind} noise "
            f"of level {DENOISE_NOISE}, the plain one only on clean digits."
        )

    # dynamic: the noisy and reconstructed rows; titles and the clean row stay in the cached background
    dynamic = [artists[key] for key in changing]
    return Explorer("autoencoder-denoising", controls, fig, draw, dynamic=dynamic)
