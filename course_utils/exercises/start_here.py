"""Checks for the practice exercise of notebook 00, Start here."""

from __future__ import annotations

import torch

from course_utils.checks import Case, CheckResult, check_function


def check_mean_squared_error(mean_squared_error) -> CheckResult:
    """`mean_squared_error(prediction, target)`: the mean of the squared differences."""
    g = torch.Generator().manual_seed(0)
    cases = [
        Case((torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0]))),
        Case((torch.tensor([0.0, 0.0]), torch.tensor([1.0, 3.0]))),
        Case((torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g))),
    ]
    return check_function(
        "mean_squared_error",
        mean_squared_error,
        cases,
        # a Python number as the expected value: a 0-d tensor, a float or a NumPy number are all accepted
        reference=lambda p, t: torch.nn.functional.mse_loss(p, t).item(),
        hint="A mean, not a sum: square each difference, then average over every entry, "
        "MSE = (1/n) * sum of (prediction - target)^2.",
        success="It matches torch.nn.functional.mse_loss.",
    )
