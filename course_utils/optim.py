"""Optimizers written out by hand: SGD (with momentum), RMSprop, Adagrad, Adam and AdamW.

Each class is a `torch.optim.Optimizer` with PyTorch's constructor arguments and defaults, so it
drops into any training loop (`zero_grad`, `step`, `state_dict`, param groups all work). The
update rule of each is applied to one parameter tensor at a time and written as the papers write
it; nothing here calls PyTorch's own optimizer code. Adam's and AdamW's update is the plain
function `adam_step`, the lines notebook 04 teaches in an editable cell (a test keeps the two
identical); the classes check their arguments and call it. `tests/test_optim.py` runs each class
beside `torch.optim` and compares trajectories.

PyTorch's kernel options (`foreach`, `fused`, `capturable`, `differentiable`) are accepted so
code written for `torch.optim` runs unchanged, but only at their plain values: there is one
readable loop here, not several fast kernels.

At the end, `SURFACES` holds three 2-D loss surfaces (a Rosenbrock valley, an ill-conditioned
quadratic and a saddle) with their gradients, a start point and the minimum, for races between
optimizers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import Optimizer

# ----------------------------------------------------------------------------------------------
# Checking hyperparameters: clear errors that name the argument and what is allowed.
# ----------------------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_nonnegative(owner: str, name: str, value, where: str = "") -> None:
    """`value` must be a real number >= 0 (NaN is rejected too)."""
    if not _is_number(value):
        raise TypeError(f"{owner}: {name} must be a number >= 0, got {type(value).__name__} {value!r}{where}")
    if not value >= 0:  # also catches NaN
        raise ValueError(f"{owner}: {name} must be >= 0, got {value!r}{where}")


def _check_betas(owner: str, betas, where: str = "") -> None:
    """`betas` must be a pair of numbers, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2 or not all(_is_number(b) for b in betas):
        raise TypeError(
            f"{owner}: betas must be a pair of numbers (beta1, beta2), each in [0, 1), got {betas!r}{where}"
        )
    for i, beta in enumerate(betas):
        if not 0 <= beta < 1:
            raise ValueError(
                f"{owner}: betas must each be in [0, 1), got betas={tuple(betas)!r} (beta{i + 1}={beta!r}){where}"
            )


def _check_flag(owner: str, name: str, value, where: str = "") -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be True or False, got {type(value).__name__} {value!r}{where}")


def _check_plain_kernel(owner: str, **options) -> None:
    """PyTorch's kernel options are accepted for compatibility, at their plain values only."""
    for name, value in options.items():
        if value not in (None, False):
            raise ValueError(
                f"{owner}: {name}={value!r} selects one of PyTorch's specialised kernels; this "
                f"from-scratch optimizer has a single plain loop, so leave {name} at None or False "
                f"(or use torch.optim.{owner})"
            )


