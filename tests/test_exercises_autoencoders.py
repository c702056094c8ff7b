"""The checks of notebook 06: right answers in every form pass, look-alikes are refused and named, nothing raises."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises import autoencoders as ex
from course_utils.exercises.autoencoders import check_interpolate_codes, check_logit_gradient, check_pca_training_mse
from course_utils.models import pca_reconstruct


def _not_attempted(*args, **kwargs):
    raise NotImplementedError()


def _crashes(*args, **kwargs):
    raise RuntimeError("boom")


# --- Exercise 1: logit_gradient ----------------------------------------------------------------------


def logit_gradient(x_hat, x):
    return 2 * (x_hat - x) * x_hat * (1 - x_hat) / x.numel()


def test_the_reference_is_autograds_gradient():
    torch.manual_seed(0)
    a = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    x = torch.rand(4, 7, dtype=torch.float64)
    (grad,) = torch.autograd.grad(F.mse_loss(torch.sigmoid(a), x), a)
    assert torch.allclose(ex._logit_gradient(torch.sigmoid(a).detach(), x), grad, atol=1e-15)


def test_logit_gradient_accepts_every_correct_form():
    assert check_logit_gradient(logit_gradient).status == CORRECT

    def through_the_logits(x_hat, x):  # sigma'(a) from a = logit(x_hat): the same numbers, another route
        a = torch.log(x_hat / (1 - x_hat))
        return 2 / (x.shape[0] * x.shape[1]) * (torch.sigmoid(a) - x) * torch.sigmoid(a) * torch.sigmoid(-a)

    def as_numpy(x_hat, x):
        return logit_gradient(x_hat, x).numpy()

    def in_float64(x_hat, x):  # a float32 input answered in float64
        return logit_gradient(x_hat.double(), x.double())

    def with_enable_grad(x_hat, x):  # autograd turned back on inside, used honestly: still correct
        with torch.enable_grad():
            a = torch.logit(x_hat).detach().requires_grad_(True)
            (g,) = torch.autograd.grad(((torch.sigmoid(a) - x) ** 2).mean(), a)
        return g

    for answer in (through_the_logits, as_numpy, in_float64, with_enable_grad):
        assert check_logit_gradient(answer).status == CORRECT, answer.__name__


def test_logit_gradient_refuses_and_names_look_alikes():
    lookalikes = {
        "the gradient at the sigmoid's output": lambda x_hat, x: 2 * (x_hat - x) / x.numel(),
        "factor 2": lambda x_hat, x: (x_hat - x) * x_hat * (1 - x_hat) / x.numel(),
        "sum of squared errors": lambda x_hat, x: 2 * (x_hat - x) * x_hat * (1 - x_hat),
        "divides by N only": lambda x_hat, x: 2 * (x_hat - x) * x_hat * (1 - x_hat) / len(x),
        "sign is flipped": lambda x_hat, x: 2 * (x - x_hat) * x_hat * (1 - x_hat) / x.numel(),
        "binary cross-entropy": lambda x_hat, x: (x_hat - x) / x.numel(),
    }
    for words, answer in lookalikes.items():
        result = check_logit_gradient(answer)
        assert result.status == INCORRECT, words
        assert any(words in line for line in result.details), (words, result.details)


def test_logit_gradient_runs_without_autograd_and_explains_failures():
    def uses_autograd(x_hat, x):  # x_hat has no graph: backward fails, and the check says why without raising
        loss = ((x_hat - x) ** 2).mean()
        loss.backward()
        return x_hat.grad

    result = check_logit_gradient(uses_autograd)
    assert result.status == INCORRECT and "raised" in result.message
    assert check_logit_gradient(_not_attempted).status == NOT_ATTEMPTED
    crashed = check_logit_gradient(_crashes)
    assert crashed.status == INCORRECT and "RuntimeError" in crashed.message
    assert check_logit_gradient(42).status == INCORRECT
    wrong_shape = check_logit_gradient(lambda x_hat, x: logit_gradient(x_hat, x).sum(1))
    assert wrong_shape.status == INCORRECT and "shape" in str(wrong_shape)


# --- Exercise 2: pca_training_mse --------------------------------------------------------------------


def pca_training_mse(S, N, D, k):
    return (S[k:] ** 2).sum() / (N * D)


def test_the_formula_is_the_error_pca_reconstruct_measures():
    torch.manual_seed(0)
    X = torch.randn(30, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    S = torch.linalg.svdvals(X - X.mean(0))
    for k in (1, 3, 6):
        measured = F.mse_loss(pca_reconstruct(X, X, k), X).item()
        assert abs(ex._pca_training_mse(S, 30, 6, k) - measured) < 1e-12, k


def test_pca_training_mse_accepts_every_correct_form():
    result = check_pca_training_mse(pca_training_mse)
    assert result.status == CORRECT and "pca_reconstruct measures" in result.message

    def total_minus_kept(S, N, D, k):  # algebraically equal
        return ((S**2).sum() - (S[:k] ** 2).sum()) / N / D

    def as_float(S, N, D, k):
        return float(sum(s**2 for s in S.tolist()[k:]) / (N * D))

    def as_numpy(S, N, D, k):
        return np.sum(S.numpy()[k:] ** 2) / (N * D)

    for answer in (total_minus_kept, as_float, as_numpy):
        assert check_pca_training_mse(answer).status == CORRECT, answer.__name__


def test_pca_training_mse_refuses_and_names_look_alikes():
    lookalikes = {
        "need squaring": lambda S, N, D, k: S[k:].sum() / (N * D),
        "the kept components": lambda S, N, D, k: (S[:k] ** 2).sum() / (N * D),
        "divides by N only": lambda S, N, D, k: (S[k:] ** 2).sum() / N,
        "(N - 1) D": lambda S, N, D, k: (S[k:] ** 2).sum() / ((N - 1) * D),
        "the error starts at S[k]": lambda S, N, D, k: (S[k + 1 :] ** 2).sum() / (N * D),
        "belongs to a kept component": lambda S, N, D, k: (S[k - 1 :] ** 2).sum() / (N * D),
    }
    for words, answer in lookalikes.items():
        result = check_pca_training_mse(answer)
        assert result.status == INCORRECT, words
        assert any(words in line for line in result.details), (words, result.details)
    assert check_pca_training_mse(_not_attempted).status == NOT_ATTEMPTED
    assert check_pca_training_mse(_crashes).status == INCORRECT
    assert check_pca_training_mse(lambda S, N, D, k: S[k:] ** 2 / (N * D)).status == INCORRECT  # not summed


# --- Exercise 3: interpolate_codes --------------------------------------------------------------------


def interpolate(model, x_a, x_b, steps):
    z_a, z_b = model.encode(x_a[None]), model.encode(x_b[None])
    t = torch.linspace(0, 1, steps)[:, None]
    return model.decode((1 - t) * z_a + t * z_b)


def test_interpolate_codes_accepts_every_correct_form():
    assert check_interpolate_codes(interpolate).status == CORRECT

    def one_at_a_time(model, x_a, x_b, steps):  # a loop and a stack, under no_grad, as NumPy
        with torch.no_grad():
            z_a, z_b = model.encode(x_a[None])[0], model.encode(x_b[None])[0]
            rows = [model.decode((z_a + i / (steps - 1) * (z_b - z_a))[None])[0] for i in range(steps)]
        return torch.stack(rows).numpy()

    assert check_interpolate_codes(one_at_a_time).status == CORRECT


def test_interpolate_codes_refuses_and_names_look_alikes():
    def cross_fade(model, x_a, x_b, steps):
        t = torch.linspace(0, 1, steps)[:, None]
        return (1 - t) * x_a + t * x_b

    def fade_reconstructions(model, x_a, x_b, steps):
        t = torch.linspace(0, 1, steps)[:, None]
        return (1 - t) * model(x_a[None]) + t * model(x_b[None])

    def encode_cross_fade(model, x_a, x_b, steps):  # the whole model on mixed inputs
        t = torch.linspace(0, 1, steps)[:, None]
        return model((1 - t) * x_a + t * x_b)

    def backwards(model, x_a, x_b, steps):
        return interpolate(model, x_b, x_a, steps)

    for answer, words in (
        (cross_fade, "mixes the images"),
        (fade_reconstructions, "mixes the reconstructions"),
        (encode_cross_fade, "encodes a cross-fade"),
        (backwards, "from x_b to x_a"),
    ):
        result = check_interpolate_codes(answer)
        assert result.status == INCORRECT, answer.__name__
        assert any(words in line for line in result.details), (words, result.details)

    def wrong_ends(model, x_a, x_b, steps):
        t = torch.linspace(0, 1, steps + 2)[1:-1, None]  # leaves out the end points
        return model.decode((1 - t) * model.encode(x_a[None]) + t * model.encode(x_b[None]))

    assert check_interpolate_codes(wrong_ends).status == INCORRECT
    assert check_interpolate_codes(_not_attempted).status == NOT_ATTEMPTED
    assert check_interpolate_codes(_crashes).status == INCORRECT


def test_checks_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    check_interpolate_codes(interpolate)
    check_logit_gradient(logit_gradient)
    check_pca_training_mse(pca_training_mse)
    assert torch.equal(torch.get_rng_state(), state)
