"""The checks of notebook 07's exercises: each accepts the reference and other correct forms, and rejects look-alikes."""

from __future__ import annotations

import math

import torch
from torch.autograd import grad as autograd_grad

from course_utils.checks import NOT_ATTEMPTED
from course_utils.exercises.attention import (
    check_alibi_bias,
    check_attention_backward,
    check_padded_causal_attention,
    reference_alibi_bias,
    reference_attention_backward,
    reference_padded_causal_attention,
)
from course_utils.layers import scaled_dot_product_attention


def _text(result) -> str:
    return str(result)


# ---------------------------------------------------------------- exercise 1: left padding + causal
def _allowed(lengths, length):
    positions = torch.arange(length)
    real = positions[None, :] >= (length - lengths)[:, None]  # (B, S)
    return real[:, None, :] & (positions[None, :] <= positions[:, None])[None]  # (B, L, S)


def _attend_with_fill(q, k, v, allowed, fill):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~allowed, fill), dim=-1)
    return weights @ v, weights


def test_padding_accepts_the_reference_and_the_package_function():
    assert check_padded_causal_attention(reference_padded_causal_attention).passed

    def with_package(q, k, v, lengths):
        return scaled_dot_product_attention(q, k, v, mask=_allowed(lengths, q.shape[-2]))

    assert check_padded_causal_attention(with_package).passed


def test_padding_accepts_minus_1e9_and_a_list_and_renormalising_after_the_softmax():
    # -1e9 instead of -inf: padding queries then average over their (blocked) keys, finite; not checked
    def big_negative(q, k, v, lengths):
        return list(_attend_with_fill(q, k, v, _allowed(lengths, q.shape[-2]), -1e9))

    assert check_padded_causal_attention(big_negative).passed

    # zeroing after the softmax and renormalising is the same function, algebraically
    def renormalised(q, k, v, lengths):
        allowed = _allowed(lengths, q.shape[-2])
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) * allowed
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-300)
        return weights @ v, weights

    assert check_padded_causal_attention(renormalised).passed


def test_padding_rejects_a_mask_applied_after_the_softmax():
    def after_softmax(q, k, v, lengths):
        allowed = _allowed(lengths, q.shape[-2])
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) * allowed
        return weights @ v, weights

    result = check_padded_causal_attention(after_softmax)
    assert not result.passed and "before the softmax" in _text(result)


def test_padding_rejects_a_forgotten_padding_mask_a_row_mask_and_nans():
    def causal_only(q, k, v, lengths):
        return scaled_dot_product_attention(q, k, v, causal=True)

    result = check_padded_causal_attention(causal_only)
    assert not result.passed and "must not see" in _text(result)

    def padding_on_rows(q, k, v, lengths):  # blocks padding *queries* instead of padding keys
        length = q.shape[-2]
        real_query = torch.arange(length)[None, :] >= (length - lengths)[:, None]  # (B, L)
        allowed = real_query[:, :, None] & torch.ones(length, length, dtype=torch.bool).tril()
        return scaled_dot_product_attention(q, k, v, mask=allowed)

    assert not check_padded_causal_attention(padding_on_rows).passed

    def naive_minus_inf(q, k, v, lengths):  # fully blocked padding rows become NaN
        return _attend_with_fill(q, k, v, _allowed(lengths, q.shape[-2]), float("-inf"))

    result = check_padded_causal_attention(naive_minus_inf)
    assert not result.passed and "NaN" in _text(result)

    def float_mask(q, k, v, lengths):  # a 0/1 float mask is added to the scores: it blocks nothing
        mask = _allowed(lengths, q.shape[-2]).double()
        return scaled_dot_product_attention(q, k, v, mask=mask)

    assert not check_padded_causal_attention(float_mask).passed


def test_padding_not_attempted():
    def stub(q, k, v, lengths):
        raise NotImplementedError()

    assert check_padded_causal_attention(stub).status == NOT_ATTEMPTED


