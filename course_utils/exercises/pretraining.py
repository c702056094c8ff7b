"""Checks for notebook 08, Pre-training: next-token pairs, masking for masked LM, perplexity."""

from __future__ import annotations

import math

import torch

from course_utils.checks import Case, CheckResult, check_function, compare

MASK_ID = 2  # the id of <mask> in the course's tokenizers


def reference_next_token_pair(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for next-token prediction: tokens[:-1] and tokens[1:] (1-D, length n - 1 each)."""
    return tokens[:-1], tokens[1:]


def reference_mask_tokens(
    tokens: torch.Tensor, mask_id: int, mask_prob: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-LM inputs and targets: chosen positions (u < mask_prob, u uniform from `generator`) become
    `mask_id` in the input; the target is the original token there and -100 everywhere else."""
    chosen = torch.rand(tokens.shape, generator=generator) < mask_prob
    inputs = tokens.masked_fill(chosen, mask_id)
    targets = torch.where(chosen, tokens, torch.full_like(tokens, -100))
    return inputs, targets


def reference_perplexity(loss: float) -> float:
    """Perplexity from a mean cross-entropy in nats: exp(loss)."""
    return math.exp(loss)


def check_next_token_pair(next_token_pair) -> CheckResult:
    """Check `next_token_pair(tokens)` -> (inputs, targets) with targets[t] the token after inputs[t]."""
    cases = [
        Case((torch.tensor([7, 8, 9, 10, 11]),), label="(tokens [7, 8, 9, 10, 11])"),
        Case((torch.tensor([4, 20]),), label="(tokens [4, 20]): the shortest useful sequence"),
        Case((torch.tensor([3, 3, 5, 3, 9, 9, 1]),), label="(tokens [3, 3, 5, 3, 9, 9, 1]): repeats"),
    ]
    return check_function(
        "next_token_pair",
        next_token_pair,
        cases,
        reference=reference_next_token_pair,
        hint="The model reads tokens 0..n-2 and must predict tokens 1..n-1: inputs = tokens[:-1], "
        "targets = tokens[1:]. Both have length n - 1 and targets[t] is the token right after inputs[t].",
        success="Every target is the token that follows its input: nothing to label by hand.",
    )


def _mask_cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    long = torch.randint(6, 180, (40,), generator=g)
    return [
        Case(
            (torch.tensor([10, 11, 12, 13, 14, 15, 16, 17]), MASK_ID, 0.5, torch.Generator().manual_seed(1)),
            label="(tokens [10..17], mask_id=2, mask_prob=0.5, generator seeded 1)",
        ),
        Case((long, MASK_ID, 0.15, torch.Generator().manual_seed(2)), label="(40 tokens, mask_prob=0.15, seed 2)"),
        Case(
            (torch.tensor([[20, 21, 22], [23, 24, 25]]), 99, 0.3, torch.Generator().manual_seed(3)),
            label="(tokens of shape (2, 3), mask_id=99, mask_prob=0.3, seed 3)",
        ),
    ]


def _mask_compare(expected, got) -> str | None:
    """Like `compare`, but token ids must stay integers: cross_entropy reads float targets as probabilities."""
    if isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got):
        for name, e, g in zip(("inputs", "targets"), expected, got):
            if g.dtype != e.dtype:
                return f"{name} have dtype {g.dtype}, expected {e.dtype}: keep token ids as integers (like tokens)"
    return compare(expected, got)


def check_mask_tokens(mask_tokens) -> CheckResult:
    """Check `mask_tokens(tokens, mask_id, mask_prob, generator)` -> (inputs, targets) for masked LM."""
    return check_function(
        "mask_tokens",
        mask_tokens,
        _mask_cases(),
        reference=reference_mask_tokens,
        compare_fn=_mask_compare,
        hint="Draw u = torch.rand(tokens.shape, generator=generator) once; chosen = u < mask_prob. "
        "inputs = tokens.masked_fill(chosen, mask_id); targets = torch.where(chosen, tokens, -100) "
        "(use torch.full_like(tokens, -100) for the -100s). Don't change `tokens` in place, and "
        "don't draw any other random numbers before u, or the positions will differ.",
        success="Masked positions show <mask> in the input and keep the original token as the target; "
        "every other position is ignored by the loss (-100).",
    )


def check_perplexity(perplexity) -> CheckResult:
    """Check `perplexity(loss)`: exp of a mean cross-entropy measured in nats."""
    cases = [
        Case((0.0,), label="(loss 0.0): a model that is always sure and right"),
        Case((1.0,), label="(loss 1.0)"),
        Case((math.log(180),), label="(loss ln 180): a uniform guess over 180 words"),
        Case((0.969,), label="(loss 0.969): the shipped model's held-out loss"),
    ]
    return check_function(
        "perplexity",
        perplexity,
        cases,
        reference=reference_perplexity,
        rtol=1e-6,
        hint="PyTorch's cross-entropy uses the natural logarithm, so the perplexity is math.exp(loss), "
        "not 2 ** loss (that is for losses in bits).",
        success="A uniform guess over V words has perplexity V; lower is better, 1 is perfect.",
    )
