"""Autoencoders: an encoder squeezes the input into a small code, a decoder rebuilds the input from it.

`Autoencoder` is a pair of MLPs around a bottleneck; `train_autoencoder` fits one to data in a
few seconds on a CPU (optionally as a denoising autoencoder, fed corrupted inputs and asked for
the clean ones); `pca_reconstruct` is the linear baseline every autoencoder is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.activations import get_activation
from course_utils.models.mlp import make_mlp
from course_utils.repro import single_thread
from course_utils.training import History

OUTPUTS = ("sigmoid", "linear")  # decoder output: pixels in [0, 1], or any real number
NOISE_KINDS = ("gaussian", "masking")


def _check_positive_int(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {value!r}")
    return value


def _check_noise(fn: str, noise, kind: str) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise ValueError(f"{fn}: noise must be a number in [0, 1], got {noise!r}")
    if kind not in NOISE_KINDS:
        raise ValueError(f"{fn}: noise_kind must be one of {NOISE_KINDS}, got {kind!r}")
    return float(noise)


class Autoencoder(nn.Module):
    """An MLP encoder down to a `bottleneck`-sized code and a mirror-image MLP decoder back up."""

    def __init__(
        self,
        in_features: int = 64,
        hidden: Sequence[int] = (128,),
        bottleneck: int = 2,
        activation: str = "relu",
        output: str = "sigmoid",
    ):
        """
        Args:
            in_features: size of one input (64 for the 8x8 digits).
            hidden: widths of the encoder's hidden layers; the decoder uses them in reverse.
                Empty with `output="linear"` gives a linear autoencoder (the PCA look-alike).
            bottleneck: size of the code, usually much smaller than `in_features`.
            activation: a name from `course_utils.activations.ACTIVATION_NAMES`.
            output: "sigmoid" when inputs lie in [0, 1] (pixels), "linear" otherwise.
        """
        super().__init__()
        _check_positive_int("Autoencoder", "in_features", in_features)
        _check_positive_int("Autoencoder", "bottleneck", bottleneck)
        hidden = tuple(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"Autoencoder: hidden must be a sequence of positive ints, got {list(hidden)!r}")
        get_activation(activation)  # a clear error for an unknown name
        if output not in OUTPUTS:
            raise ValueError(f"Autoencoder: output must be one of {OUTPUTS}, got {output!r}")
        self.in_features, self.hidden, self.bottleneck = in_features, hidden, bottleneck
        self.encoder = make_mlp(in_features, hidden, bottleneck, activation)
        decoder = make_mlp(bottleneck, tuple(reversed(hidden)), in_features, activation)
        # The sigmoid keeps reconstructions in the pixels' range, so the loss never chases impossible values.
        self.decoder = nn.Sequential(*decoder, nn.Sigmoid()) if output == "sigmoid" else decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (N, in_features) -> codes (N, bottleneck)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, bottleneck) -> reconstructions (N, in_features)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (N, in_features) -> reconstructions (N, in_features), through the code."""
        return self.decode(self.encode(x))


def add_noise(
    x: torch.Tensor, noise: float, kind: str = "gaussian", generator: torch.Generator | None = None
) -> torch.Tensor:
    """A corrupted copy of `x`, for denoising; `x` itself is left unchanged.

    Args:
        x: inputs with values in [0, 1], any shape.
        noise: the noise level in [0, 1]. "gaussian": the standard deviation of the noise added
            to each entry, the result clipped back to [0, 1]; "masking": the probability that an
            entry is set to 0.
        kind: "gaussian" or "masking".
        generator: a `torch.Generator` for reproducible noise (default: PyTorch's global one).

    Returns:
        A tensor shaped like `x`, with values in [0, 1].
    """
    noise = _check_noise("add_noise", noise, kind)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"add_noise: x must be a torch.Tensor, got {type(x).__name__}")
    if kind == "gaussian":
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return (x + noise * eps).clamp(0.0, 1.0)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= noise
    return x * keep


def train_autoencoder(
    X: torch.Tensor,
    bottleneck: int = 2,
    *,
    hidden: Sequence[int] = (128,),
    activation: str = "relu",
    output: str = "sigmoid",
    epochs: int = 40,
    batch_size: int = 128,
    lr: float = 1e-2,
    noise: float = 0.0,
    noise_kind: str = "gaussian",
    X_val: torch.Tensor | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Autoencoder, History]:
    """Fit an `Autoencoder` to `X` with Adam and the mean squared reconstruction error.

    With `noise > 0` it becomes a denoising autoencoder: each batch is corrupted afresh with
    `add_noise(xb, noise, noise_kind)` and the target is the clean batch.

    Args:
        X: training inputs (N, D), float, values in [0, 1] for `output="sigmoid"`.
        bottleneck: size of the code, a positive int.
        hidden, activation, output: the architecture, see `Autoencoder`.
        epochs: passes over the data.
        batch_size: examples per step, a positive int (above N: the whole data set).
        lr: Adam's learning rate.
        noise, noise_kind: corruption of the inputs during training, see `add_noise`.
        X_val: optional inputs (M, D) whose clean reconstruction error is recorded after each epoch.
        seed: the same seed gives the same initial weights, batches and noise, so the same model.
        progress: show a `tqdm` bar with the running loss.

    Returns:
        `(model, history)`: the trained model (in eval mode) and a `course_utils.training.History`
        with `step_loss`, `epoch_loss`, `examples_seen` and, with `X_val`, `val_loss`.
    """
    if not isinstance(X, torch.Tensor) or X.dim() != 2 or not X.is_floating_point():
        got = f"shape {tuple(X.shape)}, dtype {X.dtype}" if isinstance(X, torch.Tensor) else type(X).__name__
        raise ValueError(f"train_autoencoder: X must be a 2-D float tensor (N, D), got {got}")
    _check_positive_int("train_autoencoder", "bottleneck", bottleneck)
    _check_positive_int("train_autoencoder", "epochs", epochs)
    n = len(X)
    _check_positive_int("train_autoencoder", "batch_size", batch_size)
    batch_size = min(batch_size, n)  # more than N: one full batch per epoch
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"train_autoencoder: lr must be a number > 0, got {lr!r}")
    noise = _check_noise("train_autoencoder", noise, noise_kind)
    if X_val is not None and (not isinstance(X_val, torch.Tensor) or X_val.dim() != 2 or X_val.shape[1] != X.shape[1]):
        raise ValueError(f"train_autoencoder: X_val must be a 2-D tensor with {X.shape[1]} columns like X")

    with single_thread(), torch.random.fork_rng(devices=[]):  # seeding here leaves the global RNG alone
        torch.manual_seed(seed)
        model = Autoencoder(X.shape[1], hidden, bottleneck, activation, output).to(X.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(int(seed))  # batches and noise
    history = History()
    bar = tqdm(range(epochs), desc="autoencoder", disable=not progress, leave=False)
    with single_thread():
        for _ in bar:
            model.train()
            total = 0.0
            for idx in torch.randperm(n, generator=g).split(batch_size):
                xb = X[idx]  # (B, D): the target is always the clean batch
                inputs = add_noise(xb.cpu(), noise, noise_kind, g).to(X.device) if noise > 0 else xb
                loss = nn.functional.mse_loss(model(inputs), xb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                history.step_loss.append(loss.item())
                seen = history.examples_seen[-1] if history.examples_seen else 0
                history.examples_seen.append(seen + len(idx))
                total += loss.item() * len(idx)
            history.epoch_loss.append(total / n)
            if X_val is not None:
                history.val_loss.append(reconstruction_error(model, X_val))
            bar.set_postfix(loss=f"{history.epoch_loss[-1]:.4f}")
    model.eval()
    return model, history


@torch.no_grad()
def reconstruction_error(model: nn.Module, X: torch.Tensor, X_input: torch.Tensor | None = None) -> float:
    """Mean squared error between `X` (N, D) and `model(X_input)`, in eval mode.

    `X_input` defaults to `X`; pass a corrupted copy to measure how well a model denoises.
    """
    inputs = X if X_input is None else X_input
    if inputs.shape != X.shape:
        raise ValueError(
            f"reconstruction_error: X_input must have X's shape {tuple(X.shape)}, got {tuple(inputs.shape)}"
        )
    was_training = model.training
    model.eval()
    error = nn.functional.mse_loss(model(inputs), X).item()
    model.train(was_training)
    return error


def pca_reconstruct(X_fit: torch.Tensor, X: torch.Tensor, k: int) -> torch.Tensor:
    """Project `X` onto the top-`k` principal components of `X_fit` and map back: PCA as an autoencoder.

    The encoder is `z = (x - mean) @ V_k` and the decoder `x_hat = z @ V_k.T + mean`, where the
    columns of `V_k` (D, k) are the top right-singular vectors of the centred `X_fit` (exact SVD,
    so the result is deterministic).

    Args:
        X_fit: data (N, D) the components are computed from.
        X: data (M, D) to reconstruct.
        k: number of components, in [1, min(N, D)].

    Returns:
        The reconstruction of `X`, shape (M, D).
    """
    if X_fit.dim() != 2 or X.dim() != 2 or X_fit.shape[1] != X.shape[1]:
        raise ValueError(
            f"pca_reconstruct: X_fit and X must be 2-D with the same number of columns, "
            f"got shapes {tuple(X_fit.shape)} and {tuple(X.shape)}"
        )
    limit = min(X_fit.shape)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise ValueError(f"pca_reconstruct: k must be an int in [1, {limit}], got {k!r}")
    mean = X_fit.mean(0)  # (D,)
    _, _, Vh = torch.linalg.svd(X_fit - mean, full_matrices=False)  # Vh: (min(N, D), D)
    V_k = Vh[:k].T  # (D, k)
    return (X - mean) @ V_k @ V_k.T + mean  # (M, D)
