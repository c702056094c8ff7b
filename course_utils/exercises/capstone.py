"""Checks for notebook 10, the capstone: model FLOPs utilisation and the gradient-accumulation plan."""

from __future__ import annotations

import math

from course_utils.checks import Case, CheckResult, check_function
from course_utils.lm_training import flops_per_token, mfu


def reference_mfu(
    tokens_per_s: float, n_params: int, n_layer: int, n_embd: int, block_size: int, peak_flops: float
) -> float:
    """MFU: tokens/s times (6 N + 12 L C T) FLOPs per token, over the peak FLOP/s."""
    return mfu(tokens_per_s, flops_per_token(n_params, n_layer, n_embd, block_size), peak_flops)


def reference_accumulation_plan(global_batch: int, world_size: int, micro_batch: int) -> tuple[int, int]:
    """(windows per process per step, micro-batches per process per step) for a data-parallel run."""
    local = global_batch // world_size
    return local, math.ceil(local / min(micro_batch, local))


def check_mfu(user_fn) -> CheckResult:
    """Check `user_fn(tokens_per_s, n_params, n_layer, n_embd, block_size, peak_flops)` -> MFU in [0, 1]."""
    cases = [
        Case((1e6, 124_000_000, 12, 768, 1024, 989e12), label="(GPT-2 small, 1M tokens/s on an H100)"),
        Case((18_000.0, 107_000, 2, 64, 32, 1e12), label="(the CPU preset's TinyGPT, 18k tokens/s, peak 1 TFLOP/s)"),
        Case((5e5, 3_000_000, 6, 256, 64, 312e12), label="(the cuda preset on an A100)"),
        Case((0.0, 1000, 1, 8, 8, 1e12), label="(nothing trained yet: 0 tokens/s)"),
    ]
    return check_function(
        "mfu",
        user_fn,
        cases,
        reference=reference_mfu,
        rtol=1e-6,
        hint="FLOPs per token = 6 * n_params + 12 * n_layer * n_embd * block_size (forward 2 FLOPs per weight, "
        "backward 4; attention's scores and weighted sum on top). Achieved FLOP/s = tokens_per_s * FLOPs per "
        "token; MFU = achieved / peak_flops, a fraction, not a percentage.",
        success="That is the number nanoGPT and the PaLM paper report: a well-tuned H100 run reaches 0.4 to 0.5.",
    )


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
    return check_function(
        "accumulation_plan",
        user_fn,
        cases,
        reference=reference_accumulation_plan,
        hint="Each of the world_size processes gets global_batch // world_size windows; it runs them in "
        "micro-batches of at most micro_batch, so ceil(local / micro_batch) forward passes, and never more "
        "micro-batches than windows.",
        success="Each process accumulates that many micro-batches, then DDP averages the gradients once.",
    )
