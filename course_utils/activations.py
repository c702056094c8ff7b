"""Activation functions and their derivatives, written out by hand, beside PyTorch's own.

Each entry of `ACTIVATIONS` holds `f(x)`, its derivative `df(x)` (both plain tensor maths,
no autograd) and the matching `torch.nn` module, so a notebook can compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

LEAKY_SLOPE = 0.01  # PyTorch's default negative_slope for LeakyReLU


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    # exp(-|x|) never overflows: the two branches are the same function rearranged.
    e = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _tanh(x: torch.Tensor) -> torch.Tensor:
    return 2 * _sigmoid(2 * x) - 1  # tanh(x) = 2 sigmoid(2x) - 1


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _normal_pdf(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Activation:
    """An activation function, its derivative, and PyTorch's module for it."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    df: Callable[[torch.Tensor], torch.Tensor]
    torch_module: Callable[[], nn.Module]
    formula: str  # LaTeX, for plot titles and tables


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", lambda x: torch.clamp(x, min=0), lambda x: (x > 0).to(x.dtype),
                       nn.ReLU, r"\max(0, x)"),
    "leaky_relu": Activation("leaky_relu", lambda x: torch.where(x > 0, x, LEAKY_SLOPE * x),
                             lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE)),
                             lambda: nn.LeakyReLU(LEAKY_SLOPE), r"\max(0.01x, x)"),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
                          nn.Sigmoid, r"1 / (1 + e^{-x})"),
    "tanh": Activation("tanh", _tanh, lambda x: 1 - _tanh(x) ** 2, nn.Tanh, r"\tanh(x)"),
    "gelu": Activation("gelu", lambda x: x * _normal_cdf(x), lambda x: _normal_cdf(x) + x * _normal_pdf(x),
                       nn.GELU, r"x\,\Phi(x)"),
    "silu": Activation("silu", lambda x: x * _sigmoid(x),
                       lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))), nn.SiLU, r"x\,\sigma(x)"),
    "identity": Activation("identity", lambda x: x.clone(), lambda x: torch.ones_like(x), nn.Identity, r"x"),
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)


def get_activation(name: str) -> Activation:
    """The `Activation` called `name` (one of `ACTIVATION_NAMES`)."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, got {name!r}")
    return ACTIVATIONS[name]
