"""Checks for the Batch Normalization notebook's exercises (none of them re-types a formula the notebook shows).

- `check_running_mean_after(fn)`: `fn(k, momentum, start, batch_mean)`, the running mean after k
  batches that all have the same mean, in closed form (the geometric series behind "about 1/m batches").
- `check_fold_batchnorm(fn)`: `fn(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5)`
  -> `(new_weight, new_bias)`, an eval-mode BatchNorm folded into the Linear layer before it.
- `check_layernorm_backward(fn)`: `fn(dy, x, gamma, eps=1e-5)` -> dx, LayerNorm's input gradient
  derived by hand (the notebook derives BatchNorm's; LayerNorm normalises each example over its
  features instead). The function runs with autograd off.

Each check accepts every correct form (a float or a 0-d tensor or NumPy scalar; tensors, NumPy
arrays or nested lists) and names the classic look-alike when an answer matches one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checks import INCORRECT, Case, CheckResult, check_function, compare

_TOL = {"atol": 1e-7, "rtol": 1e-6}


def _as_tensor(value: Any) -> Any:
    """A NumPy array, nested list or number as a float64 tensor; anything else unchanged (compare explains it)."""
    if isinstance(value, torch.Tensor):
        return value.detach().double()
    if isinstance(value, (np.ndarray, list, np.floating, float, int)) and not isinstance(value, bool):
        try:
            return torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            return value
    return value


def _matches(candidate: Any, got: Any) -> bool:
    return compare(candidate, _as_tensor(got), **_TOL) is None


def _name_lookalike(result: CheckResult, got: Any, lookalikes: dict[str, Any]) -> CheckResult:
    """Add a line naming the look-alike that `got` equals, if any."""
    for explanation, candidate in lookalikes.items():
        if _matches(candidate, got):
            result.details.append(explanation)
            break
    return result


# --- Exercise: the running mean after k batches ---------------------------------------------------


def _running_mean_after(
    k: int, momentum: float, start: float, batch_mean: float, *, keep: float | None = None, power: float | None = None
) -> float:
    keep = 1 - momentum if keep is None else keep  # the weight the old average keeps at each step
    remembered = keep ** (k if power is None else power)
    return remembered * start + (1 - remembered) * batch_mean


_RUNNING_CASES = (
    (1, 0.1, 0.0, 3.0),
    (10, 0.5, 2.0, -1.0),
    (0, 0.3, 1.5, 4.0),
    (25, 0.01, 0.0, 3.0),
    (3, 1.0, 5.0, 2.0),
    (40, 0.1, -2.0, 1.0),
)


def check_running_mean_after(running_mean_after: Callable) -> CheckResult:
    """Check `running_mean_after(k, momentum, start, batch_mean)`: the running mean after k batches.

    The running mean starts at `start`; every batch has mean `batch_mean`; each update is
    `running = (1 - momentum) * running + momentum * batch_mean` (PyTorch's convention). Expected:
    `(1 - momentum)**k * start + (1 - (1 - momentum)**k) * batch_mean`. Any number type is accepted.
    """
    name = "running_mean_after"
    cases = [Case(args) for args in _RUNNING_CASES]

    def explain(expected: Any, got: Any) -> str | None:
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        return compare(expected, got, **_TOL)

    result = check_function(
        name,
        running_mean_after,
        cases,
        reference=_running_mean_after,
        compare_fn=explain,
        success="The old value's weight (1 - m)^k decays geometrically: after about 1/m batches it is down to 1/e. "
        f"Check your prediction: after 10 batches PyTorch's default (m = 0.1) has covered "
        f"{_running_mean_after(10, 0.1, 0.0, 1.0):.0%} of the way, Keras's default (m = 0.01) only "
        f"{_running_mean_after(10, 0.01, 0.0, 1.0):.0%}.",
        hint="Write the first two updates out by hand and look at the weight that `start` keeps; "
        "the weights of start and of batch_mean always add up to 1.",
    )
    if result.status != INCORRECT or not callable(running_mean_after):
        return result

    def keras(k, m, s, b):
        return _running_mean_after(k, m, s, b, keep=m)

    def one_too_few(k, m, s, b):
        return _running_mean_after(k, m, s, b, power=k - 1)

    def exponential(k, m, s, b):
        return math.exp(-m * k) * s + (1 - math.exp(-m * k)) * b

    lookalikes = {
        "That is Keras's convention: there `momentum` is the weight the OLD average keeps; in PyTorch it is "
        "the weight of the NEW batch.": keras,
        "One update too few: after k batches the start value has been multiplied by (1 - m) k times, not k - 1.": (
            one_too_few
        ),
        "That is the approximation exp(-m k) of (1 - m)^k: close for small m, but not the exact running mean.": (
            exponential
        ),
    }
    for explanation, lookalike in lookalikes.items():
        try:
            same = all(
                explain(lookalike(*args), running_mean_after(*args)) is None for args in _RUNNING_CASES if args[0] >= 1
            )  # k = 0 cannot tell the slips apart
        except Exception:
            return result
        if same:
            result.details.append(explanation)
            break
    return result


# --- Exercise: fold an eval-mode BatchNorm into the Linear layer before it ------------------------


def _fold(
    weight,
    bias,
    running_mean,
    running_var,
    gamma,
    beta,
    eps=1e-5,
    *,
    with_eps=True,
    fold_bias=True,
    rows=True,
    root=True,
):
    spread = running_var + eps if with_eps else running_var
    scale = gamma / (torch.sqrt(spread) if root else spread)  # (out,)
    new_weight = weight * (scale[:, None] if rows else scale[None, :])  # (out, in)
    new_bias = ((bias if fold_bias else 0.0) - running_mean) * scale + beta  # (out,)
    return new_weight, new_bias


def _fold_cases() -> list[Case]:
    cases = []
    for out_features, in_features, seed, tiny_var, eps in (
        (4, 3, 0, False, 1e-5),
        (5, 5, 1, False, 1e-5),
        (3, 6, 2, True, 1e-3),
    ):
        g = torch.Generator().manual_seed(seed + 50)
        weight = torch.randn(out_features, in_features, generator=g, dtype=torch.float64)
        bias = torch.randn(out_features, generator=g, dtype=torch.float64)
        running_mean = torch.randn(out_features, generator=g, dtype=torch.float64)
        running_var = torch.rand(out_features, generator=g, dtype=torch.float64) + 0.5
        if tiny_var:  # a nearly constant feature: here eps changes the answer by about 40 %
            running_var = running_var * 2e-3
        gamma = torch.rand(out_features, generator=g, dtype=torch.float64) + 0.5
        beta = torch.randn(out_features, generator=g, dtype=torch.float64)
        label = f"a Linear({in_features}, {out_features}) followed by BatchNorm1d({out_features}), eps={eps:g}"
        if tiny_var:
            label += ", running variances about 1e-3"
        cases.append(Case((weight, bias, running_mean, running_var, gamma, beta), {"eps": eps}, label=label))
    return cases


def check_fold_batchnorm(fold_batchnorm: Callable) -> CheckResult:
    """Check `fold_batchnorm(weight, bias, running_mean, running_var, gamma, beta, eps=1e-5)`.

    It must return `(new_weight, new_bias)` of shapes (out, in) and (out,) such that
    `x @ new_weight.T + new_bias` equals eval-mode BatchNorm applied to `x @ weight.T + bias`.
    """
    name = "fold_batchnorm"
    cases = _fold_cases()

    def explain(expected: Any, got: Any) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (new_weight, new_bias), got {type(got).__name__}"
        return compare(expected, (_as_tensor(got[0]), _as_tensor(got[1])), **_TOL)

    result = check_function(
        name,
        fold_batchnorm,
        cases,
        reference=_fold,
        compare_fn=explain,
        success="One Linear layer now does the work of two: this is how inference engines remove eval-mode BN.",
        hint="Write eval-mode BN of z = W x + b as a * z + c with a per-feature a and c, then substitute z.",
    )
    if result.status != INCORRECT or not callable(fold_batchnorm):
        return result
    square = cases[1]  # Linear(5, 5): scaling the columns instead of the rows has the right shape here only
    try:
        got = fold_batchnorm(*[a.clone() for a in square.args], **square.kwargs)
        if (
            isinstance(got, (tuple, list))
            and len(got) == 2
            and _matches(_fold(*square.args, **square.kwargs, rows=False)[0], got[0])
        ):
            result.details.append(
                "The scale multiplies the columns of W: output feature j is row j of W, "
                "so each ROW is scaled by its feature's gamma / sqrt(var + eps)."
            )
            return result
    except Exception:
        pass
    args, kwargs = cases[-1].args, cases[-1].kwargs  # the case where every other slip shows
    try:
        got = fold_batchnorm(*[a.clone() for a in args], **kwargs)
    except Exception:
        return result
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return result
    slips = {
        "eps is missing: eval mode divides by sqrt(running_var + eps).": {"with_eps": False},
        "The Linear layer's own bias is lost: it passes through BN too, scaled like the rest of z.": {
            "fold_bias": False
        },
        "That divides by the variance; BN divides by the standard deviation sqrt(running_var + eps).": {"root": False},
    }
    for explanation, change in slips.items():
        candidate = _fold(*args, **kwargs, **change)
        if all(_matches(c, g) for c, g in zip(candidate, got)):
            result.details.append(explanation)
            break
    return result


# --- Exercise: LayerNorm's backward pass -----------------------------------------------------------


def _layernorm_grad(dy: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = F.layer_norm(x, (x.shape[1],), weight=gamma, bias=None, eps=eps)
        (dx,) = torch.autograd.grad(y, x, dy)
    return dx


def _layernorm_lookalikes(dy, x, gamma, eps):
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    std = torch.sqrt(var + eps)  # (N, 1)
    x_hat = (x - mean) / std
    g = gamma * dy  # the gradient reaching x_hat

    def project(v, dim, x_hat=x_hat):
        return v - v.mean(dim, keepdim=True) - x_hat * (v * x_hat).mean(dim, keepdim=True)

    unbiased_std = torch.sqrt(x.var(1, unbiased=True, keepdim=True) + eps)  # (N, 1)
    xb = x - x.mean(0)
    batch_std = torch.sqrt(xb.pow(2).mean(0) + eps)  # (D,)
    xb_hat = xb / batch_std
    batch_formula = (g - g.mean(0) - xb_hat * (g * xb_hat).mean(0)) / batch_std
    return {
        "That is the gradient with the mean and variance held constant (gamma / sigma * dy): x_i also moves "
        "its example's mean and variance, and those paths take out dy's mean and its component along x_hat.": g / std,
        "The per-feature gamma must go inside the means: the gradient reaching x_hat is gamma * dy, and the "
        "means run over the features, where gamma varies.": gamma * project(dy, 1) / std,
        "That is BatchNorm's formula (means over the batch, dim=0); LayerNorm's statistics are each "
        "example's, so its means run over the features (dim=1).": batch_formula,
        "That uses the unbiased variance (dividing by D - 1); LayerNorm normalises with the biased one, "
        "dividing by D.": project(g, 1, (x - mean) / unbiased_std) / unbiased_std,
    }


def _refuse_autograd(saved: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("autograd recorded an operation for backward")


def check_layernorm_backward(layernorm_backward: Callable) -> CheckResult:
    """Check `layernorm_backward(dy, x, gamma, eps=1e-5)` -> dx, for x and dy of shape (N, D), gamma (D,).

    Expected: autograd's gradient through `F.layer_norm` (each example normalised over its D
    features, biased variance, then scaled by gamma). The learner's function runs under
    `torch.no_grad()` and a saved-tensor hook that refuses to record anything for backward, so
    `torch.enable_grad()` with `backward()` or `torch.autograd.grad`, and `torch.func.grad`/`vjp`,
    fail with an explanation: the answer must be derived, not asked of autograd.
    """
    name = "layernorm_backward"
    cases = []
    for n, d, seed, eps in ((4, 5, 0, 1e-5), (3, 3, 1, 1e-5), (6, 4, 2, 0.3)):
        g = torch.Generator().manual_seed(seed + 70)
        x = torch.randn(n, d, generator=g, dtype=torch.float64) * 2 + 1
        dy = torch.randn(n, d, generator=g, dtype=torch.float64)
        gamma = torch.rand(d, generator=g, dtype=torch.float64) * 1.5 + 0.25  # far from constant
        cases.append(Case((dy, x, gamma), {"eps": eps}))

    def derived(*args, **kwargs):
        # Autograd off: no_grad stops recording, and the hook stops what would switch it back on
        # (torch.enable_grad() with backward() or torch.autograd.grad, and torch.func's transforms,
        # which refuse to run under saved-tensor hooks). A hand-derived answer saves nothing and runs.
        try:
            with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(_refuse_autograd, lambda saved: saved):
                return layernorm_backward(*args, **kwargs)
        except RuntimeError as error:
            if "grad" in str(error) or "saved tensor" in str(error):
                raise RuntimeError(
                    "this check runs your function with autograd off (backward(), torch.autograd.grad and "
                    "torch.func do not work here): derive dx by hand and compute it with tensor operations"
                ) from None
            raise

    def explain(expected: Any, got: Any) -> str | None:
        return compare(expected, _as_tensor(got), **_TOL)

    if not callable(layernorm_backward):
        return check_function(name, layernorm_backward, cases)
    result = check_function(
        name,
        derived,
        cases,
        reference=_layernorm_grad,
        compare_fn=explain,
        success="It matches autograd through F.layer_norm: the same three paths as BatchNorm, over the other axis.",
        hint="Follow the notebook's derivation for BatchNorm with the statistics of each example (over dim=1), "
        "and start from the gradient that reaches x_hat.",
    )
    if result.status != INCORRECT:
        return result
    args, kwargs = cases[0].args, cases[0].kwargs
    try:
        got = derived(*[a.clone() for a in args], **kwargs)
    except Exception:
        return result
    return _name_lookalike(result, got, _layernorm_lookalikes(*args, kwargs["eps"]))
