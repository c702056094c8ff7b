"""Checks for notebook 09, Adapter Layers: build a bottleneck adapter and a LoRA layer, derive LoRA's gradients.

- `check_adapter_layer(MyAdapter)`: a class `MyAdapter(d_model, bottleneck)` with `down` and `up`
  Linear layers; the identity at init, a nonlinear bottleneck on a residual path, and a gradient
  that reaches the zero up-projection.
- `check_lora_linear(MyLoRALinear)`: a class `MyLoRALinear(base, rank, alpha)` with `base`,
  `lora_A` (r, in) and `lora_B` (out, r); the base layer at init, only the factors trainable, the
  forward W x + b + (alpha / r) B A x, and `merge()` folding the update into one weight.
- `check_lora_grads(lora_grads)`: the gradients of the loss with respect to A and B, derived by hand.

Each accepts the correct alternatives the tests name (biases or not, any common nonlinearity, A = 0
with B random instead of B = 0, `merge()` returning a Linear or a weight tensor) and rejects the
look-alikes (both factors random, r / alpha for alpha / r, a merge without the scale, no residual).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import INCORRECT, Case, CheckResult, _not_attempted, check_function, compare

NONLINEARITIES = {
    "GELU": F.gelu,
    "GELU (tanh approximation)": lambda z: F.gelu(z, approximate="tanh"),
    "ReLU": F.relu,
    "SiLU": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
ATOL, RTOL = 1e-5, 1e-4  # float32 layers; every look-alike is off by far more


def _fail(name: str, message: str, hint: str, details=()) -> CheckResult:
    return CheckResult(name, INCORRECT, message, list(details), hint)


def _run(name: str, hint: str, what: str, thunk):
    """(value, None) or (None, a CheckResult explaining the exception)."""
    try:
        return thunk(), None
    except NotImplementedError:
        return None, _not_attempted(name)
    except Exception as exc:  # explained, never a traceback
        return None, _fail(name, f"Your code raised {type(exc).__name__} when {what}.", hint, [f"error: {exc}"])


def _linear_parts(layer, name: str):
    """(weight, bias or None) of the learner's `down` / `up`: an nn.Linear, or anything with .weight."""
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor):
        return None
    return weight, getattr(layer, "bias", None)


# ------------------------------------------------------------------------------------ the adapter
ADAPTER_HINT = (
    "Two nn.Linear layers: self.down = nn.Linear(d_model, bottleneck), self.up = nn.Linear(bottleneck, d_model); "
    "forward returns h + self.up(act(self.down(h))); in __init__ set self.up's weight and bias to zero and leave "
    "self.down random (small)."
)


def check_adapter_layer(adapter_class) -> CheckResult:
    """Check a bottleneck adapter class `adapter_class(d_model, bottleneck)` (see the module docstring)."""
    name = "MyAdapter"
    hint = ADAPTER_HINT
    if not isinstance(adapter_class, type) or not issubclass(adapter_class, nn.Module):
        return _fail(name, f"Expected a class derived from nn.Module, got {type(adapter_class).__name__}.", hint)
    d, r = 8, 3
    torch.manual_seed(0)
    adapter, problem = _run(name, hint, f"building {name}({d}, {r})", lambda: adapter_class(d, r))
    if problem is not None:
        return problem
    parts = {part: _linear_parts(getattr(adapter, part, None), part) for part in ("down", "up")}
    missing = [part for part, found in parts.items() if found is None]
    if missing:
        return _fail(name, f"The adapter needs layers named {', '.join(missing)} (with a .weight).", hint)
    (w_down, b_down), (w_up, b_up) = parts["down"], parts["up"]
    if tuple(w_down.shape) != (r, d) or tuple(w_up.shape) != (d, r):
        return _fail(
            name,
            f"Expected down.weight of shape ({r}, {d}) and up.weight ({d}, {r}) for d_model={d}, bottleneck={r}; "
            f"got {tuple(w_down.shape)} and {tuple(w_up.shape)}.",
            hint,
        )
    h = torch.randn(2, 5, d)
    out, problem = _run(name, hint, "running the adapter on h of shape (2, 5, 8)", lambda: adapter(h))
    if problem is not None:
        return problem
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(h.shape):
        return _fail(name, f"The output must be a tensor shaped like h, {tuple(h.shape)}; got {out!r:.80}.", hint)
    if torch.allclose(out, torch.zeros_like(out)):
        return _fail(
            name,
            "At initialisation your adapter returns zeros, not h: the residual connection is missing.",
            hint,
            ["An adapter returns h + bottleneck(h), so that with a zero up-projection it is the identity."],
        )
    if not torch.allclose(out, h, atol=ATOL, rtol=RTOL):
        return _fail(
            name,
            "At initialisation the adapter must return h exactly (the identity), so that inserting it leaves the "
            "pre-trained model as it was.",
            hint,
            [
                f"largest |adapter(h) - h| = {(out - h).abs().max().item():.3g}: is the up-projection (weight and "
                "bias) initialised to zero?"
            ],
        )
    # The gradient must reach the zero up-projection (it does only if the bottleneck's activations are not all 0).
    adapter.zero_grad(set_to_none=True)
    _, problem = _run(name, hint, "back-propagating through the adapter", lambda: adapter(h).pow(2).sum().backward())
    if problem is not None:
        return problem
    grad = w_up.grad
    if not w_up.requires_grad or grad is None or grad.abs().max().item() == 0:
        return _fail(
            name,
            "At initialisation the up-projection receives no gradient, so training could never move the adapter.",
            hint,
            [
                "Initialise down randomly (small values), not to zero: the gradient of up is "
                "(upstream gradient) x act(down(h))."
            ],
        )
    trainable = sum(p.numel() for p in adapter.parameters() if p.requires_grad)
    with_bias, without_bias = 2 * d * r + r + d, 2 * d * r
    if trainable not in (with_bias, without_bias):
        return _fail(
            name,
            f"The adapter should train its two projections only: {with_bias} parameters with biases "
            f"({without_bias} without) for d_model={d}, bottleneck={r}; it trains {trainable}.",
            hint,
        )
    # With random weights everywhere: h + up(act(down(h))) for some nonlinearity act.
    with torch.no_grad():
        for p in (w_down, b_down, w_up, b_up):
            if p is not None:
                p.normal_()
    out, problem = _run(name, hint, "running the adapter with random weights", lambda: adapter(h).detach())
    if problem is not None:
        return problem

    def linear(x, w, b):
        return x @ w.detach().T + (b.detach() if b is not None else 0)

    z = linear(h, w_down, b_down)  # (2, 5, r)
    matches = [k for k, act in NONLINEARITIES.items() if torch.allclose(out, h + linear(act(z), w_up, b_up), atol=1e-4)]
    if matches:
        return CheckResult(
            name,
            "correct",
            f"The identity at init, a gradient for the zero up-projection, {trainable} trainable parameters, and with "
            f"random weights h + up({matches[0]}(down(h))).",
        )
    if torch.allclose(out, h + linear(z, w_up, b_up), atol=1e-4):
        return _fail(
            name,
            "With random weights your adapter computes h + up(down(h)): the nonlinearity between the projections is "
            "missing, so the bottleneck is one low-rank linear map.",
            hint,
        )
    if torch.allclose(out, linear(NONLINEARITIES["GELU"](z), w_up, b_up), atol=1e-4):
        return _fail(name, "With random weights your adapter returns up(act(down(h))) without h: no residual.", hint)
    return _fail(
        name,
        "With random weights the output is not h + up(act(down(h))) for any common nonlinearity "
        f"({', '.join(NONLINEARITIES)}).",
        hint,
    )


# ------------------------------------------------------------------------------------------ LoRA
LORA_HINT = (
    "self.base = base with requires_grad False on its weight and bias; self.lora_A = nn.Parameter of shape "
    "(rank, in_features), random; self.lora_B = nn.Parameter of zeros, (out_features, rank); forward returns "
    "self.base(x) + (alpha / rank) * x @ A.T @ B.T; merge() returns W + (alpha / rank) * B @ A as the weight of a "
    "copy of base."
)


