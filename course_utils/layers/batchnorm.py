"""Batch normalisation written from scratch, with the same behaviour as `torch.nn.BatchNorm1d`.

The lesson (notebook 05) is in four plain functions, the same lines as the notebook's `mechanism`
cells (a test keeps them identical):

- `batch_norm_train`: normalise an (N, C) batch with its own mean and biased variance, then
  scale by gamma and shift by beta;
- `update_running_stats`: the running averages kept on the side (momentum weighs the new batch);
- `batch_norm_eval`: the same affine map with the running statistics, whatever the batch;
- `batch_norm_backward`: the gradient derived by hand, which autograd also finds.

`BatchNorm1d` wraps them as an `nn.Module` with PyTorch's options and the argument checks:
(N, C, L) inputs are handled as (N * L, C), `momentum=None` keeps a plain average, and autograd
differentiates the forward's tensor operations (the tests compare values and gradients with
PyTorch's fused kernel).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def batch_norm_train(x, gamma, beta, eps):
    # x: (N, C); gamma, beta: (C,). Returns y (N, C) and the batch's mean and variance, (C,) each.
    mean = x.mean(dim=0)  # (C,)
    var = ((x - mean) ** 2).mean(dim=0)  # (C,), biased: divides by N
    x_hat = (x - mean) / torch.sqrt(var + eps)  # (N, C): every column has mean 0 and variance 1
    return gamma * x_hat + beta, mean, var


def update_running_stats(running_mean, running_var, mean, var, n, momentum):
    # In place and outside autograd. momentum weighs the NEW batch (PyTorch's convention).
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_(momentum * mean)
        # The running variance estimates the data's variance: unbiased, divide by n - 1, not n.
        running_var.mul_(1 - momentum).add_(momentum * var * n / (n - 1))


def batch_norm_eval(x, running_mean, running_var, gamma, beta, eps):
    # x: (N, C). A fixed affine map per channel: an example's output no longer depends on its batch.
    return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta


def batch_norm_backward(dy, x_hat, gamma, std):
    # dy, x_hat: (N, C); gamma, std = sqrt(var + eps): (C,). Returns dx (N, C), dgamma and dbeta (C,).
    dbeta = dy.sum(dim=0)
    dgamma = (dy * x_hat).sum(dim=0)
    # The batch mean and variance depend on every x_i: their paths take out the mean of dy and
    # dy's component along x_hat.
    dx = gamma / std * (dy - dy.mean(dim=0) - x_hat * (dy * x_hat).mean(dim=0))
    return dx, dgamma, dbeta


class BatchNorm1d(nn.Module):
    """Batch normalisation over (N, C) or (N, C, L) inputs, per channel C, as `nn.BatchNorm1d`."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ):
        """
        Args:
            num_features: C, the number of channels (features) normalised separately.
            eps: added to the variance before the square root, so a constant channel does not
                divide by zero; a number >= 0.
            momentum: weight of the newest batch in the running averages, in [0, 1]:
                `running = (1 - momentum) * running + momentum * batch_stat` (PyTorch's
                convention; Keras calls 1 - momentum its "momentum"). None keeps a cumulative
                average over all batches seen instead.
            affine: learn a per-channel scale `weight` (init 1) and shift `bias` (init 0).
            track_running_stats: keep `running_mean`, `running_var` and `num_batches_tracked`
                and use them in eval mode; if False, batch statistics are used in both modes.
            device, dtype: where and in which precision the parameters and buffers live.
        """
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"BatchNorm1d: num_features must be a positive int, got {num_features!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
            raise ValueError(f"BatchNorm1d: eps must be a finite number >= 0, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1
        ):
            raise ValueError(f"BatchNorm1d: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        factory = {"device": device, "dtype": dtype}
        if self.affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))  # gamma, (C,)
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))  # beta, (C,)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            # Buffers: saved in the state_dict and moved by .to(), but not trained.
            # Same names as PyTorch's, so state dicts load in either direction.
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))  # (C,)
            self.register_buffer("running_var", torch.ones(num_features, **factory))  # (C,)
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Forget the running averages: mean 0, variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset, weight back to 1 and bias to 0."""
        self.reset_running_stats()
        if self.affine:
            with torch.no_grad():
                self.weight.fill_(1.0)
                self.bias.zero_()

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"BatchNorm1d: input must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"BatchNorm1d: input must be a floating-point tensor, got dtype {x.dtype}")
        if x.dim() not in (2, 3):
            raise ValueError(
                f"BatchNorm1d: input must have shape (N, C) or (N, C, L), "
                f"got {x.dim()}-D input of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d: input must have num_features={self.num_features} channels in dim 1, "
                f"got shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise `x` of shape (N, C) or (N, C, L) per channel; returns the same shape."""
        self._check_input(x)
        c = self.num_features
        # (N, C, L): every position of every example is one more value of its channel, so normalise it as (N * L, C).
        flat = x if x.dim() == 2 else x.transpose(1, 2).reshape(-1, c)  # (n, C)
        gamma, beta = (self.weight, self.bias) if self.affine else (x.new_ones(c), x.new_zeros(c))
        if self.training or not self.track_running_stats:
            n = flat.shape[0]  # values per channel: N, or N * L
            if n < 2:  # one value has no spread: x - mean would be 0 for every input
                raise ValueError(
                    f"BatchNorm1d: expected more than 1 value per channel when using batch statistics "
                    f"(training mode), got input of shape {tuple(x.shape)}; use a batch of at least 2 "
                    f"or call model.eval() to use the running statistics"
                )
            y, mean, var = batch_norm_train(flat, gamma, beta, self.eps)
            if self.training and self.track_running_stats:
                self.num_batches_tracked += 1
                # momentum=None: factor 1/k after k batches gives the plain average of all batches seen.
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                update_running_stats(self.running_mean, self.running_var, mean, var, n, factor)
        else:
            y = batch_norm_eval(flat, self.running_mean, self.running_var, gamma, beta, self.eps)
        return y if x.dim() == 2 else y.reshape(x.shape[0], x.shape[2], c).transpose(1, 2).contiguous()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )
