"""Checks for the Batch Size notebook's exercises (03_batch_size)."""

from __future__ import annotations

import torch

from course_utils.batching import linear_scaled_lr, minibatch_mean_variance, steps_per_epoch
from course_utils.checks import Case, CheckResult, check_function


def check_steps_per_epoch(user_fn) -> CheckResult:
    """Check `user_fn(n, batch_size)`: optimizer steps in one epoch, the last partial batch included."""
    cases = [
        Case((600, 64)),
        Case((600, 1)),
        Case((600, 600)),
        Case((10, 3)),
        Case((1000, 999)),
        Case((256, 32)),
        Case((7, 7)),
        Case((50_000, 128)),
    ]
    return check_function(
        "steps_per_epoch",
        user_fn,
        cases,
        reference=steps_per_epoch,
        hint="An epoch of n examples in batches of B takes ceil(n / B) steps: n // B full batches, plus one "
        "more when n % B leftovers remain. In integers, -(-n // B) or (n + B - 1) // B.",
        success="It agrees with len(torch.utils.data.DataLoader(range(n), batch_size=B)).",
    )


def _variance_cases() -> list[Case]:
    g = torch.Generator().manual_seed(3)
    spread = torch.randn(50, generator=g, dtype=torch.float64) * 2 + 1
    four = torch.tensor([1.0, 2.0, 4.0, 9.0], dtype=torch.float64)
    return [
        Case((four, 1)),
        Case((four, 2)),
        Case((four, 4), label="(the 4 values [1, 2, 4, 9], batch_size=4: the full batch)"),
        Case((torch.arange(10, dtype=torch.float64), 3)),
        Case((spread, 5), label="(50 random values, batch_size=5)"),
        Case((spread, 49), label="(50 random values, batch_size=49)"),
    ]


def check_minibatch_mean_variance(user_fn) -> CheckResult:
    """Check `user_fn(values, batch_size)`: the variance of the mean of a batch drawn without replacement."""
    return check_function(
        "minibatch_mean_variance",
        user_fn,
        _variance_cases(),
        reference=minibatch_mean_variance,
        atol=1e-9,
        rtol=1e-6,
        hint="s^2 / B * (N - B) / (N - 1), with s^2 the population variance: the mean of (x_i - mean)^2, "
        "divided by N, not N - 1 (values.var(unbiased=False)). Without the factor (N - B) / (N - 1) the full "
        "batch would still look noisy, yet it always returns the exact mean.",
        success="Sampling without replacement shrinks the 1/B law by (N - B) / (N - 1), to 0 at the full batch.",
    )


def check_scaled_lr(user_fn) -> CheckResult:
    """Check `user_fn(base_lr, base_batch_size, batch_size, step, warmup_steps)`: linear scaling with warm-up."""
    cases = [
        Case((0.1, 256, 8192, 0, 0)),
        Case((0.1, 256, 8192, 500, 0)),
        Case((0.2, 8, 2, 0, 0)),
        Case((0.1, 256, 8192, 0, 5)),
        Case((0.1, 256, 1024, 2, 4)),
        Case((0.1, 256, 8192, 5, 5)),
        Case((0.1, 256, 8192, 50, 5)),
        Case((0.05, 32, 32, 3, 10)),
    ]

    def reference(base_lr, base_batch_size, batch_size, step, warmup_steps):
        return linear_scaled_lr(base_lr, base_batch_size, batch_size, step=step, warmup_steps=warmup_steps)

    return check_function(
        "scaled_lr",
        user_fn,
        cases,
        reference=reference,
        atol=1e-9,
        rtol=1e-6,
        hint="The target is base_lr * batch_size / base_batch_size. With warm-up, start at base_lr (step 0) and "
        "move in equal steps to the target, reached at step == warmup_steps and kept after: "
        "base_lr + (target - base_lr) * min(step / warmup_steps, 1). No warm-up (0 steps) means the target "
        "from the start.",
        success="This is Goyal et al.'s recipe that trained ImageNet with batches of 8192.",
    )
