"""Checks for the Batch Size notebook's exercises (03_batch_size)."""

from __future__ import annotations

import torch

from course_utils.batching import gradient_noise_scale, linear_scaled_lr, minibatch_mean_variance, steps_per_epoch
from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, compare


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
        Case((four, 1), label="(the 4 values [1, 2, 4, 9], batch_size=1)"),
        Case((four, 2), label="(the 4 values [1, 2, 4, 9], batch_size=2)"),
        Case((four, 4), label="(the 4 values [1, 2, 4, 9], batch_size=4: the full batch)"),
        Case((torch.arange(10, dtype=torch.float64), 3)),
        Case((spread, 5), label="(50 random values, batch_size=5)"),
        Case((spread, 49), label="(50 random values, batch_size=49)"),
    ]


def check_minibatch_mean_variance(user_fn) -> CheckResult:
    """Check `user_fn(values, batch_size)`: the variance of the mean of a batch drawn without replacement.

    Accepts a Python float or a one-element tensor, and any algebraically equal form (for example
    Cochran's S^2 / B * (1 - B / N) with the N - 1 variance S^2). Rejects the with-replacement law
    s^2 / B, the variance of the batch's sum, B in place of 1 / B and the correction (N - B) / N.
    """
    return check_function(
        "minibatch_mean_variance",
        user_fn,
        _variance_cases(),
        reference=minibatch_mean_variance,
        atol=1e-9,
        rtol=1e-6,
        hint="Write the batch mean as (1/B) sum_i Z_i x_i over all N values, with Z_i = 1 when x_i is in the batch. "
        "P(Z_i = 1) = B/N, and Cov(Z_i, Z_j) = -(B/N)(N-B)/(N(N-1)) for i != j (the batch has exactly B "
        "members). Summing gives s^2 / B * (N - B) / (N - 1), with s^2 the mean of (x_i - mean)^2 (divided by "
        "N). Check your answer at the ends: s^2 at B = 1, and 0 at B = N.",
        success="Sampling without replacement shrinks the 1/B law by (N - B) / (N - 1), to 0 at the full batch.",
    )


def _noise_scale_reference(sq_norm_small, b_small, sq_norm_big, b_big):
    inv_small, inv_big = 1 / b_small, 1 / b_big
    trace_sigma = (sq_norm_small - sq_norm_big) / (inv_small - inv_big)
    g_squared = sq_norm_small - trace_sigma * inv_small
    return float(trace_sigma / g_squared)


def _noise_scale_cases() -> list[Case]:
    cases = []
    for g2, trace, b_small, b_big in ((0.1, 5.0, 1, 64), (0.02, 3.0, 8, 128), (2.0, 1.0, 4, 256), (0.05, 4.0, 32, 2)):
        s_small, s_big = g2 + trace / b_small, g2 + trace / b_big
        cases.append(
            Case(
                (s_small, b_small, s_big, b_big),
                label=f"(|g|^2 = {g2}, tr(Sigma) = {trace}: E|g_B|^2 = {s_small:.6g} at B = {b_small}, "
                f"{s_big:.6g} at B = {b_big})",
            )
        )
    g2, trace = 0.08, 6.0  # the norms as 0-d tensors, as they come out of torch
    cases.append(
        Case(
            (
                torch.tensor(g2 + trace / 16, dtype=torch.float64),
                16,
                torch.tensor(g2 + trace / 512, dtype=torch.float64),
                512,
            ),
            label="(the squared norms as 0-d tensors: |g|^2 = 0.08, tr(Sigma) = 6, B = 16 and 512)",
        )
    )
    return cases


def _mean_squared_norm(per_example_grads: torch.Tensor, batch_size: int, draws: int, seed: int) -> float:
    """Mean over `draws` batches drawn with replacement of |g_B|^2."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(per_example_grads), (draws, batch_size), generator=g)  # (K, B)
    batch_grads = per_example_grads[idx].mean(dim=1)  # (K, P)
    return (batch_grads**2).sum(1).mean().item()


def check_noise_scale_from_norms(user_fn, per_example_grads: torch.Tensor | None = None) -> CheckResult:
    """Check `user_fn(sq_norm_small, b_small, sq_norm_big, b_big)`: B_noise from mean squared gradient norms.

    With batches drawn with replacement, E|g_B|^2 = |g|^2 + tr(Sigma) / B. Two batch sizes give two
    equations for |g|^2 and tr(Sigma), and B_noise = tr(Sigma) / |g|^2 (McCandlish et al., 2018, appendix A).
    Accepts floats and 0-d tensors; rejects 1/B swapped for B, the inverse ratio, and |g_big|^2 taken for |g|^2.

    Args:
        user_fn: the learner's function.
        per_example_grads: optional (N, P) per-example gradients; then the function is also applied to the
            exact expected norms of these gradients (must give `gradient_noise_scale` of them) and to norms
            measured on sampled batches, and the message reports that estimate.
    """
    name = "noise_scale_from_norms"
    result = check_function(
        name,
        user_fn,
        _noise_scale_cases(),
        reference=_noise_scale_reference,
        atol=1e-9,
        rtol=1e-6,
        hint="Subtract the two equations |g_small|^2 = |g|^2 + tr(Sigma)/b_small and |g_big|^2 = |g|^2 + "
        "tr(Sigma)/b_big: |g|^2 cancels, leaving tr(Sigma) = (|g_small|^2 - |g_big|^2) / (1/b_small - 1/b_big). "
        "Put it back in either equation for |g|^2, and return tr(Sigma) / |g|^2. The big batch's norm is not "
        "|g|^2: it still carries tr(Sigma)/b_big of noise.",
    )
    if result.status != CORRECT or per_example_grads is None:
        return result
    grads = per_example_grads.double()
    g = grads.mean(0)
    g2 = (g**2).sum().item()
    trace = ((grads - g) ** 2).sum(1).mean().item()
    direct = gradient_noise_scale(grads)
    exact, failed = attempt(name, lambda: user_fn(g2 + trace / 4, 4, g2 + trace / 64, 64))
    if failed is not None:  # a CheckResult that is not a pass is falsy: test for None
        return failed
    problem = compare(direct, exact, atol=1e-9, rtol=1e-6)
    if problem:
        return CheckResult(
            name,
            INCORRECT,
            "On the notebook's gradients the exact norms give a different B_noise.",
            [f"problem: {problem}"],
        )
    measured, failed = attempt(
        name,
        lambda: user_fn(_mean_squared_norm(grads, 4, 400, 0), 4, _mean_squared_norm(grads, 64, 400, 1), 64),
    )
    if failed is not None:  # a CheckResult that is not a pass is falsy: test for None
        return failed
    measured = float(measured)
    return CheckResult(
        name,
        CORRECT,
        f"All {len(_noise_scale_cases()) + 1} cases match. From the squared norms of 400 sampled batches at "
        f"B = 4 and B = 64, your function estimates B_noise = {measured:.3g}; computed from the per-example "
        f"gradients it is {direct:.3g}. No per-example gradient was needed: this is how B_noise is measured "
        "in large data-parallel runs.",
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
