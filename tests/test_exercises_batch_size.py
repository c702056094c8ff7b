"""The checks of notebook 03: right answers in every form pass, look-alikes are caught and explained, nothing raises."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.batching import TinyTanhMLP, gradient_noise_scale
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.data import make_toy_2d
from course_utils.exercises.batch_size import (
    check_minibatch_mean_variance,
    check_noise_scale_from_norms,
    check_scaled_lr,
    check_steps_per_epoch,
)


def _not_implemented(*args):
    raise NotImplementedError()


def _crash(*args):
    raise KeyError("oops")


# ---------------------------------------------------------------- steps per epoch


def test_steps_per_epoch_forms():
    assert check_steps_per_epoch(lambda n, b: -(-n // b)).status == CORRECT
    assert check_steps_per_epoch(lambda n, b: math.ceil(n / b)).status == CORRECT
    assert check_steps_per_epoch(lambda n, b: (n + b - 1) // b).status == CORRECT
    wrong = check_steps_per_epoch(lambda n, b: n // b)  # drops the last, smaller batch
    assert wrong.status == INCORRECT and "expected 10" in str(wrong)


# ---------------------------------------------------------------- exercise 1: the finite-population correction


def fpc_population(values, batch_size):
    n = len(values)
    return values.var(unbiased=False).item() / batch_size * (n - batch_size) / (n - 1)


def fpc_cochran_tensor(values, batch_size):  # S^2 / B * (1 - B / N), S^2 the N - 1 variance; a 0-d tensor
    return values.var() / batch_size * (1 - batch_size / len(values))


def fpc_by_indicators(values, batch_size):  # summed from the covariance of inclusion indicators
    n, b = len(values), batch_size
    centred = values - values.mean()
    p = b / n
    cov = -p * (1 - p) / (n - 1)
    total = p * (1 - p) * (centred**2).sum() + cov * (centred.sum() ** 2 - (centred**2).sum())
    return float(total / b**2)


@pytest.mark.parametrize("answer", [fpc_population, fpc_cochran_tensor, fpc_by_indicators])
def test_variance_check_accepts_every_correct_form(answer):
    assert check_minibatch_mean_variance(answer).status == CORRECT


@pytest.mark.parametrize(
    "look_alike",
    [
        lambda v, b: v.var(unbiased=False).item() / b,  # with replacement: no correction
        lambda v, b: v.var().item() / b * (len(v) - b) / (len(v) - 1),  # the N - 1 variance in the population law
        lambda v, b: v.var(unbiased=False).item() / b * (len(v) - b) / len(v),  # correction (N - B) / N
        lambda v, b: v.var(unbiased=False).item() * b * (len(v) - b) / (len(v) - 1),  # the sum's variance, or B for 1/B
        lambda v, b: v.var(unbiased=False).item() * b,  # the variance of a sum of B independent draws
        lambda v, b: (v.var(unbiased=False) / b * (len(v) - b) / (len(v) - 1)).sqrt().item(),  # the std
    ],
    ids=["no-correction", "unbiased-variance", "correction-over-N", "sum-or-B", "sum-with-replacement", "std"],
)
def test_variance_check_rejects_look_alikes(look_alike):
    result = check_minibatch_mean_variance(look_alike)
    assert result.status == INCORRECT and result.hint and "expected" in str(result)


# ---------------------------------------------------------------- exercise 2: B_noise from two batch sizes


def noise_scale(sq_norm_small, b_small, sq_norm_big, b_big):
    trace = (sq_norm_small - sq_norm_big) / (1 / b_small - 1 / b_big)
    return trace / (sq_norm_small - trace / b_small)


def noise_scale_other_form(s1, b1, s2, b2):  # |g|^2 by eliminating tr(Sigma) first; returns a tensor for tensors
    g2 = (b2 * s2 - b1 * s1) / (b2 - b1)
    return (s1 - g2) * b1 / g2


@pytest.fixture(scope="module")
def per_example():
    X, y = make_toy_2d("circles", 64, 0.1, seed=0)
    return TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64).per_example_gradients(X.double(), y)


@pytest.mark.parametrize("answer", [noise_scale, noise_scale_other_form])
def test_noise_scale_check_accepts_every_correct_form(answer, per_example):
    assert check_noise_scale_from_norms(answer).status == CORRECT
    result = check_noise_scale_from_norms(answer, per_example)
    assert result.status == CORRECT
    direct = gradient_noise_scale(per_example)
    assert f"{direct:.3g}" in result.message and "estimates B_noise" in result.message


@pytest.mark.parametrize(
    "look_alike",
    [
        lambda s1, b1, s2, b2: ((s1 - s2) / (b1 - b2)) / (s1 - (s1 - s2) / (b1 - b2) * b1),  # B for 1/B
        lambda s1, b1, s2, b2: 1 / noise_scale(s1, b1, s2, b2),  # |g|^2 / tr(Sigma)
        lambda s1, b1, s2, b2: (s1 - s2) / (1 / b1 - 1 / b2),  # tr(Sigma) alone
        lambda s1, b1, s2, b2: ((s1 - s2) / (1 / b1 - 1 / b2)) / min(s1, s2),  # the big batch's norm taken for |g|^2
    ],
    ids=["B-not-1-over-B", "inverse", "trace-only", "big-batch-as-g"],
)
def test_noise_scale_check_rejects_look_alikes(look_alike):
    result = check_noise_scale_from_norms(look_alike)
    assert result.status == INCORRECT and result.hint


def test_noise_scale_check_explains_a_wrong_answer_on_the_notebook_data_only(per_example):
    calls = []

    def right_on_cases_only(s1, b1, s2, b2):  # correct on the synthetic cases, breaks on the notebook's batch sizes
        calls.append(b1)
        if b1 == 4 and b2 == 64:
            raise ValueError("only small numbers")
        return noise_scale(s1, b1, s2, b2)

    result = check_noise_scale_from_norms(right_on_cases_only, per_example)
    assert result.status == INCORRECT and "ValueError" in str(result)


# ---------------------------------------------------------------- exercise 3: warm-up


def lr_reference(base_lr, base_batch_size, batch_size, step, warmup_steps):
    target = base_lr * batch_size / base_batch_size
    if warmup_steps == 0:
        return target
    return base_lr + (target - base_lr) * min(step / warmup_steps, 1)


def lr_as_tensor(base_lr, base_batch_size, batch_size, step, warmup_steps):  # another form, a 0-d tensor
    target = torch.tensor(base_lr * batch_size / base_batch_size, dtype=torch.float64)
    frac = 1.0 if warmup_steps == 0 else min(step, warmup_steps) / warmup_steps
    return (1 - frac) * base_lr + frac * target


@pytest.mark.parametrize("answer", [lr_reference, lr_as_tensor])
def test_lr_check_accepts_every_correct_form(answer):
    assert check_scaled_lr(answer).status == CORRECT


@pytest.mark.parametrize(
    "look_alike",
    [
        lambda lr, b0, b, s, w: lr * b / b0,  # no warm-up
        lambda lr, b0, b, s, w: lr * b0 / b,  # the rule inverted
        lambda lr, b0, b, s, w: lr * b / b0 * (min(s / w, 1) if w else 1),  # warm-up from 0, not from base_lr
        lambda lr, b0, b, s, w: lr * (b / b0) ** 0.5,  # square-root scaling
    ],
    ids=["no-warmup", "inverted", "warmup-from-zero", "sqrt-rule"],
)
def test_lr_check_rejects_look_alikes(look_alike):
    result = check_scaled_lr(look_alike)
    assert result.status == INCORRECT and result.hint


# ---------------------------------------------------------------- every check: not attempted, crashes, non-functions


@pytest.mark.parametrize(
    "check",
    [check_steps_per_epoch, check_minibatch_mean_variance, check_noise_scale_from_norms, check_scaled_lr],
)
def test_checks_never_raise(check):
    assert check(_not_implemented).status == NOT_ATTEMPTED
    crashed = check(_crash)
    assert crashed.status == INCORRECT and "KeyError" in str(crashed)
    assert check(42).status == INCORRECT  # not a function
