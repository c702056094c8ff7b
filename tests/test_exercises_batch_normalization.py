"""The checks of notebook 05: right answers in every form pass, look-alikes are refused and named, nothing raises."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.batch_normalization import (
    check_fold_batchnorm,
    check_layernorm_backward,
    check_running_mean_after,
)


def _not_attempted(*args, **kwargs):
    raise NotImplementedError()


# --- running_mean_after ----------------------------------------------------------------------------


def running_mean_after(k, momentum, start, batch_mean):
    remembered = (1 - momentum) ** k
    return remembered * start + (1 - remembered) * batch_mean


def test_running_mean_after_accepts_every_correct_form():
    assert check_running_mean_after(running_mean_after).status == CORRECT

    def as_tensor(k, momentum, start, batch_mean):  # a 0-d tensor
        return torch.tensor(batch_mean + (start - batch_mean) * (1 - momentum) ** k)

    def by_simulation(k, momentum, start, batch_mean):  # the update applied k times is also right
        running = start
        for _ in range(k):
            running = (1 - momentum) * running + momentum * batch_mean
        return running

    def as_numpy(k, momentum, start, batch_mean):
        return np.float64(running_mean_after(k, momentum, start, batch_mean))

    for answer in (as_tensor, by_simulation, as_numpy):
        assert check_running_mean_after(answer).status == CORRECT, answer.__name__


def test_running_mean_after_refuses_and_names_look_alikes():
    assert check_running_mean_after(_not_attempted).status == NOT_ATTEMPTED

    def keras(k, momentum, start, batch_mean):
        return momentum**k * start + (1 - momentum**k) * batch_mean

    def one_too_few(k, momentum, start, batch_mean):
        return running_mean_after(k - 1, momentum, start, batch_mean) if k else start

    def exponential(k, momentum, start, batch_mean):
        return math.exp(-momentum * k) * start + (1 - math.exp(-momentum * k)) * batch_mean

    for answer, word in ((keras, "Keras"), (one_too_few, "k - 1"), (exponential, "exp(-m k)")):
        result = check_running_mean_after(answer)
        assert result.status == INCORRECT and word in str(result), (answer.__name__, str(result))
    result = check_running_mean_after(lambda k, momentum, start, batch_mean: momentum * batch_mean)  # one step only
    assert result.status == INCORRECT and "Hint" in str(result)
    result = check_running_mean_after(lambda *args: 1 / 0)
    assert result.status == INCORRECT and "ZeroDivisionError" in str(result)
    assert check_running_mean_after(0.3).status == INCORRECT  # not a function


# --- fold_batchnorm --------------------------------------------------------------------------------


def fold_batchnorm(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):
    scale = gamma / torch.sqrt(running_var + eps)
    return weight * scale[:, None], (bias - running_mean) * scale + beta


def test_fold_batchnorm_accepts_every_correct_form():
    assert check_fold_batchnorm(fold_batchnorm).status == CORRECT

    def with_diag(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):  # a matrix product instead
        scale = torch.diag(gamma * (running_var + eps).rsqrt())
        return scale @ weight, scale @ (bias - running_mean) + beta

    def as_numpy_list(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):  # a list of NumPy arrays
        w, b = fold_batchnorm(weight, bias, running_mean, running_var, gamma, beta, eps)
        return [w.numpy(), b.tolist()]

    def by_modules(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):  # ask the layers themselves
        out_features, in_features = weight.shape
        linear = torch.nn.Linear(in_features, out_features).double()
        bn = torch.nn.BatchNorm1d(out_features, eps=eps).double().eval()
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
            bn.running_mean.copy_(running_mean)
            bn.running_var.copy_(running_var)
            bn.weight.copy_(gamma)
            bn.bias.copy_(beta)
            new_bias = bn(linear(torch.zeros(1, in_features, dtype=weight.dtype)))[0]
            new_weight = (bn(linear(torch.eye(in_features, dtype=weight.dtype))) - new_bias).T
        return new_weight, new_bias

    for answer in (with_diag, as_numpy_list, by_modules):
        assert check_fold_batchnorm(answer).status == CORRECT, answer.__name__


def test_fold_batchnorm_refuses_and_names_look_alikes():
    assert check_fold_batchnorm(_not_attempted).status == NOT_ATTEMPTED

    def no_eps(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):
        scale = gamma / torch.sqrt(running_var)
        return weight * scale[:, None], (bias - running_mean) * scale + beta

    def bias_lost(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):
        scale = gamma / torch.sqrt(running_var + eps)
        return weight * scale[:, None], beta - running_mean * scale

    def by_variance(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):
        scale = gamma / (running_var + eps)
        return weight * scale[:, None], (bias - running_mean) * scale + beta

    def columns(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5):
        scale = gamma / torch.sqrt(running_var + eps)
        return weight * scale, (bias - running_mean) * scale + beta  # broadcasts over the last axis

    for answer, words in (
        (no_eps, "eps is missing"),
        (bias_lost, "own bias"),
        (by_variance, "standard deviation"),
        (columns, "ROW"),
    ):
        result = check_fold_batchnorm(answer)
        assert result.status == INCORRECT and words in str(result), (answer.__name__, str(result))
    result = check_fold_batchnorm(lambda *args, **kwargs: args[0])
    assert result.status == INCORRECT and "pair" in str(result)


# --- layernorm_backward ----------------------------------------------------------------------------


def layernorm_backward(dy, x, gamma, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)
    std = torch.sqrt(((x - mean) ** 2).mean(dim=1, keepdim=True) + eps)
    x_hat = (x - mean) / std
    g = gamma * dy
    return (g - g.mean(dim=1, keepdim=True) - x_hat * (g * x_hat).mean(dim=1, keepdim=True)) / std


def test_layernorm_backward_accepts_every_correct_form():
    assert check_layernorm_backward(layernorm_backward).status == CORRECT

    def with_jacobian_sum(dy, x, gamma, eps=1e-5):  # the same derivation written as a (D, D) Jacobian per example
        n, d = x.shape
        mean = x.mean(1, keepdim=True)
        std = torch.sqrt(x.var(1, unbiased=False, keepdim=True) + eps)  # (N, 1)
        x_hat = (x - mean) / std
        eye = torch.eye(d, dtype=x.dtype)
        jac = (eye - 1 / d - x_hat[:, :, None] * x_hat[:, None, :] / d) / std[:, :, None]  # (N, D, D)
        return torch.einsum("nj,nji->ni", gamma * dy, jac)

    def as_numpy(dy, x, gamma, eps=1e-5):
        return layernorm_backward(dy, x, gamma, eps).numpy()

    for answer in (with_jacobian_sum, as_numpy):
        assert check_layernorm_backward(answer).status == CORRECT, answer.__name__


def test_layernorm_backward_refuses_and_names_look_alikes():
    assert check_layernorm_backward(_not_attempted).status == NOT_ATTEMPTED

    def constants(dy, x, gamma, eps=1e-5):
        return gamma * dy / torch.sqrt(x.var(1, unbiased=False, keepdim=True) + eps)

    def gamma_outside(dy, x, gamma, eps=1e-5):
        return gamma * layernorm_backward(dy, x, torch.ones_like(gamma), eps)

    def batch_axis(dy, x, gamma, eps=1e-5):  # BatchNorm's formula: means over dim 0
        std = torch.sqrt(x.var(0, unbiased=False) + eps)
        x_hat = (x - x.mean(0)) / std
        g = gamma * dy
        return (g - g.mean(0) - x_hat * (g * x_hat).mean(0)) / std

    def unbiased(dy, x, gamma, eps=1e-5):
        mean = x.mean(1, keepdim=True)
        std = torch.sqrt(x.var(1, keepdim=True) + eps)
        x_hat = (x - mean) / std
        g = gamma * dy
        return (g - g.mean(1, keepdim=True) - x_hat * (g * x_hat).mean(1, keepdim=True)) / std

    for answer, words in (
        (constants, "held constant"),
        (gamma_outside, "inside the means"),
        (batch_axis, "dim=0"),
        (unbiased, "unbiased"),
    ):
        result = check_layernorm_backward(answer)
        assert result.status == INCORRECT and words in str(result), (answer.__name__, str(result))


def test_layernorm_backward_refuses_autograd():
    def with_autograd(dy, x, gamma, eps=1e-5):  # the library doing the derivation: ruled out
        x = x.clone().requires_grad_(True)
        y = F.layer_norm(x, (x.shape[1],), weight=gamma, eps=eps)
        (dx,) = torch.autograd.grad(y, x, dy)
        return dx

    def switching_autograd_back_on(dy, x, gamma, eps=1e-5):  # torch.enable_grad() inside the function
        with torch.enable_grad():
            x = x.clone().requires_grad_(True)
            F.layer_norm(x, (x.shape[1],), weight=gamma, eps=eps).backward(dy)
        return x.grad

    def with_torch_func(dy, x, gamma, eps=1e-5):  # a function transform instead of the tape
        return torch.func.vjp(lambda x: F.layer_norm(x, (x.shape[1],), weight=gamma, eps=eps), x)[1](dy)[0]

    for answer in (with_autograd, switching_autograd_back_on, with_torch_func):
        result = check_layernorm_backward(answer)
        assert result.status == INCORRECT and "autograd off" in str(result), (answer.__name__, str(result))
    assert check_layernorm_backward("dx").status == INCORRECT