# ---------------------------------------------------------------- exercise 2: ALiBi
def test_alibi_accepts_the_reference_minus_1e9_float32_and_a_broadcastable_shape():
    assert check_alibi_bias(reference_alibi_bias).passed

    def big_negative_float32(length, slope):
        i, j = torch.arange(length).view(-1, 1), torch.arange(length).view(1, -1)
        bias = (j - i).float() * slope
        return torch.where(j <= i, bias, torch.tensor(-1e9))

    assert check_alibi_bias(big_negative_float32).passed
    assert check_alibi_bias(lambda length, slope: reference_alibi_bias(length, slope)[None]).passed  # (1, T, T)


def test_alibi_rejects_the_wrong_sign_an_unblocked_future_and_a_boolean_mask():
    def wrong_sign(length, slope):  # +slope * (i - j): far keys favoured
        i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
        return (slope * (i - j).double()).masked_fill(j > i, float("-inf"))

    result = check_alibi_bias(wrong_sign)
    assert not result.passed and "positive" in _text(result)

    def symmetric(length, slope):  # -slope * |i - j| everywhere: right for the past, but the future is visible
        i, j = torch.arange(length)[:, None], torch.arange(length)[None, :]
        return -slope * (i - j).abs().double()

    result = check_alibi_bias(symmetric)
    assert not result.passed and "future" in _text(result)

    result = check_alibi_bias(lambda length, slope: torch.ones(length, length, dtype=torch.bool).tril())
    assert not result.passed and "boolean" in _text(result)

    def no_slope(length, slope):
        return reference_alibi_bias(length, 1.0)

    assert not check_alibi_bias(no_slope).passed


# ---------------------------------------------------------------- exercise 3: attention backward
def _by_hand(q, k, v, grad_out, *, scale_power=0.5, correction=True):
    d = q.shape[-1]
    weights = torch.softmax(q @ k.T / d**scale_power, dim=-1)
    grad_v = weights.T @ grad_out
    grad_weights = grad_out @ v.T
    if correction:
        grad_scores = weights * (grad_weights - (weights * grad_weights).sum(-1, keepdim=True))
    else:
        grad_scores = weights * grad_weights
    return grad_scores @ k / d**scale_power, grad_scores.T @ q / d**scale_power, grad_v


def test_backward_accepts_the_derivation_a_list_and_the_jacobian_form():
    assert check_attention_backward(_by_hand).passed
    assert check_attention_backward(lambda *a: list(_by_hand(*a))).passed

    def with_jacobian(q, k, v, grad_out):  # the softmax Jacobian diag(p) - p pᵀ, one row at a time
        d = q.shape[-1]
        weights = torch.softmax(q @ k.T / math.sqrt(d), dim=-1)
        grad_weights = grad_out @ v.T
        rows = [(torch.diag(p) - torch.outer(p, p)) @ g for p, g in zip(weights, grad_weights)]
        grad_scores = torch.stack(rows)
        return grad_scores @ k / math.sqrt(d), grad_scores.T @ q / math.sqrt(d), weights.T @ grad_out

    assert check_attention_backward(with_jacobian).passed


def test_backward_rejects_autograd_a_missing_correction_and_the_wrong_scale():
    result = check_attention_backward(reference_attention_backward)  # autograd inside
    assert not result.passed and "autograd" in _text(result)

    def with_backward(q, k, v, grad_out):
        q, k, v = (t.clone().requires_grad_(True) for t in (q, k, v))
        with torch.enable_grad():
            out = torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), -1) @ v
            (out * grad_out).sum().backward()
        return q.grad, k.grad, v.grad

    assert not check_attention_backward(with_backward).passed

    def with_grad_imported_early(q, k, v, grad_out):  # bound at import, before the check patches torch.autograd.grad
        with torch.enable_grad():
            q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
            out = torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), -1) @ v
            return autograd_grad(out, (q, k, v), grad_out)

    result = check_attention_backward(with_grad_imported_early)
    assert not result.passed and "autograd" in _text(result)

    result = check_attention_backward(lambda *a: _by_hand(*a, correction=False))
    assert not result.passed and "raising one score" in _text(result)

    result = check_attention_backward(lambda *a: _by_hand(*a, scale_power=1.0))  # divides by d, not sqrt(d)
    assert not result.passed


def test_backward_not_attempted_and_not_a_function():
    def stub(q, k, v, grad_out):
        raise NotImplementedError()

    assert check_attention_backward(stub).status == NOT_ATTEMPTED
    assert not check_attention_backward("grad").passed
