"""The practice check of notebook 00: every correct form passes, look-alikes are rejected, nothing raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.start_here import check_mean_squared_error


@pytest.mark.parametrize(
    "answer",
    [
        lambda p, t: ((p - t) ** 2).mean(),
        F.mse_loss,
        lambda p, t: ((p - t) ** 2).sum() / p.numel(),
        lambda p, t: ((p - t) ** 2).mean().item(),  # a Python float
        lambda p, t: np.mean((p - t).numpy() ** 2),  # a NumPy number
    ],
)
def test_mean_squared_error_accepts_every_correct_form(answer):
    assert check_mean_squared_error(answer).status == CORRECT


@pytest.mark.parametrize(
    "answer, why",
    [
        (lambda p, t: ((p - t) ** 2).sum(), "a sum for a mean"),
        (lambda p, t: (p - t).abs().mean(), "absolute instead of squared differences"),
        (lambda p, t: (p - t).mean() ** 2, "the square of the mean difference"),
        (lambda p, t: ((p - t) ** 2).mean().sqrt(), "the root of the mean square"),
        (lambda p, t: ((p - t) ** 2).mean(dim=-1), "a mean over the last dimension only"),
    ],
)
def test_mean_squared_error_rejects_look_alikes(answer, why):
    result = check_mean_squared_error(answer)
    assert result.status == INCORRECT, why
    assert ".mean()" not in str(result), "the hint must not hand over the code"


def test_mean_squared_error_never_raises():
    def not_started(p, t):
        raise NotImplementedError()

    assert check_mean_squared_error(not_started).status == NOT_ATTEMPTED
    assert check_mean_squared_error(lambda p, t: p @ t @ t).status == INCORRECT  # raises inside: explained
    assert check_mean_squared_error(torch.zeros(3)).status == INCORRECT  # not a function
