"""Checks for the Batch Normalization notebook's exercises.

- `check_batchnorm_forward(fn)`: `fn(x, gamma, beta, eps=1e-5)`, the training-mode forward pass
  for an (N, C) batch.
- `check_running_update(fn)`: `fn(running_mean, running_var, x, momentum)`, PyTorch's update
  of the running statistics from an (N, C) batch.
- `check_batchnorm_by_hand(answer)`: one normalised value worked out by hand (a number, or a
  function returning it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from course_utils.checks import INCORRECT, Case, CheckResult, attempt, check_function, check_value, compare


def _batch(n: int, c: int, seed: int, scale: float = 2.0, shift: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64) * scale + shift  # (N, C)


def _affine(c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 100)
    gamma = torch.rand(c, generator=g, dtype=torch.float64) + 0.5  # (C,), away from 1 to catch a missing scale
    beta = torch.randn(c, generator=g, dtype=torch.float64)  # (C,)
    return gamma, beta


def _reference_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def check_batchnorm_forward(batchnorm_forward: Callable) -> CheckResult:
    """Check `batchnorm_forward(x, gamma, beta, eps=1e-5)` for x of shape (N, C) in training mode.

    Compared with `torch.nn.functional.batch_norm(..., training=True)` on small batches
    (where the biased and unbiased variance differ clearly), a constant channel (where eps
    matters) and a large eps.
    """
    cases = []
    for n, c, seed, eps in ((4, 3, 0, 1e-5), (8, 5, 1, 1e-5), (3, 2, 2, 0.5)):
        gamma, beta = _affine(c, seed)
        cases.append(Case((_batch(n, c, seed), gamma, beta), {"eps": eps}))
    constant = _batch(5, 3, 3)
    constant[:, 1] = 4.0  # a channel with zero variance: only eps keeps the division finite
    cases.append(Case((constant, *_affine(3, 3)), {"eps": 1e-5}, label="a batch whose channel 1 is constant (4.0)"))
    return check_function(
        "batchnorm_forward",
        batchnorm_forward,
        cases,
        reference=_reference_forward,
        atol=1e-6,
        rtol=1e-5,
        success="It matches torch.nn.functional.batch_norm in training mode.",
        hint="Per channel (dim=0): mean, then the variance dividing by N (the biased one, "
        "x.var(dim=0, unbiased=False)); x_hat = (x - mean) / sqrt(var + eps); return gamma * x_hat + beta.",
    )


def _reference_update(running_mean: torch.Tensor, running_var: torch.Tensor, x: torch.Tensor, momentum: float):
    mean, var = running_mean.clone(), running_var.clone()
    F.batch_norm(x, mean, var, training=True, momentum=momentum)  # updates mean and var in place
    return mean, var


def check_running_update(running_update: Callable) -> CheckResult:
    """Check `running_update(running_mean, running_var, x, momentum)` -> `(new_mean, new_var)`.

    The expected values are what `torch.nn.functional.batch_norm` writes into its running
    buffers: `new = (1 - momentum) * old + momentum * batch_stat`, with the unbiased batch variance.
    """
    cases = []
    for n, c, seed, momentum in ((4, 3, 0, 0.1), (6, 2, 1, 0.5), (3, 4, 2, 1.0)):
        g = torch.Generator().manual_seed(seed + 7)
        old_mean = torch.randn(c, generator=g, dtype=torch.float64)  # (C,)
        old_var = torch.rand(c, generator=g, dtype=torch.float64) + 0.5  # (C,)
        cases.append(Case((old_mean, old_var, _batch(n, c, seed), momentum)))

    def explain(expected: Any, got: Any) -> str | None:
        problem = compare(expected, got, atol=1e-6, rtol=1e-5)
        if problem is None or not isinstance(got, (tuple, list)) or len(got) != 2:
            return problem
        # Point at the likelier of the two classic slips: the biased variance (the mean is then
        # right), or weighting the old value by momentum (Keras's convention; both are then off).
        if compare(expected[0], got[0], atol=1e-6, rtol=1e-5) is None:
            return problem + " (the mean is right; is the variance the unbiased one, dividing by N - 1?)"
        return problem + " (PyTorch weights the NEW batch by momentum: (1 - momentum) * old + momentum * new)"

    return check_function(
        "running_update",
        running_update,
        cases,
        reference=_reference_update,
        compare_fn=explain,
        success="It matches the running buffers that nn.BatchNorm1d keeps.",
        hint="Return (new_mean, new_var): new_mean = (1 - momentum) * running_mean + momentum * x.mean(dim=0), and "
        "the same for the variance with the UNBIASED batch variance x.var(dim=0) (divides by N - 1). "
        "Do not change the inputs in place.",
    )


# The by-hand exercise: one channel, a batch of four values, learned scale and shift.
BY_HAND_BATCH = (2.0, 4.0, 6.0, 12.0)
BY_HAND_GAMMA = 0.5
BY_HAND_BETA = 1.0


def _by_hand_expected(unbiased: bool = False) -> float:
    x = torch.tensor(BY_HAND_BATCH, dtype=torch.float64)
    var = x.var(unbiased=unbiased)
    return (BY_HAND_GAMMA * (x[-1] - x.mean()) / torch.sqrt(var + 1e-5) + BY_HAND_BETA).item()


def check_batchnorm_by_hand(answer: Any) -> CheckResult:
    """Check the output of training-mode batch norm for the value 12 in the batch (2, 4, 6, 12),
    with gamma = 0.5, beta = 1 and eps = 1e-5 (negligible), as a number or a function returning one."""
    name = "batchnorm_by_hand"
    if callable(answer):
        answer, failure = attempt(name, answer)
        if failure is not None:
            return failure
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    result = check_value(
        name,
        answer,
        _by_hand_expected(),
        atol=1e-3,
        rtol=0.0,
        success="That is what nn.BatchNorm1d gives in training mode.",
        hint="mean = (2 + 4 + 6 + 12) / 4; variance = mean of squared deviations (divide by 4, not 3); "
        "x_hat = (12 - mean) / sqrt(variance); output = gamma * x_hat + beta.",
    )
    if result.status == INCORRECT and isinstance(answer, (int, float)):
        if abs(answer - _by_hand_expected(unbiased=True)) < 1e-3:
            result.details.append("You used the unbiased variance (divide by N - 1 = 3); normalising uses N = 4.")
        elif abs(answer - (_by_hand_expected() - BY_HAND_BETA) / BY_HAND_GAMMA) < 1e-3:
            result.details.append("That is x_hat; apply the scale and shift: gamma * x_hat + beta.")
    return result