class _FromScratchOptimizer(Optimizer):
    """Shared plumbing: checks each param group, runs the closure, loops over parameters with a gradient."""

    # Subclasses list which group entries are numbers >= 0 and which are True/False flags.
    _NONNEGATIVE: tuple[str, ...] = ("lr", "eps", "weight_decay")
    _FLAGS: tuple[str, ...] = ("maximize",)

    def _check_group(self, group: dict, where: str = "") -> None:
        owner = type(self).__name__
        for name in self._NONNEGATIVE:
            _check_nonnegative(owner, name, group[name], where)
        for name in self._FLAGS:
            _check_flag(owner, name, group[name], where)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (PyTorch's method), then check its hyperparameters like the constructor's."""
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1], f" (in param group {len(self.param_groups) - 1})")
        except (TypeError, ValueError):
            self.param_groups.pop()  # leave the optimizer as it was
            raise

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; `closure` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue  # not used in this loss: leave it and its state alone, like PyTorch
                if p.grad.is_sparse:
                    raise TypeError(
                        f"{type(self).__name__}: sparse gradients are not supported here; "
                        "use torch.optim.SparseAdam or a dense embedding"
                    )
                grad = -p.grad if group["maximize"] else p.grad  # ascend instead of descend
                self._update(p, grad, self.state[p], group)
        return loss

    def _update(self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


def _next_step(state: dict) -> int:
    """Count this update; a state loaded from torch.optim holds the count as a tensor."""
    state["step"] = int(state.get("step", 0)) + 1
    return state["step"]


# ----------------------------------------------------------------------------------------------
# Stochastic gradient descent, with (Nesterov) momentum.
# ----------------------------------------------------------------------------------------------


class SGD(_FromScratchOptimizer):
    """Gradient descent with optional heavy-ball or Nesterov momentum (Polyak 1964; Sutskever et al. 2013)."""

    _NONNEGATIVE = ("lr", "momentum", "dampening", "weight_decay")
    _FLAGS = ("nesterov", "maximize")

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        """
        Args:
            params: tensors to optimise, or dicts defining param groups.
            lr: learning rate (step size), >= 0.
            momentum: how much of the previous update to keep, >= 0 (0.9 is typical; 0 turns it off).
            dampening: scales the new gradient in the momentum buffer by (1 - dampening).
            weight_decay: L2 penalty: adds weight_decay * p to the gradient.
            nesterov: look-ahead momentum; needs momentum > 0 and dampening == 0.
            maximize: ascend the objective instead of descending it.
            foreach, differentiable, fused: PyTorch kernel options; only None/False allowed here.
        """
        _check_plain_kernel("SGD", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str = "") -> None:
        super()._check_group(group, where)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}{where}"
            )

    def _update(self, p, grad, state, group):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad.add(p, alpha=wd)  # gradient of the L2 penalty (wd / 2) * ||p||^2
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone()  # the first step starts the buffer at g
            else:
                buf.mul_(mu).add_(grad, alpha=1 - group["dampening"])  # b <- mu * b + (1 - dampening) * g
            # Nesterov: step along g + mu * b, a look-ahead at where momentum is taking us.
            grad = grad.add(buf, alpha=mu) if group["nesterov"] else buf
        p.add_(grad, alpha=-lr)  # p <- p - lr * direction


# ----------------------------------------------------------------------------------------------
# Adagrad and RMSprop: one step size per coordinate, from the history of squared gradients.
# ----------------------------------------------------------------------------------------------


class Adagrad(_FromScratchOptimizer):
    """Per-coordinate steps lr / sqrt(sum of all past squared gradients) (Duchi, Hazan & Singer 2011)."""

    _NONNEGATIVE = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        """
        Args:
            params: tensors to optimise, or dicts defining param groups.
            lr: base learning rate, >= 0.
            lr_decay: the rate at step t is lr / (1 + (t - 1) * lr_decay).
            weight_decay: L2 penalty added to the gradient.
            initial_accumulator_value: starting value of the running sum of squared gradients.
            eps: added to the square root for numerical stability.
            maximize: ascend the objective instead of descending it.
            foreach, differentiable, fused: PyTorch kernel options; only None/False allowed here.
        """
        _check_plain_kernel("Adagrad", foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _update(self, p, grad, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])  # G_0
        t = _next_step(state)
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])
        state["sum"].addcmul_(grad, grad)  # G_t = G_{t-1} + g_t^2: it only grows, so steps only shrink
        p.addcdiv_(grad, state["sum"].sqrt().add_(group["eps"]), value=-lr_t)  # p <- p - lr_t g / (sqrt(G) + eps)


class RMSprop(_FromScratchOptimizer):
    """Per-coordinate steps lr / sqrt(moving average of squared gradients) (Tieleman & Hinton 2012)."""

    _NONNEGATIVE = ("lr", "alpha", "eps", "weight_decay", "momentum")
    _FLAGS = ("centered", "maximize")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        """
        Args:
            params: tensors to optimise, or dicts defining param groups.
            lr: learning rate, >= 0.
            alpha: smoothing constant of the moving average of g^2, in [0, 1].
            eps: added to the square root for numerical stability.
            weight_decay: L2 penalty added to the gradient.
            momentum: momentum applied to the normalised step, >= 0.
            centered: divide by an estimate of the gradient's standard deviation (subtract the
                squared moving average of g) instead of its root mean square (Graves 2013).
            maximize: ascend the objective instead of descending it.
            capturable, foreach, differentiable: PyTorch kernel options; only None/False allowed here.
        """
        _check_plain_kernel("RMSprop", capturable=capturable, foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str = "") -> None:
        super()._check_group(group, where)
        if group["alpha"] > 1:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {group['alpha']!r}{where}")

    def _update(self, p, grad, state, group):
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(p)  # E[g^2], the mean square
            if mu > 0:
                state["momentum_buffer"] = torch.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p)  # E[g], only for the centred variant
        _next_step(state)
        if group["weight_decay"] != 0:
            grad = grad.add(p, alpha=group["weight_decay"])
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # E[g^2] <- alpha E[g^2] + (1 - alpha) g^2
        if group["centered"]:
            grad_avg = state["grad_avg"]
            # E[g] <- alpha E[g] + (1 - alpha) g, written as a step toward g: torch.lerp rounds like PyTorch,
            # which matters here because E[g^2] - E[g]^2 can be a small difference of large numbers.
            grad_avg.lerp_(grad, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  # sqrt(Var[g]) instead of sqrt(E[g^2])
        else:
            avg = square_avg.sqrt()
        avg.add_(group["eps"])
        if mu > 0:
            buf = state["momentum_buffer"]
            buf.mul_(mu).addcdiv_(grad, avg)  # momentum on the already normalised step
            p.add_(buf, alpha=-group["lr"])
        else:
            p.addcdiv_(grad, avg, value=-group["lr"])  # p <- p - lr g / (sqrt(E[g^2]) + eps)


# ----------------------------------------------------------------------------------------------
# Adam and AdamW: momentum (first moment) + RMSprop (second moment) + bias correction.
# `adam_step` is the lesson: notebook 04 shows these lines in an editable cell, and
# tests/test_mechanism_cells.py keeps the two identical. The classes below call it.
# ----------------------------------------------------------------------------------------------


def adam_step(p, grad, state, lr, beta1, beta2, eps, weight_decay, decoupled):
    """One Adam update of the tensor p, in place (Kingma & Ba 2015, Algorithm 1).

    decoupled=False: Adam with an L2 penalty; weight_decay * p joins the gradient.
    decoupled=True: AdamW (Loshchilov & Hutter 2019); the weights shrink by lr * weight_decay * p.
    state: an empty dict before the first step; this function fills in "step", "exp_avg" (m)
    and "exp_avg_sq" (v), PyTorch's names.
    """
    if not state:  # first step: both moving averages start at zero
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay  # AdamW: shrink the weights, outside the adaptive scaling below
        else:
            grad = grad + weight_decay * p  # Adam + L2: the penalty's gradient, rescaled below like the rest
    state["step"] += 1
    t = state["step"]
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad  # first moment: a moving average of g
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2  # second moment: a moving average of g^2
    state["exp_avg"], state["exp_avg_sq"] = m, v
    m_hat = m / (1 - beta1**t)  # bias correction: m and v started at 0, so early on they are too small
    v_hat = v / (1 - beta2**t)
    p -= lr * m_hat / (v_hat.sqrt() + eps)  # each coordinate's step: lr times m_hat / sqrt(v_hat)


def amsgrad_step(p, grad, state, lr, beta1, beta2, eps, weight_decay, decoupled):
    """`adam_step` whose denominator never shrinks: AMSGrad (Reddi et al. 2018), in PyTorch's form.

    The running maximum is taken over the raw second moment v (before bias correction) and kept in
    state["max_exp_avg_sq"]; the bias correction of the current step is applied to it afterwards.
    """
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
    if "max_exp_avg_sq" not in state:
        state["max_exp_avg_sq"] = torch.zeros_like(p)
    if weight_decay != 0:
        if decoupled:
            p *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * p
    state["step"] += 1
    t = state["step"]
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad**2
    v_max = torch.maximum(state["max_exp_avg_sq"], v)  # the largest v seen so far, coordinate by coordinate
    state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"] = m, v, v_max
    p -= lr * (m / (1 - beta1**t)) / ((v_max / (1 - beta2**t)).sqrt() + eps)


class Adam(_FromScratchOptimizer):
    """Adaptive moment estimation (Kingma & Ba 2015), with optional AMSGrad (Reddi et al. 2018)."""

    _FLAGS = ("amsgrad", "maximize", "decoupled_weight_decay")

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        """
        Args:
            params: tensors to optimise, or dicts defining param groups.
            lr: learning rate alpha, >= 0; with consistent gradients each coordinate moves by about
                lr per step, with noisy ones by less (about lr * E[g] / sqrt(E[g^2])).
            betas: (beta1, beta2), each in [0, 1): decay rates of the moving averages of g and g^2.
            eps: added to sqrt(v_hat) so that coordinates with tiny gradients do not explode.
            weight_decay: with decoupled_weight_decay=False, an L2 penalty added to the gradient
                (then divided by sqrt(v_hat) like it, so weights with large gradients decay less);
                with True, the weights shrink by lr * weight_decay * p.
            amsgrad: divide by the largest second moment seen so far (never by a smaller one).
            maximize: ascend the objective instead of descending it.
            decoupled_weight_decay: True turns this into AdamW.
            foreach, capturable, differentiable, fused: PyTorch kernel options; only None/False here.
        """
        owner = type(self).__name__
        _check_plain_kernel(owner, foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str = "") -> None:
        super()._check_group(group, where)
        _check_betas(type(self).__name__, group["betas"], where)

    def _update(self, p, grad, state, group):
        if "step" in state:
            state["step"] = int(state["step"])  # a state loaded from torch.optim holds the count as a tensor
        beta1, beta2 = group["betas"]
        update = amsgrad_step if group["amsgrad"] else adam_step
        update(
            p,
            grad,
            state,
            group["lr"],
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            group["decoupled_weight_decay"],
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): the weights shrink by lr * weight_decay."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        """Same arguments as `Adam`, with weight_decay 0.01 by default and always decoupled."""
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


# ----------------------------------------------------------------------------------------------
# 2-D loss surfaces for optimizer races. Each takes points of shape (..., 2) and returns the
# loss (...) or its gradient (..., 2), in plain tensor maths (no autograd), so thousands of
# steps take milliseconds.
# ----------------------------------------------------------------------------------------------


def _split(xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(xy, torch.Tensor) or xy.dim() < 1 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be a tensor of shape (..., 2), got {getattr(xy, 'shape', type(xy).__name__)}")
    return xy[..., 0], xy[..., 1]


ROSENBROCK_B = 10.0  # valley steepness; the classic 100 makes the valley too narrow to see at this scale


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's banana valley (1 - x)^2 + b (y - x^2)^2 with b = ROSENBROCK_B; minimum 0 at (1, 1).

    Args:
        xy: points, shape (..., 2).

    Returns:
        Loss, shape (...).
    """
    x, y = _split(xy)
    return (1 - x) ** 2 + ROSENBROCK_B * (y - x**2) ** 2


def rosenbrock_grad(xy: torch.Tensor) -> torch.Tensor:
    """Gradient of `rosenbrock`, shape (..., 2)."""
    x, y = _split(xy)
    inner = y - x**2
    return torch.stack([-2 * (1 - x) - 4 * ROSENBROCK_B * x * inner, 2 * ROSENBROCK_B * inner], dim=-1)


QUADRATIC_CURVATURES = (0.1, 5.0)  # curvature along x and y: condition number 50


def ill_conditioned_quadratic(xy: torch.Tensor) -> torch.Tensor:
    """The bowl (a x^2 + b y^2) / 2 with (a, b) = QUADRATIC_CURVATURES: steep in y, flat in x; minimum 0 at (0, 0).

    Args:
        xy: points, shape (..., 2).

    Returns:
        Loss, shape (...).
    """
    x, y = _split(xy)
    a, b = QUADRATIC_CURVATURES
    return 0.5 * (a * x**2 + b * y**2)


def ill_conditioned_quadratic_grad(xy: torch.Tensor) -> torch.Tensor:
    """Gradient of `ill_conditioned_quadratic`, shape (..., 2)."""
    x, y = _split(xy)
    a, b = QUADRATIC_CURVATURES
    return torch.stack([a * x, b * y], dim=-1)


