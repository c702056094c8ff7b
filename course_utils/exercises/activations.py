"""Checks for the exercises of notebook 01, Activation Functions."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from course_utils.checks import Case, CheckResult, check_function


def _inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [
        torch.tensor([0.0]),
        torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0]),
        torch.randn(4, 5, generator=g) * 3,
        torch.tensor([-100.0, 100.0]),  # large inputs: exp(100) overflows float32
    ]


def check_softplus(softplus) -> CheckResult:
    """`softplus(x)` = log(1 + exp(x)), elementwise, and stable for large |x|."""
    return check_function(
        "softplus", softplus, [Case((x,)) for x in _inputs()], reference=F.softplus, atol=1e-5,
        hint="log(1 + exp(x)) overflows for large x. Use max(x, 0) + log(1 + exp(-|x|)), which is the same function.",
        success="It matches torch.nn.functional.softplus, large inputs included.")


def check_softplus_derivative(softplus_derivative) -> CheckResult:
    """The derivative of softplus, checked against autograd."""

    def reference(x):
        x = x.clone().requires_grad_(True)
        F.softplus(x).sum().backward()
        return x.grad

    return check_function(
        "softplus_derivative", softplus_derivative, [Case((x,)) for x in _inputs()], reference=reference, atol=1e-5,
        hint="Differentiate log(1 + e^x): the chain rule gives e^x / (1 + e^x). Which activation from this notebook is that?",
        success="It matches the gradient autograd computes.")


def check_elu(elu) -> CheckResult:
    """`elu(x, alpha)`: x for x > 0, alpha * (exp(x) - 1) otherwise."""
    cases = [Case((x,), {"alpha": a}) for x in _inputs()[:3] for a in (1.0, 0.5)]
    return check_function(
        "elu", elu, cases, reference=lambda x, alpha: F.elu(x, alpha=alpha), atol=1e-5,
        hint="torch.where(x > 0, x, alpha * (torch.exp(x) - 1)) picks one formula per element.",
        success="It matches torch.nn.functional.elu for both values of alpha.")
