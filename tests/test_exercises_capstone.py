"""Checks of notebook 10's exercises: every correct form accepted, the look-alikes rejected and named."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_utils.exercises.capstone import (
    check_accumulation_plan,
    check_causal_attention_flops,
    reference_accumulation_plan,
    reference_causal_attention_flops,
)


def _stub(*args):
    raise NotImplementedError()


# --- causal attention FLOPs ------------------------------------------------------------------


def test_causal_flops_reference_counts_keys_position_by_position():
    # brute force: 12 C t FLOPs per layer for the query at position t, averaged over the window
    for n_layer, n_embd, block in ((1, 1, 1), (2, 64, 32), (3, 5, 7)):
        brute = sum(12 * n_layer * n_embd * t for t in range(1, block + 1)) / block
        assert reference_causal_attention_flops(n_layer, n_embd, block) == brute


def test_causal_flops_accepts_every_correct_form():
    assert check_causal_attention_flops(reference_causal_attention_flops).passed
    assert check_causal_attention_flops(lambda L, C, T: 12 * L * C * (T + 1) / 2).passed  # unsimplified
    assert check_causal_attention_flops(lambda L, C, T: 6 * L * C * T + 6 * L * C).passed  # expanded
    assert check_causal_attention_flops(lambda L, C, T: 6 * L * C * (T + 1)).passed  # an int
    assert check_causal_attention_flops(lambda L, C, T: torch.tensor(6.0 * L * C * (T + 1))).passed  # 0-d tensor
    assert check_causal_attention_flops(lambda L, C, T: np.float64(6 * L * C * (T + 1))).passed


def test_causal_flops_rejects_and_names_the_look_alikes():
    palm = check_causal_attention_flops(lambda L, C, T: 12 * L * C * T)  # the formula on screen
    assert not palm.passed and "PaLM" in str(palm)
    forward = check_causal_attention_flops(lambda L, C, T: 2 * L * C * (T + 1))
    assert not forward.passed and "forward pass only" in str(forward)
    half_t = check_causal_attention_flops(lambda L, C, T: 6 * L * C * T)
    assert not half_t.passed and "(T + 1) / 2" in str(half_t)
    no_mean = check_causal_attention_flops(lambda L, C, T: 12 * L * C * (T + 1))
    assert not no_mean.passed and "divide by 2" in str(no_mean)


def test_causal_flops_explains_stubs_errors_and_wrong_types():
    assert check_causal_attention_flops(_stub).status == "not attempted"
    crash = check_causal_attention_flops(lambda L, C, T: 1 / 0)
    assert not crash.passed and "ZeroDivisionError" in str(crash)
    assert not check_causal_attention_flops(lambda L, C, T: "6LC(T+1)").passed
    assert not check_causal_attention_flops(lambda L, C, T: [6 * L * C * (T + 1)]).passed


# --- accumulation plan -----------------------------------------------------------------------


def test_accumulation_plan_reference():
    assert reference_accumulation_plan(48, 2, 10) == (24, 3)
    assert reference_accumulation_plan(256, 8, 64) == (32, 1)


def test_accumulation_plan_accepts_other_correct_forms():
    assert check_accumulation_plan(reference_accumulation_plan).passed
    assert check_accumulation_plan(lambda g, w, m: [g // w, -(-(g // w) // min(m, g // w))]).passed  # a list
    assert check_accumulation_plan(
        lambda g, w, m: (torch.tensor(g // w), math.ceil((g // w) / min(m, g // w)))
    ).passed  # a 0-d tensor


def test_accumulation_plan_rejects_look_alikes():
    floor_division = check_accumulation_plan(lambda g, w, m: (g // w, (g // w) // m))  # drops the last micro-batch
    assert not floor_division.passed and "round the number of passes up" in str(floor_division)
    global_not_local = check_accumulation_plan(lambda g, w, m: (g, math.ceil(g / min(m, g))))
    assert not global_not_local.passed and "global batch" in str(global_not_local)
    other = check_accumulation_plan(lambda g, w, m: (g // w, 1))  # wrong, but like no named mistake
    assert not other.passed and "why:" not in str(other)
    no_min = check_accumulation_plan(lambda g, w, m: (g // w, math.ceil((g // w) / m)))  # fine: ceil(32/64) = 1
    assert no_min.passed  # min() only matters for the count, which ceil already gets right
    assert check_accumulation_plan(_stub).status == "not attempted"
    assert not check_accumulation_plan(lambda g, w, m: None).passed
    assert not check_accumulation_plan(lambda g, w, m: (g // w,)).passed
