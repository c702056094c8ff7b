"""Checks for notebook 07, Attention Mechanism: left padding with a causal mask, a relative-position bias
(ALiBi), and the backward pass of attention derived by hand.

Each check accepts every correct form of an answer (-inf or a large negative number for a blocked
score, any shape that broadcasts, a tuple or a list) and explains the wrong answers that look right:
a mask applied after the softmax, a bias with the wrong sign, a gradient without the softmax's
correction term or with the wrong scale, a gradient taken with autograd.
"""

from __future__ import annotations

import contextlib
import math
import sys
from unittest import mock

import torch

from course_utils.checks import INCORRECT, Case, CheckResult, check_function, compare
from course_utils.layers.attention import scaled_dot_product_attention


# ---------------------------------------------------------------- exercise 1: left padding + causal
def reference_padded_causal_attention(q, k, v, lengths):
    """Causal attention where sequence b's first T - lengths[b] positions are padding (left padding)."""
    length = q.shape[-2]
    positions = torch.arange(length)
    real_key = positions[None, :] >= (length - lengths)[:, None]  # (B, S): True for the real tokens
    causal = positions[None, :] <= positions[:, None]  # (L, S): key j <= query i
    allowed = real_key[:, None, :] & causal[None]  # (B, L, S)
    return scaled_dot_product_attention(q, k, v, mask=allowed)


def _padding_cases() -> list[Case]:
    g = torch.Generator().manual_seed(11)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case((rand(2, 5, 4), rand(2, 5, 4), rand(2, 5, 3), torch.tensor([5, 5])), label="lengths [5, 5]: no padding"),
        Case((rand(3, 6, 4), rand(3, 6, 4), rand(3, 6, 2), torch.tensor([6, 4, 1])), label="T = 6, lengths [6, 4, 1]"),
        Case((rand(2, 7, 8), rand(2, 7, 8), rand(2, 7, 8), torch.tensor([3, 7])), label="T = 7, d = 8, lengths [3, 7]"),
    ]


def _padding_compare(lengths_by_case):
    """Compare only the rows of real queries; padding rows must merely be finite."""
    calls = iter(lengths_by_case)

    def compare_fn(expected, got) -> str | None:
        lengths = next(calls)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (output, weights), got {type(got).__name__}"
        out, weights = got
        for what, e, g in (("weights", expected[1], weights), ("output", expected[0], out)):
            if not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(e.shape):
                return compare(e, g, where=what)
            if not bool(torch.isfinite(g).all()):
                return (
                    f"{what} contain NaN or inf: a padding query whose keys are all blocked gives softmax of "
                    f"all -inf = 0/0; a NaN there spreads through the next layer"
                )
        real_query = torch.arange(expected[1].shape[-2])[None, :] >= (expected[1].shape[-2] - lengths)[:, None]
        w_e, w_g = expected[1][real_query], weights[real_query]  # (number of real queries, S)
        sums = w_g.sum(-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-6):
            return (
                f"the weights of a real query sum to {sums.min().item():.3f} to {sums.max().item():.3f}, not 1: "
                f"blocked keys must get their zero before the softmax (score -inf), not after it"
            )
        problem = compare(w_e, w_g, atol=1e-8, rtol=1e-6, where="the rows of the real queries")
        if problem:
            visible_pad = bool(((w_g > 1e-6) & (w_e == 0)).any())
            return problem + (
                "; some real query still gives weight to a key it must not see (a padding key, or a later one)"
                if visible_pad
                else ""
            )
        return compare(expected[0][real_query], out[real_query], atol=1e-8, rtol=1e-6, where="the real queries' output")

    return compare_fn


def check_padded_causal_attention(padded_causal_attention) -> CheckResult:
    """Check `padded_causal_attention(q, k, v, lengths)` -> (output, weights) with left padding and a causal mask."""
    cases = _padding_cases()
    lengths = [case.args[3] for case in cases]
    return check_function(
        "padded_causal_attention",
        padded_causal_attention,
        cases,
        reference=reference_padded_causal_attention,
        compare_fn=_padding_compare(lengths),
        hint="Build a boolean (B, T, T) 'may attend' mask: key j is real when j >= T - lengths[b], and "
        "visible to query i when j <= i; combine the two with &. Block the scores with -inf (or -1e9) "
        "before the softmax, and keep the rows that have nothing to see finite.",
        success="Real queries see only earlier real tokens, and nothing turns into NaN.",
    )


# ---------------------------------------------------------------- exercise 2: ALiBi
def reference_alibi_bias(length: int, slope: float) -> torch.Tensor:
    """(length, length) additive bias: -slope * (i - j) for keys j <= i, -inf for later keys."""
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    return (-slope * (i - j).double()).masked_fill(j > i, float("-inf"))


def _alibi_compare(expected, got) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if got.dtype == torch.bool or not got.is_floating_point():
        return (
            f"expected a floating-point tensor of biases to add to the scores, got dtype {got.dtype}; "
            "a boolean mask can block keys, but it cannot make far keys count less"
        )
    while got.dim() > 2 and got.shape[0] == 1:  # (1, T, T), (1, 1, T, T): ready for a batch of heads, also right
        got = got[0]
    try:
        got = got.double().expand(expected.shape)
    except RuntimeError:
        return f"expected shape {tuple(expected.shape)} (or one that broadcasts to it), got {tuple(got.shape)}"
    future = torch.isneginf(expected)
    if bool((got[future] > -1e8).any()):
        return (
            "a key after the query gets a bias above -1e8: the model could look at the future; block it "
            "with -inf (or a large negative number such as -1e9)"
        )
    if bool(torch.isnan(got).any()):
        return "the bias contains NaN (inf * 0 or -inf + inf somewhere?)"
    problem = compare(expected[~future], got[~future], atol=1e-9, rtol=1e-7, where="the visible keys (j <= i)")
    if problem and bool((got[~future] > 1e-9).any()):
        problem += "; some bias is positive: a far key should count less, so its bias goes down with distance"
    return problem