def _lora_case(lora_class, name, hint, d_in, d_out, rank, alpha, seed):
    """None if the class passes this case, else the CheckResult that explains what is wrong."""
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out)
    original = (base.weight.detach().clone(), base.bias.detach().clone())
    what = f"building {name}(nn.Linear({d_in}, {d_out}), rank={rank}, alpha={alpha})"
    layer, problem = _run(name, hint, what, lambda: lora_class(base, rank, alpha))
    if problem is not None:
        return problem
    A, B = getattr(layer, "lora_A", None), getattr(layer, "lora_B", None)
    if not isinstance(A, torch.Tensor) or not isinstance(B, torch.Tensor) or getattr(layer, "base", None) is None:
        return _fail(name, "The layer needs attributes base, lora_A and lora_B (nn.Parameters).", hint)
    if tuple(A.shape) != (rank, d_in) or tuple(B.shape) != (d_out, rank):
        return _fail(
            name,
            f"For nn.Linear({d_in}, {d_out}) and rank {rank}: lora_A must be ({rank}, {d_in}) and lora_B "
            f"({d_out}, {rank}); got {tuple(A.shape)} and {tuple(B.shape)}.",
            hint,
        )
    # 1. what trains: the factors, never the base
    names = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
    if names != ["lora_A", "lora_B"]:
        return _fail(
            name,
            f"Only lora_A and lora_B may be trainable; trainable here: {names}.",
            hint,
            ["Freeze the base layer: base.weight and base.bias get requires_grad False."],
        )
    # 2. the base layer at init, and a gradient that can flow
    x = torch.randn(4, 3, d_in)
    out, problem = _run(name, hint, "running the layer on x of shape (4, 3, in)", lambda: layer(x))
    if problem is not None:
        return problem
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 3, d_out):
        return _fail(name, f"The output must be a tensor of shape (4, 3, {d_out}).", hint)
    if not torch.allclose(out, F.linear(x, *original), atol=ATOL, rtol=RTOL):
        both = A.abs().max().item() > 0 and B.abs().max().item() > 0
        return _fail(
            name,
            "At initialisation the layer must compute exactly what the base layer computes.",
            hint,
            ["Both factors are random, so B A is not zero: start lora_B at zero (lora_A random)."]
            if both
            else [f"largest difference from the base layer: {(out - F.linear(x, *original)).abs().max().item():.3g}"],
        )
    if A.abs().max().item() == 0 and B.abs().max().item() == 0:
        return _fail(
            name,
            "Both factors start at zero: the layer is the identity change, but no gradient can ever reach "
            "either factor (each one's gradient is multiplied by the other).",
            hint,
        )
    # 3. the forward with trained (random) factors: W x + b + (alpha / r) B A x
    with torch.no_grad():
        A.normal_()
        B.normal_()
    got, problem = _run(name, hint, "running the layer with non-zero factors", lambda: layer(x).detach())
    if problem is not None:
        return problem
    expected = (F.linear(x, *original) + (alpha / rank) * (x @ A.T @ B.T)).detach()
    if not torch.allclose(got, expected, atol=ATOL, rtol=RTOL):
        details = [compare(expected, got, atol=ATOL, rtol=RTOL) or ""]
        delta = (got - F.linear(x, *original)).detach()
        update = (x @ A.T @ B.T).detach()
        for label, scale in (("r / alpha", rank / alpha), ("alpha", alpha), ("1 (no scale)", 1.0)):
            if torch.allclose(delta, scale * update, atol=ATOL, rtol=RTOL):
                details.append(f"Your update is scaled by {label}; LoRA scales it by alpha / r.")
        return _fail(
            name,
            f"With non-zero factors (rank {rank}, alpha {alpha}) the output is not W x + b + (alpha / r) B A x.",
            hint,
            details,
        )
    # 4. merge(): one weight, the same outputs, the layer itself unchanged
    merged, problem = _run(name, hint, "calling merge()", lambda: layer.merge())
    if problem is not None:
        return problem
    weight = merged if isinstance(merged, torch.Tensor) else getattr(merged, "weight", None)
    if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != (d_out, d_in):
        return _fail(
            name,
            f"merge() must return an nn.Linear (or its weight), shape ({d_out}, {d_in}); got {merged!r:.80}.",
            hint,
        )
    target = original[0] + (alpha / rank) * (B @ A).detach()
    if not torch.allclose(weight.detach(), target, atol=ATOL, rtol=RTOL):
        details = []
        if torch.allclose(weight.detach(), original[0] + (B @ A).detach(), atol=ATOL, rtol=RTOL):
            details.append("merge() adds B A without the scale alpha / r.")
        return _fail(name, "merge() does not give W + (alpha / r) B A.", hint, details)
    if isinstance(merged, nn.Module):
        same, problem = _run(name, hint, "running the merged layer", lambda: merged(x).detach())
        if problem is not None:
            return problem
        if not torch.allclose(same, expected, atol=ATOL, rtol=RTOL):
            return _fail(name, "The merged layer's outputs differ from the LoRA layer's (is its bias kept?).", hint)
    again, problem = _run(name, hint, "running the layer after merge()", lambda: layer(x).detach())
    if problem is not None:
        return problem
    if not torch.allclose(again, expected, atol=ATOL, rtol=RTOL):
        return _fail(
            name,
            "After merge() the LoRA layer itself computes something else: merge changed the base weight in place, "
            "so the update is now counted twice. Merge into a copy.",
            hint,
        )
    return None


