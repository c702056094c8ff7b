"""Activation functions and their derivatives, written out by hand, beside PyTorch's own; and initialisation.

Notebook 01 teaches two blocks of this file in editable cells (a test keeps them identical):
the seven activations with their derivatives (plain tensor maths, no autograd), and a deep
network's backward pass written by hand, with the initialisation schemes that keep it healthy.
`ACTIVATIONS` pairs each activation with PyTorch's module for it, so a notebook can compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

# ---------------------------------------------------------------- the activations (notebook 01, first mechanism cell)
LEAKY_SLOPE = 0.01  # PyTorch's default negative slope for LeakyReLU


def relu(x):
    return torch.clamp(x, min=0)


def relu_derivative(x):
    return (x > 0).to(x.dtype)  # PyTorch's convention: slope 0 at x = 0


def leaky_relu(x):
    return torch.where(x > 0, x, LEAKY_SLOPE * x)


def leaky_relu_derivative(x):
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, LEAKY_SLOPE))


def sigmoid(x):
    e = torch.exp(-x.abs())  # exp of a number <= 0: never overflows
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))  # the same function, rearranged for x < 0


def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x):
    return 2 * sigmoid(2 * x) - 1  # tanh is a sigmoid, stretched and shifted


def tanh_derivative(x):
    return 1 - tanh(x) ** 2


def normal_cdf(x):  # Phi(x), the standard normal's cumulative distribution
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def normal_pdf(x):  # phi(x), its density
    return torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


def gelu(x):
    return x * normal_cdf(x)


def gelu_derivative(x):
    return normal_cdf(x) + x * normal_pdf(x)  # product rule


def silu(x):
    return x * sigmoid(x)


def silu_derivative(x):
    s = sigmoid(x)
    return s * (1 + x * (1 - s))  # product rule, with sigmoid' = s (1 - s)


def identity(x):
    return x.clone()


def identity_derivative(x):
    return torch.ones_like(x)


# ---------------------------------------------------------------- backward through depth (notebook 01, second mechanism cell)
INIT_STD = {  # the standard deviation of a layer's weights, from its fan-in and fan-out
    "default": lambda fan_in, fan_out: 1 / math.sqrt(3 * fan_in),  # PyTorch's nn.Linear: uniform(+-1/sqrt(fan_in))
    "xavier": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),  # Glorot & Bengio (2010)
    "he": lambda fan_in, fan_out: math.sqrt(2 / fan_in),  # He et al. (2015): ReLU keeps half the signal
}


def backward_signal_norms(x, weights, f, df, grad_out):
    """The gradient's norm at every layer of the deep network h = f(h @ W.T), backpropagated by hand.

    x: (n, width) inputs; weights: one (width, width) matrix per layer; f, df: the activation and its
    derivative; grad_out: (n, width), the loss's gradient with respect to the last layer's output.
    Returns a tensor of shape (len(weights),): entry l is ||dL/dz_l||, where z_l = h @ W_l.T is layer
    l's pre-activation (l = 0 nearest the input). The weights' gradient is dL/dW_l = (dL/dz_l).T @ h.
    """
    pre_activations, h = [], x
    for W in weights:  # forward, keeping every z for the backward pass
        z = h @ W.T  # (n, width)
        pre_activations.append(z)
        h = f(z)
    norms, g = [], grad_out  # g: dL/dh, the gradient arriving at a layer's output
    for W, z in zip(reversed(weights), reversed(pre_activations)):
        delta = g * df(z)  # dL/dz = diag(f'(z)) dL/dh: the slope's factor
        norms.append(delta.norm())
        g = delta @ W  # dL/dh of the layer below = W.T dL/dz: the weights' factor
    return torch.stack(norms[::-1])


# ---------------------------------------------------------------- the table the course uses
@dataclass(frozen=True)
class Activation:
    """An activation function, its derivative, and PyTorch's module for it."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    df: Callable[[torch.Tensor], torch.Tensor]
    torch_module: Callable[[], nn.Module]
    formula: str  # LaTeX, for plot titles and tables


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", relu, relu_derivative, nn.ReLU, r"\max(0, x)"),
    "leaky_relu": Activation(
        "leaky_relu", leaky_relu, leaky_relu_derivative, lambda: nn.LeakyReLU(LEAKY_SLOPE), r"\max(0.01x, x)"
    ),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative, nn.Sigmoid, r"1 / (1 + e^{-x})"),
    "tanh": Activation("tanh", tanh, tanh_derivative, nn.Tanh, r"\tanh(x)"),
    "gelu": Activation("gelu", gelu, gelu_derivative, nn.GELU, r"x\,\Phi(x)"),
    "silu": Activation("silu", silu, silu_derivative, nn.SiLU, r"x\,\sigma(x)"),
    "identity": Activation("identity", identity, identity_derivative, nn.Identity, r"x"),
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)
INIT_SCHEMES = tuple(INIT_STD)


def get_activation(name: str) -> Activation:
    """The `Activation` called `name` (one of `ACTIVATION_NAMES`)."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATION_NAMES}, got {name!r}")
    return ACTIVATIONS[name]


def init_std(scheme: str, fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """`gain` times the weight standard deviation of `scheme` (one of `INIT_SCHEMES`) for a layer.

    Args:
        scheme: "default" (PyTorch's nn.Linear), "xavier" (Glorot) or "he" (Kaiming).
        fan_in, fan_out: the layer's input and output widths (positive ints).
        gain: a multiplier (> 0), to make the weights deliberately too small or too large.
    """
    if not isinstance(scheme, str) or scheme not in INIT_STD:
        raise ValueError(f"init_std: scheme must be one of {INIT_SCHEMES}, got {scheme!r}")
    for pname, value in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"init_std: {pname} must be a positive int, got {value!r}")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
        raise ValueError(f"init_std: gain must be a number > 0, got {gain!r}")
    return gain * INIT_STD[scheme](fan_in, fan_out)
