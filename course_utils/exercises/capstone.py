"""Checks for notebook 10, the capstone: attention's FLOPs under a causal mask, and the gradient-accumulation plan.

Each check accepts every correct form (an int, a float, a 0-d tensor or NumPy scalar; any algebraically
equal expression, since it compares values on several shapes) and names the wrong answers that look
right: for the FLOPs, PaLM's full-window count 12 L C T that the notebook shows, the forward pass
alone, and the mean of 1..T taken as T/2; for the plan, floor division and the global batch
mistaken for each process's.
"""

from __future__ import annotations

import math

from course_utils.checks import Case, CheckResult, check_function, compare


def reference_causal_attention_flops(n_layer: int, n_embd: int, block_size: int) -> float:
    """Training FLOPs per token of attention's scores and weighted sums under a causal mask, averaged over a window.

    The query at position t (1..T) meets t keys: scores q.k cost 2 C t, the weighted sum of values 2 C t,
    so 4 C t forward and 12 C t with the backward pass (twice the forward). Averaged over t = 1..T:
    12 C (T + 1) / 2 = 6 C (T + 1) per layer.
    """
    return 6.0 * n_layer * n_embd * (block_size + 1)


LOOKALIKES = (
    (
        lambda L, C, T: 12.0 * L * C * T,
        "this is PaLM's 12 L C T, which charges every query for all T keys; under the causal mask the query at "
        "position t meets only t of them. Count the keys per position, then average over the window.",
    ),
    (
        lambda L, C, T: 2.0 * L * C * (T + 1),
        "this is the forward pass only (4 C t per query); training adds the backward pass, which costs about "
        "twice the forward.",
    ),
    (
        lambda L, C, T: 6.0 * L * C * T,
        "almost: the mean of 1, 2, ..., T is (T + 1) / 2, not T / 2 (a window of one token still has one key).",
    ),
    (
        lambda L, C, T: 12.0 * L * C * (T + 1),
        "this sums t over the window but forgets to divide by 2: the mean of 1..T is (T + 1) / 2.",
    ),
)


def _name_the_lookalike(result: CheckResult, user_fn, cases, reference, lookalikes, differ) -> CheckResult:
    """On a wrong answer, add why it is wrong when, on the first case it gets wrong, it equals a look-alike."""
    if result.passed or result.status != "not yet":
        return result
    for case in cases:
        try:
            got = user_fn(*case.args)
        except Exception:  # already explained by check_function
            return result
        if differ(reference(*case.args), got) is not None:
            named = next((why for fn, why in lookalikes if differ(fn(*case.args), got) is None), None)
            if named:
                result.details.append(f"why:      {named}")
            return result
    return result


def check_causal_attention_flops(user_fn) -> CheckResult:
    """Check `user_fn(n_layer, n_embd, block_size)` -> training FLOPs per token of causal attention (window mean)."""
    cases = [
        Case((1, 1, 1), label="(1 layer, 1 channel, a window of 1 token)"),
        Case((2, 64, 32), label="(the CPU preset's TinyGPT: 2 layers, 64 channels, context 32)"),
        Case((12, 768, 1024), label="(GPT-2 small: 12 layers, 768 channels, context 1024)"),
        Case((6, 384, 256), label="(nanoGPT's shakespeare-char shape)"),
    ]
    hint = (
        "Count per layer for the query at position t: it forms t scores q.k (C multiply-adds each) and a "
        "weighted sum of t value vectors (C multiply-adds each); a multiply-add is 2 FLOPs; the backward pass "
        "costs twice the forward. Then average over t = 1..T."
    )
    result = check_function(
        "causal_attention_flops",
        user_fn,
        cases,
        reference=reference_causal_attention_flops,
        rtol=1e-9,
        atol=1e-9,
        hint=hint,
        success="About half of PaLM's 12 L C T. Whether a run saves it depends on the kernel: one that skips "
        "the masked blocks (FlashAttention-style, is_causal=True) does half the work; a naive one computes the "
        "full square and throws half away. Against 6N it is small: about 3% of all FLOPs for the CPU preset, "
        "7% for GPT-2 small at T = 1024.",
    )
    close = lambda expected, got: compare(expected, got, rtol=1e-9, atol=1e-9)  # noqa: E731
    return _name_the_lookalike(result, user_fn, cases, reference_causal_attention_flops, LOOKALIKES, close)


def reference_accumulation_plan(global_batch: int, world_size: int, micro_batch: int) -> tuple[int, int]:
    """(windows per process per step, micro-batches per process per step) for a data-parallel run."""
    local = global_batch // world_size
    return local, math.ceil(local / micro_batch)


def check_accumulation_plan(user_fn) -> CheckResult:
    """Check `user_fn(global_batch, world_size, micro_batch)` -> (local_batch, accumulation_steps)."""
    cases = [
        Case((32, 1, 32)),
        Case((32, 1, 8)),
        Case((32, 2, 8)),
        Case((256, 8, 64), label="(global 256 over 8 GPUs, micro-batch 64: larger than each GPU's share)"),
        Case((48, 2, 10), label="(global 48 over 2 processes, micro-batch 10: the last micro-batch is smaller)"),
        Case((64, 4, 1)),
    ]

    def same_plan(expected, got) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (local_batch, accumulation_steps), got {got!r}"
        return compare(tuple(expected), tuple(got))

    result = check_function(
        "accumulation_plan",
        user_fn,
        cases,
        reference=reference_accumulation_plan,
        compare_fn=same_plan,
        hint="Each of the world_size processes gets global_batch // world_size windows; it runs them in "
        "micro-batches of at most micro_batch, so ceil(local / micro_batch) forward passes (the last one may be "
        "smaller).",
        success="Each process accumulates that many micro-batches, then DDP averages the gradients once.",
    )
    return _name_the_lookalike(result, user_fn, cases, reference_accumulation_plan, PLAN_LOOKALIKES, same_plan)


PLAN_LOOKALIKES = (
    (
        lambda g, w, m: (g // w, (g // w) // m),
        "floor division drops the last, smaller micro-batch (48 windows in micro-batches of 10 take 5 passes, "
        "not 4): round the number of passes up.",
    ),
    (
        lambda g, w, m: (g, math.ceil(g / m)),
        "this is the global batch, as if every process ran all of it; each of the world_size processes runs "
        "only its share, global_batch // world_size.",
    ),
)