def check_alibi_bias(alibi_bias) -> CheckResult:
    """Check `alibi_bias(length, slope)`: a (length, length) float bias, -slope * (i - j) for j <= i, -inf after."""
    cases = [Case((5, 0.5)), Case((1, 1.0)), Case((7, 0.25)), Case((4, 2.0))]
    return check_function(
        "alibi_bias",
        alibi_bias,
        cases,
        reference=reference_alibi_bias,
        compare_fn=_alibi_compare,
        hint="With i the query's position (rows) and j the key's (columns), the distance back is i - j. "
        "The bias is -slope * (i - j) where j <= i and -inf where j > i: build i and j with torch.arange, "
        "then masked_fill the future.",
        success="Near keys cost nothing, each step back costs `slope`, the future is blocked.",
    )


# ---------------------------------------------------------------- exercise 3: attention backward
def reference_attention_backward(q, k, v, grad_out):
    """Gradients of sum(grad_out * attention(q, k, v)) with respect to q, k and v, by autograd."""
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return torch.autograd.grad((weights @ v * grad_out).sum(), (q, k, v))


_AUTOGRAD_ENTRY_POINTS = (
    "torch.autograd.grad",
    "torch.autograd.backward",
    "torch.autograd.functional.jacobian",
    "torch.autograd.functional.vjp",
    "torch.func.grad",
    "torch.func.grad_and_value",
    "torch.func.vjp",
    "torch.func.jacrev",
    "torch.func.jacfwd",
)


class _AutogradRuledOut(RuntimeError):
    pass


def _no_autograd(*_args, **_kwargs):
    raise _AutogradRuledOut(
        "autograd is ruled out in this exercise: derive the gradients and write them with matrix products"
    )


# Where torch.autograd.grad and Tensor.backward meet the engine (torch >= 2.3): patched too, so that a
# name bound before the check runs (`from torch.autograd import grad`) cannot slip past the entry points.
_AUTOGRAD_ENGINE = (("torch.autograd", "_engine_run_backward"), ("torch.autograd.graph", "_engine_run_backward"))


@contextlib.contextmanager
def _autograd_ruled_out():
    with contextlib.ExitStack() as stack:
        for target in _AUTOGRAD_ENTRY_POINTS:
            stack.enter_context(mock.patch(target, _no_autograd))
        for module, name in _AUTOGRAD_ENGINE:
            if hasattr(sys.modules.get(module), name):
                stack.enter_context(mock.patch(f"{module}.{name}", _no_autograd))
        yield


def _backward_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)

    def rand(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    return [
        Case((rand(3, 4), rand(3, 4), rand(3, 2), rand(3, 2)), label="q (3, 4), k (3, 4), v (3, 2), grad_out (3, 2)"),
        Case(
            (rand(2, 16, scale=2), rand(5, 16, scale=2), rand(5, 3), rand(2, 3)),
            label="q (2, 16), k (5, 16), v (5, 3), grad_out (2, 3): L != S, d = 16, peaked weights",
        ),
        Case((rand(4, 9), rand(6, 9), rand(6, 6), rand(4, 6)), label="q (4, 9), k (6, 9), v (6, 6), grad_out (4, 6)"),
    ]


def _backward_compare(expected, got) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return f"expected three tensors (grad_q, grad_k, grad_v), got {type(got).__name__}"
    for name, e, g in zip(("grad_q", "grad_k", "grad_v"), expected, got):
        problem = compare(e, g, atol=1e-9, rtol=1e-7, where=name)
        if problem:
            if isinstance(g, torch.Tensor) and g.shape == e.shape and name != "grad_v":
                ratio = (g.double().norm() / e.norm()).item() if e.norm() > 0 else float("nan")
                if abs(ratio - 1) > 1e-3 and torch.allclose(g.double(), e * ratio, atol=1e-9, rtol=1e-6):
                    problem += (
                        f"; it is off by a constant factor ({ratio:.3g}): check the 1/sqrt(d) scale, which "
                        "multiplies the scores and so both grad_q and grad_k"
                    )
                else:
                    problem += (
                        "; through a softmax, a score's gradient is not just P * dP: the weights of a row share "
                        "one sum, so raising one score lowers the others' weights"
                    )
            return problem
    return None


def check_attention_backward(attention_backward) -> CheckResult:
    """Check `attention_backward(q, k, v, grad_out)` -> (grad_q, grad_k, grad_v), written without autograd."""
    if not callable(attention_backward):
        return check_function("attention_backward", attention_backward, _backward_cases())

    def guarded(*args):
        with _autograd_ruled_out(), torch.no_grad():
            return attention_backward(*args)

    result = check_function(
        "attention_backward",
        guarded,
        _backward_cases(),
        reference=reference_attention_backward,
        compare_fn=_backward_compare,
        hint="Go back one step at a time through O = P v, P = softmax(S) (row by row) and S = q kᵀ / √d, "
        "and check each intermediate gradient's shape. The hints above the exercise give the formulas, then the code.",
        success="Your hand-derived gradients equal autograd's, without autograd.",
    )
    if not result.passed and any("autograd is ruled out" in line for line in result.details):
        return CheckResult(
            "attention_backward",
            INCORRECT,
            "Your function called autograd, which this exercise rules out: the point is to derive the gradients.",
            hint=result.hint,
        )
    return result
