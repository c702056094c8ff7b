"""Batch normalisation written from scratch, with the same behaviour as `torch.nn.BatchNorm1d`.

In training mode each channel is normalised with the mean and (biased) variance of the current
batch, and running averages of those statistics are updated on the side. In eval mode the
running averages are used instead, so an example's output no longer depends on its batch.

    y = (x - mean) / sqrt(var + eps) * weight + bias

Only plain tensor operations are used; autograd differentiates them, and the tests compare
values and gradients with PyTorch's fused kernel.
"""

from __future__ import annotations

import math

import torch
from torch import nn


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
        # Statistics are taken over every dimension except the channel one.
        dims = (0,) if x.dim() == 2 else (0, 2)
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # broadcasts a (C,) vector against x
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.numel() // self.num_features  # values per channel: N, or N * L
            if n < 2:  # one value has no spread: x - mean would be 0 for every input
                raise ValueError(
                    f"BatchNorm1d: expected more than 1 value per channel when using batch statistics "
                    f"(training mode), got input of shape {tuple(x.shape)}; use a batch of at least 2 "
                    f"or call model.eval() to use the running statistics"
                )
            mean = x.mean(dim=dims)  # (C,)
            var = ((x - mean.reshape(shape)) ** 2).mean(dim=dims)  # (C,), biased: divides by n
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var  # (C,), (C,)
        x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + self.eps)  # same shape as x
        if self.affine:
            return x_hat * self.weight.reshape(shape) + self.bias.reshape(shape)
        return x_hat

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
        self.num_batches_tracked += 1
        # momentum=None: factor 1/k after k batches gives the plain average of all batches seen.
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # The running variance estimates the population variance, so it uses the unbiased
        # batch estimate (divide by n - 1), as PyTorch does; normalising above uses the biased one.
        unbiased_var = var * (n / (n - 1))
        self.running_mean.mul_(1 - factor).add_(factor * mean.detach())
        self.running_var.mul_(1 - factor).add_(factor * unbiased_var.detach())

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )
