"""Autoencoders: an encoder squeezes the input into a small code, a decoder rebuilds the input from it.

The lesson first: notebook 06 teaches `make_encoder`, `make_decoder`, `reconstruction_loss`,
`autoencoder_step` and the PCA functions `pca_fit`, `pca_encode`, `pca_decode` in editable cells,
and a test keeps those cells identical to the lines here. They check nothing; the public entry
points below them do: `Autoencoder` (a pair of MLPs around a bottleneck), `train_autoencoder`
(fits one in a few seconds on a CPU, optionally as a denoising autoencoder, fed corrupted inputs
and asked for the clean ones), `reconstruction_error`, and `pca_reconstruct`, the linear
baseline every autoencoder is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.activations import get_activation
from course_utils.repro import single_thread
from course_utils.training import History

OUTPUTS = ("sigmoid", "linear")  # decoder output: pixels in [0, 1], or any real number
NOISE_KINDS = ("gaussian", "masking")


# --- The lesson: notebook 06 shows these lines in its mechanism cells -------------------------


def make_encoder(in_features, hidden, bottleneck, activation):
    # x (N, in_features) -> code z (N, bottleneck), e.g. 64 -> 128 -> 2. Every hidden Linear is followed
    # by the activation (a class such as nn.ReLU, one instance per layer); the last Linear is not, so the
    # code can take any real value.
    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        width = h
    layers.append(nn.Linear(width, bottleneck))
    return nn.Sequential(*layers)


def make_decoder(bottleneck, hidden, out_features, activation, output="sigmoid"):
    # code z (N, bottleneck) -> reconstruction (N, out_features): the encoder's mirror image, e.g. 2 -> 128 -> 64,
    # built by make_encoder itself with the hidden widths reversed.
    layers = list(make_encoder(bottleneck, tuple(reversed(hidden)), out_features, activation))
    if output == "sigmoid":
        # Pixels lie in [0, 1] and a sigmoid's output in (0, 1): no reconstruction can leave the pixels' range.
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def reconstruction_loss(x_hat, x):
    # The squared error averaged over every entry, examples and pixels alike: (1 / (N D)) * sum (x_hat - x)^2.
    return ((x_hat - x) ** 2).mean()


def autoencoder_step(encoder, decoder, optimizer, x_input, x):
    # One gradient step on a batch. The encoder sees x_input: the batch x itself, or a corrupted copy of
    # it for a denoising autoencoder. The target is always the clean x: the input is its own label.
    z = encoder(x_input)  # (B, k): the code
    x_hat = decoder(z)  # (B, D): the reconstruction
    loss = reconstruction_loss(x_hat, x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def pca_fit(X_fit, k):
    # PCA's encoder and decoder come from the singular value decomposition X_fit - mean = U S V^T.
    mean = X_fit.mean(dim=0)  # (D,)
    _, _, Vh = torch.linalg.svd(X_fit - mean, full_matrices=False)  # rows of Vh: directions, by variance
    return mean, Vh[:k].T  # (D,) and V_k (D, k): the top k principal directions as columns


def pca_encode(X, mean, V_k):
    return (X - mean) @ V_k  # (M, k): the code, coordinates along the principal directions


def pca_decode(Z, mean, V_k):
    return Z @ V_k.T + mean  # (M, D): back to pixels, in the k-dimensional plane through the mean


# --- Public entry points: check the arguments, then run the lines above ------------------------


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
        if output not in OUTPUTS:
            raise ValueError(f"Autoencoder: output must be one of {OUTPUTS}, got {output!r}")
        self.in_features, self.hidden, self.bottleneck = in_features, hidden, bottleneck
        module = get_activation(activation).torch_module  # e.g. nn.ReLU: a fresh module per layer
        self.encoder = make_encoder(in_features, hidden, bottleneck, module)
        self.decoder = make_decoder(bottleneck, hidden, in_features, module, output)

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
    step: Callable = autoencoder_step,
) -> tuple[Autoencoder, History]:
    """Fit an `Autoencoder` to `X` with Adam and the mean squared reconstruction error.

    Each batch goes through `step(model.encoder, model.decoder, optimizer, x_input, x)`, the lesson's
    `autoencoder_step` unless another is given (a notebook can pass the version in its own cell, so
    that an edit there changes the training). With `noise > 0` it becomes a denoising autoencoder: each batch is
    corrupted afresh with `add_noise(xb, noise, noise_kind)` and the target is the clean batch.

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
        step: one training step, called as above; returns the batch's loss as a float.

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
    if not callable(step):
        raise TypeError(f"train_autoencoder: step must be a function like autoencoder_step, got {type(step).__name__}")

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
                loss = float(step(model.encoder, model.decoder, optimizer, inputs, xb))
                history.step_loss.append(loss)
                seen = history.examples_seen[-1] if history.examples_seen else 0
                history.examples_seen.append(seen + len(idx))
                total += loss * len(idx)
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
    error = reconstruction_loss(model(inputs), X).item()
    model.train(was_training)
    return error


def pca_reconstruct(X_fit: torch.Tensor, X: torch.Tensor, k: int) -> torch.Tensor:
    """Project `X` onto the top-`k` principal components of `X_fit` and map back: PCA as an autoencoder.

    The encoder is `pca_encode`, `z = (x - mean) @ V_k`, and the decoder `pca_decode`,
    `x_hat = z @ V_k.T + mean`, where the columns of `V_k` (D, k) are the top right-singular
    vectors of the centred `X_fit` (`pca_fit`: an exact SVD, so the result is deterministic).

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
    mean, V_k = pca_fit(X_fit, k)  # (D,), (D, k)
    return pca_decode(pca_encode(X, mean, V_k), mean, V_k)  # (M, D)
