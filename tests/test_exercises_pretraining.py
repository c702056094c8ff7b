"""Notebook 08's exercise checks: each accepts correct answers in other forms and rejects look-alikes."""

import math

import numpy as np
import torch

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises import pretraining as ex


def not_attempted(*args):
    raise NotImplementedError()


# ---------------------------------------------------------------- uniform_loss
def test_uniform_loss_accepts_the_solution_and_other_forms():
    assert ex.check_uniform_loss(lambda V: math.log(V)).status == CORRECT
    assert ex.check_uniform_loss(lambda V: -math.log(1 / V)).status == CORRECT
    assert ex.check_uniform_loss(lambda V: torch.tensor(float(V)).log()).status == CORRECT  # a 0-d tensor
    assert ex.check_uniform_loss(lambda V: np.log(V)).status == CORRECT  # a NumPy float
    # the cross-entropy of all-equal logits, computed the long way
    assert (
        ex.check_uniform_loss(
            lambda V: torch.nn.functional.cross_entropy(torch.zeros(3, V), torch.tensor([0, 1, V - 1]))
        ).status
        == CORRECT
    )


def test_uniform_loss_rejects_look_alikes():
    assert ex.check_uniform_loss(lambda V: math.log2(V)).status == INCORRECT  # bits, not nats
    assert ex.check_uniform_loss(lambda V: math.log10(V)).status == INCORRECT
    assert ex.check_uniform_loss(lambda V: 1 / V).status == INCORRECT  # the probability, not the loss
    assert ex.check_uniform_loss(lambda V: float(V)).status == INCORRECT  # the perplexity, not the loss
    assert ex.check_uniform_loss(lambda V: math.log(V - 1)).status == INCORRECT  # close, but off by one token
    assert ex.check_uniform_loss(not_attempted).status == NOT_ATTEMPTED


# ---------------------------------------------------------------- mask_tokens
def mask_tokens_clone(tokens, mask_id, mask_prob, generator):
    """Another correct form: clone and index, a -100 tensor filled in."""
    u = torch.rand(tokens.shape, generator=generator)
    chosen = u < mask_prob
    inputs = tokens.clone()
    inputs[chosen] = mask_id
    targets = torch.full_like(tokens, -100)
    targets[chosen] = tokens[chosen]
    return inputs, targets


def test_mask_tokens_accepts_the_solution_and_other_forms():
    assert ex.check_mask_tokens(ex.reference_mask_tokens).status == CORRECT
    assert ex.check_mask_tokens(mask_tokens_clone).status == CORRECT


def test_mask_tokens_rejects_look_alikes():
    def in_place(tokens, mask_id, mask_prob, generator):
        chosen = torch.rand(tokens.shape, generator=generator) < mask_prob
        targets = torch.where(chosen, tokens, torch.full_like(tokens, -100))
        tokens[chosen] = mask_id  # changes the caller's tensor
        return tokens, targets

    def targets_everywhere(tokens, mask_id, mask_prob, generator):
        chosen = torch.rand(tokens.shape, generator=generator) < mask_prob
        return tokens.masked_fill(chosen, mask_id), tokens.clone()  # the loss would count unmasked positions

    def float_targets(tokens, mask_id, mask_prob, generator):
        inputs, targets = ex.reference_mask_tokens(tokens, mask_id, mask_prob, generator)
        return inputs, targets.float()

    def inverted(tokens, mask_id, mask_prob, generator):
        chosen = torch.rand(tokens.shape, generator=generator) >= mask_prob  # masks 1 - mask_prob of them
        return tokens.masked_fill(chosen, mask_id), torch.where(chosen, tokens, torch.full_like(tokens, -100))

    for wrong in (in_place, targets_everywhere, float_targets, inverted):
        assert ex.check_mask_tokens(wrong).status == INCORRECT, wrong.__name__
    assert ex.check_mask_tokens(not_attempted).status == NOT_ATTEMPTED


# ---------------------------------------------------------------- unigram_loss
def test_unigram_loss_accepts_the_solution_and_other_forms():
    def with_categorical(counts):
        c = torch.as_tensor(counts, dtype=torch.float64)
        return torch.distributions.Categorical(probs=c / c.sum()).entropy()  # a 0-d tensor

    def with_numpy(counts):
        p = np.asarray(counts, dtype=float)
        p = p / p.sum()
        return -sum(x * math.log(x) for x in p if x > 0)

    def as_log_of_total(counts):  # ln N - (1/N) sum c ln c: the same, rearranged
        c = torch.as_tensor(counts, dtype=torch.float64)
        c = c[c > 0]
        return math.log(c.sum()) - float((c * c.log()).sum() / c.sum())

    for right in (ex.reference_unigram_loss, with_categorical, with_numpy, as_log_of_total):
        assert ex.check_unigram_loss(right).status == CORRECT, right.__name__


def test_unigram_loss_rejects_look_alikes():
    def uniform(counts):  # ln V: ignores the frequencies
        return math.log(len(counts))

    def in_bits(counts):
        return ex.reference_unigram_loss(counts) / math.log(2)

    def unweighted_mean(counts):  # the mean of -ln p over tokens, not weighted by how often each is the target
        c = torch.as_tensor(counts, dtype=torch.float64)
        p = c[c > 0] / c.sum()
        return float(-p.log().mean())

    def zeros_not_skipped(counts):  # 0 ln 0 computed as nan
        c = torch.as_tensor(counts, dtype=torch.float64)
        p = c / c.sum()
        return float(-(p * p.log()).sum())

    def unnormalised(counts):  # counts used as probabilities
        c = torch.as_tensor(counts, dtype=torch.float64)
        c = c[c > 0]
        return float(-(c * c.log()).sum())

    for wrong in (uniform, in_bits, unweighted_mean, zeros_not_skipped, unnormalised):
        assert ex.check_unigram_loss(wrong).status == INCORRECT, wrong.__name__
    assert ex.check_unigram_loss(not_attempted).status == NOT_ATTEMPTED
