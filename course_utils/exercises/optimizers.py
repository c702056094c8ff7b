"""Checks for notebook 04, Adam Optimizer: AMSGrad (an extension) and heavy-ball's stable step (a derivation).

- `check_amsgrad_step(fn)`: `fn(p, grad, state, lr=..., beta1=..., beta2=..., eps=...)` updates the
  tensor `p` in place (or returns the new `p`), keeping what it needs in the dict `state`; its steps
  must match `torch.optim.Adam(amsgrad=True)` step for step.
- `check_momentum_max_lr(fn)`: `fn(H, momentum)` returns the largest learning rate for which SGD with
  heavy-ball momentum converges on f(x) = 1/2 x^T H x.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from unittest import mock

import torch

from course_utils import optim as course_optim
from course_utils.checks import INCORRECT, Case, CheckResult, attempt, check_function

AMSGRAD_HINT = (
    "AMSGrad divides by the largest second moment seen so far, coordinate by coordinate, so a coordinate's "
    "step cannot grow back after its gradients shrink. PyTorch keeps the running maximum of the raw v_t "
    "(before bias correction) in the state, and applies this step's bias correction 1 - beta2**t to that "
    "maximum. The moving averages m and v themselves are updated exactly as in adam_step."
)


# ---------------------------------------------------------------- AMSGrad
def _torch_amsgrad_path(p0: torch.Tensor, grads: list[torch.Tensor], options: dict) -> list[torch.Tensor]:
    """Parameters after each step of torch.optim.Adam(amsgrad=True), the reference."""
    q = p0.clone().requires_grad_()
    opt = torch.optim.Adam([q], amsgrad=True, **options)
    path = []
    for g in grads:
        q.grad = g.clone()
        opt.step()
        path.append(q.detach().clone())
    return path


def _variant_path(p0, grads, options, variant: str) -> list[torch.Tensor]:
    """Look-alikes, to explain a wrong answer: plain Adam, or a maximum of the bias-corrected v_hat."""
    lr, (beta1, beta2), eps = options.get("lr", 1e-3), options.get("betas", (0.9, 0.999)), options.get("eps", 1e-8)
    p, m, v, vmax = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0), torch.zeros_like(p0)
    path = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_hat = v / (1 - beta2**t)
        if variant == "adam":
            denom = v_hat
        else:  # "max of v_hat"
            vmax = torch.maximum(vmax, v_hat)
            denom = vmax
        p = p - lr * (m / (1 - beta1**t)) / (denom.sqrt() + eps)
        path.append(p.clone())
    return path


def _amsgrad_cases() -> list[tuple[str, torch.Tensor, list[torch.Tensor], dict]]:
    """(label, start, gradients, options): gradients that shrink, so that the running maximum matters."""
    gen = torch.Generator().manual_seed(4)
    p0 = torch.randn(3, generator=gen, dtype=torch.float64)
    large = [10 * torch.randn(3, generator=gen, dtype=torch.float64) for _ in range(20)]
    small = [0.1 * torch.randn(3, generator=gen, dtype=torch.float64) for _ in range(30)]
    p1 = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    fading = [torch.randn(2, 3, generator=gen, dtype=torch.float64) * 0.9**k for k in range(40)]
    return [
        ("a 3-vector, 20 large gradients then 30 small ones, default betas, lr=0.01", p0, large + small, {"lr": 0.01}),
        (
            "a 2x3 tensor, gradients fading by 0.9 per step, lr=0.1, betas=(0.8, 0.9), eps=1e-6",
            p1,
            fading,
            {"lr": 0.1, "betas": (0.8, 0.9), "eps": 1e-6},
        ),
    ]


def _forbidden(name: str):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"{name} is ruled out in this exercise: write the update yourself")

    return refuse


@contextlib.contextmanager
def _ruled_out():
    """While the learner's code runs, the library versions of the answer refuse to work."""
    with contextlib.ExitStack() as stack:
        for module, name, shown in (
            (torch.optim, "Adam", "torch.optim.Adam"),
            (torch.optim, "AdamW", "torch.optim.AdamW"),
            # the functional form behind torch.optim.Adam (torch.optim deletes the submodule's name: import it)
            (importlib.import_module("torch.optim.adam"), "adam", "torch.optim.adam.adam"),
            (importlib.import_module("torch.optim._functional"), "adam", "torch.optim._functional.adam"),
            (course_optim, "Adam", "course_utils.optim.Adam"),
            (course_optim, "AdamW", "course_utils.optim.AdamW"),
            (course_optim, "amsgrad_step", "course_utils.optim.amsgrad_step"),
        ):
            stack.enter_context(mock.patch.object(module, name, _forbidden(shown)))
        yield


