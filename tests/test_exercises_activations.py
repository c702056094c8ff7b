"""The checks of notebook 01: every correct form passes, look-alikes are rejected with an explanation, nothing raises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils.activations import sigmoid
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.activations import (
    check_elu,
    check_leaky_relu_init_std,
    check_predict_ratio,
    check_softplus,
    check_softplus_derivative,
    measure_mismatch,
    mismatch_theory,
)


def not_started(*args, **kwargs):
    raise NotImplementedError()


# ---------------------------------------------------------------- softplus
@pytest.mark.parametrize(
    "answer",
    [
        lambda x: torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs())),
        F.softplus,
        lambda x: torch.logaddexp(x, torch.zeros_like(x)),  # another correct form: log(e^0 + e^x)
        lambda x: torch.where(x > 0, x + torch.log1p(torch.exp(-x)), torch.log1p(torch.exp(x))),
    ],
)
def test_softplus_accepts_every_stable_form(answer):
    assert check_softplus(answer).status == CORRECT


def test_softplus_rejects_look_alikes():
    naive = check_softplus(lambda x: torch.log(1 + torch.exp(x)))  # right for small x, inf at x = 100
    assert naive.status == INCORRECT and "Case 4" in naive.message
    relu = check_softplus(lambda x: torch.clamp(x, min=0))  # right for large |x| only
    assert relu.status == INCORRECT
    assert check_softplus(not_started).status == NOT_ATTEMPTED


@pytest.mark.parametrize(
    "answer",
    [sigmoid, torch.sigmoid, lambda x: 1 / (1 + torch.exp(-x)), lambda x: torch.exp(-F.softplus(-x))],
)
def test_softplus_derivative_accepts_every_correct_form(answer):
    assert check_softplus_derivative(answer).status == CORRECT


def test_softplus_derivative_rejects_look_alikes():
    assert check_softplus_derivative(torch.exp).status == INCORRECT  # forgot the chain rule's denominator
    naive = check_softplus_derivative(lambda x: torch.exp(x) / (1 + torch.exp(x)))  # nan at x = 100
    assert naive.status == INCORRECT and "Case 4" in naive.message
    assert check_softplus_derivative(lambda x: sigmoid(x) * (1 - sigmoid(x))).status == INCORRECT  # sigmoid'
    assert check_softplus_derivative(not_started).status == NOT_ATTEMPTED


# ---------------------------------------------------------------- initialisation for a leaky ReLU
@pytest.mark.parametrize(
    "answer",
    [
        lambda n, a: math.sqrt(2 / ((1 + a**2) * n)),
        lambda n, a: torch.tensor(2 / ((1 + a * a) * n)).sqrt(),  # a 0-d tensor
        lambda n, a: np.sqrt(2.0 / (n + n * a**2)),  # a NumPy number, rearranged
        lambda n, a: (2 / (1 + a**2)) ** 0.5 / n**0.5,  # the gain over sqrt(fan_in)
    ],
)
def test_leaky_relu_init_std_accepts_every_correct_form(answer):
    result = check_leaky_relu_init_std(answer)
    assert result.status == CORRECT, str(result)


@pytest.mark.parametrize(
    "answer,why",
    [
        (lambda n, a: math.sqrt(2 / n), "He's std, blind to the slope"),
        (lambda n, a: math.sqrt(2 / ((1 + a) * n)), "the slope not squared"),
        (lambda n, a: 2 / ((1 + a**2) * n), "a variance for a standard deviation"),
        (lambda n, a: math.sqrt(1 / ((1 + a**2) * n)), "half the variance"),
        (lambda n, a: math.sqrt(2 / (n + n)), "Xavier's std"),
    ],
)
def test_leaky_relu_init_std_rejects_look_alikes(answer, why):
    result = check_leaky_relu_init_std(answer)
    assert result.status == INCORRECT, why
    assert "case" in "\n".join(result.details)


def test_leaky_relu_init_std_rules_out_the_library():
    via_gain = check_leaky_relu_init_std(lambda n, a: torch.nn.init.calculate_gain("leaky_relu", a) / math.sqrt(n))
    assert via_gain.status == INCORRECT and "calculate_gain" in via_gain.message
    from torch.nn.init import calculate_gain  # an alias is caught too: the check looks at what runs

    aliased = check_leaky_relu_init_std(lambda n, a: calculate_gain("leaky_relu", a) / math.sqrt(n))
    assert aliased.status == INCORRECT and "calculate_gain" in aliased.message

    def via_kaiming(n, a):
        w = torch.empty(1000, n)
        torch.nn.init.kaiming_normal_(w, a=a, nonlinearity="leaky_relu")
        return w.std()

    assert check_leaky_relu_init_std(via_kaiming).status == INCORRECT


def test_leaky_relu_init_std_never_raises():
    assert check_leaky_relu_init_std(not_started).status == NOT_ATTEMPTED
    assert check_leaky_relu_init_std(lambda n, a: 1 / 0).status == INCORRECT
    assert check_leaky_relu_init_std(lambda n, a: "0.1").status == INCORRECT
    assert check_leaky_relu_init_std(0.17).status == INCORRECT  # a number, not a function


# ---------------------------------------------------------------- the prediction
@pytest.mark.parametrize(
    "answer",
    [
        lambda d, a: (1 + a**2) ** ((d - 1) / 2),
        lambda d, a: math.sqrt(1 + a * a) ** (d - 1),
        lambda d, a: torch.tensor(1 + a**2, dtype=torch.float64) ** ((d - 1) / 2),  # a 0-d tensor
        lambda d, a: np.exp((d - 1) / 2 * np.log1p(a**2)),  # a NumPy number
    ],
)
def test_predict_ratio_accepts_every_correct_form(answer):
    result = check_predict_ratio(answer)
    assert result.status == CORRECT, str(result)
    assert "measured on three seeds" in result.message


@pytest.mark.parametrize(
    "answer,why",
    [
        (lambda d, a: (1 + a**2) ** (d / 2), "depth factors instead of depth - 1"),
        (lambda d, a: (1 + a**2) ** (d - 1), "a ratio of mean squares, not of norms"),
        (lambda d, a: (1 + a) ** ((d - 1) / 2), "the slope not squared"),
        (lambda d, a: 1.0, "He's promise, which holds only for a = 0"),
    ],
)
def test_predict_ratio_rejects_look_alikes(answer, why):
    assert check_predict_ratio(answer).status == INCORRECT, why


def test_predict_ratio_never_raises_and_the_theory_holds():
    assert check_predict_ratio(not_started).status == NOT_ATTEMPTED
    assert check_predict_ratio(lambda d, a: None).status == INCORRECT
    theory = mismatch_theory()
    assert theory == pytest.approx(1.25**9.5)
    assert all(abs(math.log(m / theory)) < math.log(1.25) for m in measure_mismatch())  # within 25%


# ---------------------------------------------------------------- kept for old copies
def test_elu_check_still_works():
    assert check_elu(lambda x, alpha=1.0: F.elu(x, alpha)).status == CORRECT
    assert check_elu(lambda x, alpha=1.0: F.elu(x)).status == INCORRECT  # ignores alpha
    assert check_elu(not_started).status == NOT_ATTEMPTED
