"""Checks for notebook 08, Pre-training: the loss of a uniform guess, masking for masked LM, the best loss without context.

Each check accepts every correct form of an answer (a Python float, a NumPy number or a 0-d tensor;
counts as a list or a tensor) and rejects answers that merely look right (a loss in bits for one in
nats, the uniform guess for the frequency-weighted one, a sum for a mean).
"""

from __future__ import annotations

import math

import torch

from course_utils.checks import INCORRECT, Case, CheckResult, check_function, compare

MASK_ID = 2  # the id of <mask> in the course's tokenizers


# ---------------------------------------------------------------------------------------------
# Exercise 1: the loss of a uniform guess
# ---------------------------------------------------------------------------------------------


def reference_uniform_loss(vocab_size: int) -> float:
    """Cross-entropy (nats) of a model that gives each of `vocab_size` tokens probability 1 / V: ln V."""
    return math.log(vocab_size)


def check_uniform_loss(uniform_loss) -> CheckResult:
    """Check `uniform_loss(vocab_size)`: the mean cross-entropy, in nats, of a uniform guess over V tokens."""
    cases = [
        Case((2,), label="(vocab_size=2): a coin flip between two tokens"),
        Case((10,), label="(vocab_size=10)"),
        Case((180,), label="(vocab_size=180): the course's vocabulary"),
        Case((50_257,), label="(vocab_size=50257): GPT-2's vocabulary"),
    ]
    return check_function(
        "uniform_loss",
        uniform_loss,
        cases,
        reference=reference_uniform_loss,
        rtol=1e-6,
        hint="Every position's true next token gets probability 1/V, whatever it is, so every term of the "
        "mean is the same: -log(1/V). PyTorch's cross-entropy uses the natural logarithm (math.log), not log2 "
        "(bits) or log10.",
        success="A uniform guess scores ln V whatever the text is; a model that scores worse than that is "
        "worse than knowing nothing.",
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: masking for masked LM
# ---------------------------------------------------------------------------------------------


def reference_mask_tokens(
    tokens: torch.Tensor, mask_id: int, mask_prob: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-LM inputs and targets: chosen positions (u < mask_prob, u uniform from `generator`) become
    `mask_id` in the input; the target is the original token there and -100 everywhere else."""
    chosen = torch.rand(tokens.shape, generator=generator) < mask_prob
    inputs = tokens.masked_fill(chosen, mask_id)
    targets = torch.where(chosen, tokens, torch.full_like(tokens, -100))
    return inputs, targets


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
    original = torch.tensor([30, 31, 32, 33, 34, 35])
    probe = original.clone()
    try:
        mask_tokens(probe, MASK_ID, 0.9, torch.Generator().manual_seed(4))
    except Exception:  # NotImplementedError and errors are explained by check_function below
        pass
    else:
        if not torch.equal(probe, original):
            return CheckResult(
                "mask_tokens",
                INCORRECT,
                "Your function changed `tokens` in place.",
                ["the caller's tokens must stay as they were: they are the targets' source"],
                "Build the inputs with tokens.masked_fill(...) or tokens.clone(), which return new tensors.",
            )
    return check_function(
        "mask_tokens",
        mask_tokens,
        _mask_cases(),
        reference=reference_mask_tokens,
        compare_fn=_mask_compare,
        hint="Draw u = torch.rand(tokens.shape, generator=generator) once and before anything else; "
        "chosen = u < mask_prob. The inputs are a copy with mask_id where chosen; the targets keep the "
        "token where chosen and hold -100 elsewhere (torch.where with torch.full_like(tokens, -100)).",
        success="Masked positions show <mask> in the input and keep the original token as the target; "
        "every other position is ignored by the loss (-100).",
    )


# ---------------------------------------------------------------------------------------------
# Exercise 3: the best loss without context
# ---------------------------------------------------------------------------------------------


def reference_unigram_loss(counts) -> float:
    """The lowest mean cross-entropy (nats) of a model that predicts the same distribution at every position.

    That distribution is the tokens' frequencies p = counts / sum(counts) (Gibbs' inequality), and the
    loss is their entropy, -sum_i p_i ln p_i, with 0 ln 0 = 0.
    """
    c = torch.as_tensor(counts, dtype=torch.float64)
    p = c[c > 0] / c.sum()
    return float(-(p * p.log()).sum())


def _unigram_cases() -> list[Case]:
    zipf = (1000 / torch.arange(1, 41, dtype=torch.float64)).round().long()  # 40 tokens, counts like Zipf's law
    return [
        Case(([1, 1],), label="(counts [1, 1]): two tokens, equally often"),
        Case(([30, 10],), label="(counts [30, 10])"),
        Case(([5, 0, 5, 10],), label="(counts [5, 0, 5, 10]): a token that never occurs"),
        Case((zipf,), label="(a LongTensor of 40 counts falling like 1/rank)"),
    ]


def check_unigram_loss(unigram_loss) -> CheckResult:
    """Check `unigram_loss(counts)`: the best loss of a context-free next-token model, from token counts."""
    return check_function(
        "unigram_loss",
        unigram_loss,
        _unigram_cases(),
        reference=reference_unigram_loss,
        rtol=1e-6,
        hint="The loss of a fixed guess q is -sum_i p_i ln q_i, with p_i the share of positions whose target "
        "is token i. Which q minimises it? Then evaluate the loss at that q: weight each token's -ln by how "
        "often it is the target, use natural logarithms, and give a token that never occurs no weight "
        "(0 ln 0 = 0, not nan).",
        success="No model that ignores the context can do better than this entropy; every bit of loss below "
        "it was bought by reading the context.",
    )
