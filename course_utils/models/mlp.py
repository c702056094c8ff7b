"""Multi-layer perceptrons with a chosen activation, optionally with batch normalisation."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from course_utils.activations import get_activation


def make_mlp(
    in_features: int, hidden: Sequence[int], out_features: int, activation: str = "relu", batch_norm: bool = False
) -> nn.Sequential:
    """Linear -> [BatchNorm] -> activation, once per hidden width, then a final Linear.

    Args:
        in_features: input size.
        hidden: widths of the hidden layers, e.g. (16, 16); may be empty (a linear model).
        out_features: output size (number of classes for a classifier).
        activation: a name from `course_utils.activations.ACTIVATION_NAMES`.
        batch_norm: insert `torch.nn.BatchNorm1d` after each hidden Linear.
    """
    for pname, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"make_mlp: {pname} must be a positive int, got {value!r}")
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"make_mlp: hidden must be a sequence of positive ints, got {list(hidden)!r}")
    act = get_activation(activation)
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(act.torch_module())
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)