def saddle(xy: torch.Tensor) -> torch.Tensor:
    """x^2 / 2 + y^4 / 4 - y^2 / 2: a saddle point at (0, 0) between two minima -1/4 at (0, +-1).

    Args:
        xy: points, shape (..., 2).

    Returns:
        Loss, shape (...).
    """
    x, y = _split(xy)
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


def saddle_grad(xy: torch.Tensor) -> torch.Tensor:
    """Gradient of `saddle`, shape (..., 2)."""
    x, y = _split(xy)
    return torch.stack([x, y**3 - y], dim=-1)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface with its gradient, where races start, its minimum and a view box."""

    name: str
    title: str
    loss: Callable[[torch.Tensor], torch.Tensor]  # (..., 2) -> (...)
    grad: Callable[[torch.Tensor], torch.Tensor]  # (..., 2) -> (..., 2)
    start: tuple[float, float]
    minimum: tuple[float, float]  # one global minimum (the saddle has a second, mirrored)
    min_loss: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    formula: str  # LaTeX, for notebooks
    formula_text: str  # the same in plain Unicode, for plot titles (mathtext is slow to lay out)


SURFACES: dict[str, Surface] = {
    "rosenbrock": Surface(
        "rosenbrock",
        "Rosenbrock valley",
        rosenbrock,
        rosenbrock_grad,
        start=(-1.5, 2.0),
        minimum=(1.0, 1.0),
        min_loss=0.0,
        xlim=(-2.0, 2.0),
        ylim=(-1.0, 3.0),
        formula=rf"$(1-x)^2 + {ROSENBROCK_B:g}\,(y-x^2)^2$",
        formula_text=f"(1 − x)² + {ROSENBROCK_B:g} (y − x²)²",
    ),
    "ill-conditioned quadratic": Surface(
        "ill-conditioned quadratic",
        "Ill-conditioned quadratic",
        ill_conditioned_quadratic,
        ill_conditioned_quadratic_grad,
        start=(-4.5, 1.5),
        minimum=(0.0, 0.0),
        min_loss=0.0,
        xlim=(-5.0, 5.0),
        ylim=(-2.5, 2.5),
        formula=rf"$({QUADRATIC_CURVATURES[0]:g}\,x^2 + {QUADRATIC_CURVATURES[1]:g}\,y^2)/2$",
        formula_text=f"({QUADRATIC_CURVATURES[0]:g} x² + {QUADRATIC_CURVATURES[1]:g} y²) / 2",
    ),
    "saddle": Surface(
        "saddle",
        "Saddle point",
        saddle,
        saddle_grad,
        start=(-2.0, 1e-3),
        minimum=(0.0, 1.0),
        min_loss=-0.25,
        xlim=(-2.5, 2.5),
        ylim=(-1.75, 1.75),
        formula=r"$x^2/2 + y^4/4 - y^2/2$",
        formula_text="x²/2 + y⁴/4 − y²/2",
    ),
}
SURFACE_NAMES = tuple(SURFACES)


def get_surface(name: str) -> Surface:
    """The `Surface` called `name` (one of `SURFACE_NAMES`)."""
    if not isinstance(name, str) or name not in SURFACES:
        raise ValueError(f"surface must be one of {SURFACE_NAMES}, got {name!r}")
    return SURFACES[name]


__all__ = [
    "adam_step",
    "amsgrad_step",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "Surface",
    "SURFACES",
    "SURFACE_NAMES",
    "get_surface",
    "rosenbrock",
    "rosenbrock_grad",
    "ill_conditioned_quadratic",
    "ill_conditioned_quadratic_grad",
    "saddle",
    "saddle_grad",
]