def check_lora_linear(lora_class) -> CheckResult:
    """Check a LoRA layer class `lora_class(base, rank, alpha)` (see the module docstring)."""
    name = "MyLoRALinear"
    hint = LORA_HINT
    if not isinstance(lora_class, type) or not issubclass(lora_class, nn.Module):
        return _fail(name, f"Expected a class derived from nn.Module, got {type(lora_class).__name__}.", hint)
    n_cases = 0
    # alpha / r = 3 here, so a scale of r / alpha (1/3), alpha (6), 1 or none are all told apart
    for seed, (d_in, d_out, rank, alpha) in enumerate(((7, 5, 2, 6.0), (6, 9, 4, 1.0), (5, 5, 1, 3.0))):
        problem = _lora_case(lora_class, name, hint, d_in, d_out, rank, alpha, seed)
        if problem is not None:
            return problem
        n_cases += 1
    return CheckResult(
        name,
        "correct",
        f"All {n_cases} cases: the base layer at init, only lora_A and lora_B trainable, the alpha / r scale, "
        "and a merge that gives the same outputs with one matrix.",
    )


# -------------------------------------------------------------------------------- LoRA's gradients
def reference_lora_grads(x, grad_out, lora_A, lora_B, alpha, rank):
    """dL/dA (r, in) and dL/dB (out, r) for y = W x + b + (alpha / r) B A x, given dL/dy = grad_out (N, out)."""
    scale = alpha / rank
    return scale * (grad_out @ lora_B).T @ x, scale * grad_out.T @ (x @ lora_A.T)


def _grad_cases() -> list[Case]:
    g = torch.Generator().manual_seed(9)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case((rand(5, 4), rand(5, 3), rand(2, 4), rand(3, 2), 6.0, 2), label="(N 5, in 4, out 3, rank 2, alpha 6)"),
        Case((rand(7, 6), rand(7, 6), rand(3, 6), rand(6, 3), 1.0, 3), label="(N 7, in 6, out 6, rank 3, alpha 1)"),
        Case((rand(4, 3), rand(4, 5), rand(1, 3), rand(5, 1), 2.0, 1), label="(N 4, in 3, out 5, rank 1, alpha 2)"),
        Case(
            (rand(6, 4), rand(6, 3), rand(2, 4), torch.zeros(3, 2, dtype=torch.float64), 4.0, 2),
            label="(B = 0, as at initialisation)",
        ),
    ]


def check_lora_grads(lora_grads) -> CheckResult:
    """Check `lora_grads(x, grad_out, lora_A, lora_B, alpha, rank)` -> (dL/dA, dL/dB) against autograd's."""
    return check_function(
        "lora_grads",
        lora_grads,
        _grad_cases(),
        reference=reference_lora_grads,
        atol=1e-10,
        rtol=1e-8,
        hint="Write y = base + s * (x A^T) B^T with s = alpha / r and u = x A^T (N, r). Then dL/dB = s * grad_out^T u "
        "(out, r), and dL/du = s * grad_out B (N, r), so dL/dA = (dL/du)^T x (r, in). Return (dA, dB).",
        success="At B = 0 the gradient of A is zero and only B moves in the first step: that is why A must be random.",
    )
