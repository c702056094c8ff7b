"""Checks for notebook 07, Attention Mechanism: a causal mask, a masked softmax, single-head attention."""

from __future__ import annotations

import math

import torch

from course_utils.checks import Case, CheckResult, check_function, compare


def reference_causal_mask(length: int) -> torch.Tensor:
    """(length, length) bool: True where query i may attend to key j, i.e. j <= i."""
    return torch.ones(length, length, dtype=torch.bool).tril()


def reference_masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension using only the entries where `mask` is True; the others get 0."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-head scaled dot-product attention: (softmax(q k^T / sqrt(d)) v, the weights)."""
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ v, weights


def _bool_mask_compare(expected: torch.Tensor, got) -> str | None:
    """Like `compare`, but a 0/1 float or int mask is wrong: it would be added to the scores, not block them."""
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        return (
            f"expected a boolean tensor (dtype torch.bool), got dtype {got.dtype}; a float mask would be "
            f"ADDED to the scores instead of blocking keys (build it with dtype=torch.bool or compare with >=)"
        )
    return compare(expected, got)


def check_causal_mask(causal_mask) -> CheckResult:
    """Check `causal_mask(length)`: a (length, length) bool tensor, True where key j <= query i."""
    cases = [Case((n,)) for n in (4, 1, 2, 7)]
    return check_function(
        "causal_mask",
        causal_mask,
        cases,
        reference=reference_causal_mask,
        compare_fn=_bool_mask_compare,
        hint="Row i is query i and column j is key j; query i may see keys 0..i, so True on and "
        "below the diagonal. torch.tril keeps the lower triangle of a matrix.",
        success="Query i sees keys 0..i and nothing after it.",
    )


def _score_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    scores = torch.randn(4, 5, generator=g, dtype=torch.float64) * 3
    causal = torch.ones(4, 5, dtype=torch.bool).tril()
    some = torch.rand(2, 3, 6, generator=g) > 0.4
    some[..., 0] = True  # every row keeps at least one key
    return [
        Case((scores, torch.ones(4, 5, dtype=torch.bool)), label="(scores (4, 5), mask all True)"),
        Case((scores, causal), label="(scores (4, 5), causal mask (4, 5))"),
        Case(
            (torch.randn(2, 3, 6, generator=g, dtype=torch.float64) * 3, some), label="(scores (2, 3, 6), random mask)"
        ),
        Case(
            (torch.tensor([[1000.0, 999.0, -5.0]], dtype=torch.float64), torch.tensor([[True, True, False]])),
            label="(large scores [[1000, 999, -5]], mask [[True, True, False]])",
        ),
    ]


def check_masked_softmax(masked_softmax) -> CheckResult:
    """Check `masked_softmax(scores, mask)`: softmax over the last dimension, 0 where mask is False."""
    return check_function(
        "masked_softmax",
        masked_softmax,
        _score_cases(),
        reference=reference_masked_softmax,
        atol=1e-8,
        rtol=1e-6,
        hint="Set the blocked scores to -inf (scores.masked_fill(~mask, float('-inf'))) and take "
        "torch.softmax(..., dim=-1): exp(-inf) = 0. Zeroing the weights after the softmax "
        "leaves rows that no longer sum to 1. Subtracting the row maximum (torch.softmax "
        "does) keeps exp from overflowing on large scores.",
        success="Blocked keys get exactly 0 and every row still sums to 1.",
    )


def check_attention(attention) -> CheckResult:
    """Check `attention(q, k, v)` returning `(output, weights)` for one head, against the reference."""
    g = torch.Generator().manual_seed(3)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    cases = [
        Case((rand(3, 4), rand(3, 4), rand(3, 2)), label="(q (3, 4), k (3, 4), v (3, 2))"),
        Case((rand(2, 16), rand(5, 16), rand(5, 3)), label="(q (2, 16), k (5, 16), v (5, 3)): L != S, d = 16"),
        Case((rand(2, 4, 8), rand(2, 6, 8), rand(2, 6, 8)), label="(q (2, 4, 8), k (2, 6, 8), v (2, 6, 8)): a batch"),
    ]
    return check_function(
        "attention",
        attention,
        cases,
        reference=reference_attention,
        atol=1e-8,
        rtol=1e-6,
        hint="scores = q @ k.transpose(-2, -1) / math.sqrt(d) with d = q.shape[-1]; "
        "weights = torch.softmax(scores, dim=-1) (over the keys, the LAST dimension); "
        "return weights @ v, weights. transpose(-2, -1), not .T, keeps batch dimensions.",
        success="It equals softmax(q kᵀ / √d) v, batched too.",
    )