def check_amsgrad_step(amsgrad_step: Callable) -> CheckResult:
    """Check `amsgrad_step(p, grad, state, lr, beta1, beta2, eps)` against torch.optim.Adam(amsgrad=True)."""
    name = "amsgrad_step"
    if not callable(amsgrad_step):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(amsgrad_step).__name__}.",
            hint="Pass the function itself: check_amsgrad_step(amsgrad_step).",
        )
    cases = _amsgrad_cases()
    for number, (label, p0, grads, options) in enumerate(cases, start=1):
        expected = _torch_amsgrad_path(p0, grads, options)
        kwargs = {"lr": options["lr"], "eps": options.get("eps", 1e-8)}
        kwargs["beta1"], kwargs["beta2"] = options.get("betas", (0.9, 0.999))
        p, state = p0.clone(), {}
        for t, (g, want) in enumerate(zip(grads, expected), start=1):

            def one_step(p=p, g=g, state=state, kwargs=kwargs):
                with _ruled_out():
                    return amsgrad_step(p, g.clone(), state, **kwargs)

            returned, failed = attempt(name, one_step)
            if failed is not None:
                if failed.status == INCORRECT:
                    failed.details.insert(0, f"case {number} ({label}), step {t}")
                    failed.hint = failed.hint or AMSGRAD_HINT
                return failed
            if isinstance(returned, torch.Tensor):
                if returned.shape != p.shape:
                    return CheckResult(
                        name,
                        INCORRECT,
                        f"Case {number}, step {t}: the returned tensor has shape "
                        f"{tuple(returned.shape)}, the parameter {tuple(p.shape)}.",
                        [label],
                        "Update p in place (p -= ...) or return the new p, shaped like p.",
                    )
                p = returned.detach().clone()  # a function that returns the new p instead of updating in place
            if not torch.allclose(p, want, rtol=1e-9, atol=1e-12):
                details = [
                    f"case {number}: {label}",
                    f"first difference at step {t}: largest gap {(p - want).abs().max().item():.3g}",
                ]
                for variant, words in (
                    ("adam", "plain Adam: the maximum never acts"),
                    ("vhat", "a running maximum of the bias-corrected v_hat, not of v"),
                ):
                    if torch.allclose(p, _variant_path(p0, grads, options, variant)[t - 1], rtol=1e-9, atol=1e-12):
                        details.append(f"your steps so far match {words}")
                return CheckResult(
                    name, INCORRECT, "Your steps differ from torch.optim.Adam(amsgrad=True).", details, AMSGRAD_HINT
                )
    return CheckResult(
        name,
        "correct",
        f"All {len(cases)} runs match torch.optim.Adam(amsgrad=True) step for step, "
        "including the steps after the gradients shrink, where AMSGrad's steps stay small and "
        "Adam's grow back.",
    )


# ---------------------------------------------------------------- heavy-ball stability
def momentum_max_lr_reference(H: torch.Tensor, momentum: float) -> float:
    """Largest stable lr for SGD with heavy-ball momentum on 1/2 x^T H x: 2 (1 + momentum) / lambda_max(H)."""
    return 2 * (1 + momentum) / torch.linalg.eigvalsh(H).max().item()


def heavy_ball_growth(H: torch.Tensor, lr: float, momentum: float, steps: int = 500) -> float:
    """|x| after `steps` steps of course_utils.optim.SGD(momentum) on 1/2 x^T H x, from |x| = 1."""
    x = torch.ones(H.shape[0], dtype=torch.float64)
    x = (x / x.norm()).requires_grad_()
    opt = course_optim.SGD([x], lr=lr, momentum=momentum)
    for _ in range(steps):
        x.grad = H @ x.detach()  # the gradient of 1/2 x^T H x
        opt.step()
        if not x.detach().norm() < 1e12:
            return float("inf")
    return x.detach().norm().item()


def _momentum_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(7)
    a = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    spd = a @ a.T + 0.1 * torch.eye(3, dtype=torch.float64)
    return [
        Case((torch.diag(torch.tensor([1.0, 10.0], dtype=torch.float64)), 0.9), label="H = diag(1, 10), momentum 0.9"),
        Case(
            (torch.tensor([[2.0, 1.5], [1.5, 2.0]], dtype=torch.float64), 0.5),
            label="H = [[2, 1.5], [1.5, 2]] (not diagonal), momentum 0.5",
        ),
        Case((spd, 0.0), label="a random 3x3 symmetric positive definite H, momentum 0 (plain gradient descent)"),
        Case(
            (torch.diag(torch.tensor([0.1, 5.0], dtype=torch.float64)), 0.99),
            label="the race's quadratic, H = diag(0.1, 5), momentum 0.99",
        ),
    ]


def check_momentum_max_lr(momentum_max_lr: Callable) -> CheckResult:
    """Check `momentum_max_lr(H, momentum)`, the largest stable learning rate of heavy-ball SGD on 1/2 x^T H x."""
    result = check_function(
        "momentum_max_lr",
        momentum_max_lr,
        _momentum_cases(),
        reference=momentum_max_lr_reference,
        atol=1e-9,
        rtol=1e-6,
        hint="Only the direction of largest curvature can blow up first. In that eigen-direction the update is "
        "x_{k+1} = (1 + momentum - lr*lambda) x_k - momentum x_{k-1}; find the lr at which a root of "
        "r^2 - (1 + momentum - lr*lambda) r + momentum = 0 reaches -1. H need not be diagonal: use its eigenvalues.",
    )
    if not result.passed:
        return result
    H, momentum = _momentum_cases()[0].args
    lr = momentum_max_lr_reference(H, momentum)
    below, above = heavy_ball_growth(H, 0.98 * lr, momentum), heavy_ball_growth(H, 1.02 * lr, momentum)
    above_text = "diverged" if above == float("inf") else f"|x| = {above:.1e}"
    result.message += (
        f" Checked by experiment on H = diag(1, 10), momentum 0.9, from |x| = 1: after 500 steps of "
        f"SGD(momentum=0.9), |x| = {below:.1e} at 0.98 x your lr; at 1.02 x it {above_text}."
    )
    return result
