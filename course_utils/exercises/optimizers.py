"""Checks for notebook 04, Adam Optimizer: bias correction, one Adam step, one momentum-SGD step."""

from __future__ import annotations

import torch

from course_utils.checks import Case, CheckResult, check_function


# ---------------------------------------------------------------- reference solutions
def bias_correction_reference(beta: float, t: int) -> float:
    """1 - beta^t: the share of a moving average's weight that has landed on real data after t steps."""
    return 1 - beta**t


def adam_step_reference(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Adam update (Kingma & Ba 2015, Algorithm 1) for one tensor; t is this step's number, from 1.

    Returns:
        (new p, new m, new v), each shaped like p.
    """
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v


def momentum_step_reference(
    p: torch.Tensor, g: torch.Tensor, buf: torch.Tensor, lr: float = 0.01, momentum: float = 0.9
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD-with-momentum update in PyTorch's form: buf <- momentum * buf + g; p <- p - lr * buf.

    Returns:
        (new p, new buf), each shaped like p.
    """
    buf = momentum * buf + g
    return p - lr * buf, buf


# ---------------------------------------------------------------- cases
def _tensors(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(shape, generator=g, dtype=torch.float64)
    grad = torch.randn(shape, generator=g, dtype=torch.float64)
    m = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    v = 0.01 * torch.rand(shape, generator=g, dtype=torch.float64)
    return p, grad, m, v


def check_bias_correction(bias_correction) -> CheckResult:
    """Check `bias_correction(beta, t)`, which returns the factor 1 - beta**t."""
    cases = [
        Case((0.9, 1)),
        Case((0.9, 10)),
        Case((0.999, 1)),
        Case((0.999, 100)),
        Case((0.5, 3)),
        Case((0.0, 1), label="(beta=0.0, t=1): no averaging, nothing to correct"),
    ]
    return check_function(
        "bias_correction",
        bias_correction,
        cases,
        reference=bias_correction_reference,
        atol=1e-12,
        rtol=1e-9,
        hint="A moving average that starts at 0 has put weight (1 - beta) * (1 + beta + ... + beta^(t-1)) on "
        "real data after t steps; that geometric sum is 1 - beta**t. Steps count from t = 1.",
        success="Dividing m_t by 1 - beta1**t (and v_t by 1 - beta2**t) undoes the pull toward 0.",
    )


def check_adam_step(adam_step) -> CheckResult:
    """Check `adam_step(p, g, m, v, t, lr, beta1, beta2, eps)`, which returns `(new_p, new_m, new_v)`."""
    p, g, m, v = _tensors(0, (4,))
    zeros = torch.zeros(4, dtype=torch.float64)
    p2, g2, m2, v2 = _tensors(1, (2, 3))
    cases = [
        Case((p, g, zeros, zeros, 1), label="first step (t=1, m = v = 0), default lr and betas"),
        Case((p, g, m, v, 5), dict(lr=0.01), label="step t=5 with lr=0.01"),
        Case((p2, g2, m2, v2, 100), dict(lr=0.1, beta1=0.8, beta2=0.99), label="t=100, other betas, a 2x3 tensor"),
        Case((p, 1e-6 * g, zeros, zeros, 1), dict(eps=1e-3), label="tiny gradient with a large eps"),
    ]
    return check_function(
        "adam_step",
        adam_step,
        cases,
        reference=adam_step_reference,
        atol=1e-10,
        rtol=1e-8,
        hint="In order: m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g**2; m_hat = m/(1-beta1**t); "
        "v_hat = v/(1-beta2**t); p = p - lr*m_hat/(sqrt(v_hat) + eps). Return (p, m, v), the moments "
        "before bias correction (those are what the next step builds on).",
        success="It is the update course_utils.optim.Adam applies to every parameter tensor.",
    )


def check_momentum_step(momentum_step) -> CheckResult:
    """Check `momentum_step(p, g, buf, lr, momentum)`, which returns `(new_p, new_buf)`."""
    p, g, buf, _ = _tensors(2, (5,))
    zeros = torch.zeros(5, dtype=torch.float64)
    cases = [
        Case((p, g, zeros), label="first step: buf = 0, default lr=0.01 and momentum=0.9"),
        Case((p, g, buf), dict(lr=0.1, momentum=0.5), label="a running buffer, lr=0.1, momentum=0.5"),
        Case((p, g, buf), dict(lr=0.1, momentum=0.0), label="momentum=0: plain SGD"),
    ]
    return check_function(
        "momentum_step",
        momentum_step,
        cases,
        reference=momentum_step_reference,
        atol=1e-10,
        rtol=1e-8,
        hint="PyTorch's form keeps the full gradient: buf = momentum*buf + g (no (1 - momentum) factor), "
        "then p = p - lr*buf. Return (p, buf).",
        success="That is torch.optim.SGD(momentum=...) without dampening.",
    )
