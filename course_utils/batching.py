"""Batch size in code: how an epoch is cut into mini-batches, how noisy their gradients are, what they cost.

Read top to bottom:
- The lesson's lines, taught in editable cells of notebook 03 and kept identical by a test:
  `shuffled_batches`, `minibatch_gradient` and `sgd_steps` (an epoch of mini-batches, the gradient
  estimate of one batch, the mini-batch SGD loop), and `gradient_noise_scale` (B_noise = tr(Sigma)/|g|^2,
  McCandlish et al., 2018).
- `check_batch_size`, `batch_size_options`, `steps_per_epoch`, `epoch_batches`: the same, with their
  arguments checked; an epoch of N examples has ceil(N / B) steps (the last batch may be smaller).
- `minibatch_mean_variance`: the 1/B law, exactly, with the finite-population correction that
  sampling without replacement brings.
- `linear_scaled_lr`: the linear learning-rate scaling rule, with gradual warm-up (Goyal et al., 2017).
- `TinyTanhMLP`: a one-hidden-layer tanh network whose gradients are written out by hand, per
  batch and per example. A batch-size study trains dozens of small runs; without autograd's
  bookkeeping a step is several times faster, and per-example gradients come for free.
- `train_sgd`: mini-batch SGD that records the full training loss at log-spaced steps, so runs with
  very different step counts can be compared per step and per example seen; `steps_to_reach`: the
  exact number of steps a run needs to reach a target loss.
- `top_hessian_eigenvalue`: the sharpest curvature of the loss, whose 2/lambda bounds a stable step.
- `time_per_epoch`, `saved_activation_bytes`: what a batch size costs in time and memory, measured.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.repro import single_thread

# ---------------------------------------------------------------- the lesson's lines (notebook 03's mechanism cells)


def shuffled_batches(n, batch_size, generator=None):
    """One epoch of mini-batches: the n example indices in a random order, cut into chunks of B."""
    order = torch.randperm(n, generator=generator)  # (n,): every example exactly once
    return list(order.split(batch_size))  # ceil(n / B) batches; the last holds the n mod B leftovers


def minibatch_gradient(per_example_grads, idx):
    """g_B, the mean of the batch's per-example gradients: an unbiased estimate of the full-batch gradient g."""
    return per_example_grads[idx].mean(dim=0)  # (N, P) -> (P,)


def sgd_steps(model, X, y, batch_size, lr, epochs, generator=None):
    """Mini-batch SGD: every epoch, one step per batch; yields each batch's indices after its step."""
    for _ in range(epochs):
        for idx in shuffled_batches(len(X), batch_size, generator):
            model.sgd_step(X[idx], y[idx], lr)  # w <- w - lr * g_B, g_B from this batch's mean loss
            yield idx


def gradient_noise_scale(per_example_grads):
    """B_noise = tr(Sigma) / |g|^2: the batch size at which the noise of g_B is as large as g itself."""
    g = per_example_grads.mean(dim=0)  # (P,): the full-batch gradient
    trace_sigma = ((per_example_grads - g) ** 2).sum(dim=1).mean()  # tr(Sigma): the per-example variance
    return (trace_sigma / (g**2).sum()).item()


# ---------------------------------------------------------------- public entry points (arguments checked)


def check_batch_size(batch_size: int, n: int, where: str = "") -> int:
    """Return `batch_size` if it is an int in [1, n], else raise a ValueError that says so.

    Args:
        batch_size: examples per step.
        n: the data set size (the full batch).
        where: the function's name, used as a prefix in the message.
    """
    prefix = f"{where}: " if where else ""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise ValueError(
            f"{prefix}batch_size must be an int in [1, {n}] (the data set size), "
            f"got {type(batch_size).__name__} {batch_size!r}"
        )
    if not 1 <= batch_size <= n:
        raise ValueError(f"{prefix}batch_size must be in [1, {n}] (the data set size), got {batch_size}")
    return batch_size


def _check_n(n: int, where: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: n must be a positive int (the number of examples), got {n!r}")


def batch_size_options(n: int) -> list[int]:
    """The powers of two up to `n`, then `n` itself (the full batch) if it is not one of them."""
    _check_n(n, "batch_size_options")
    options = [2**k for k in range(n.bit_length()) if 2**k <= n]
    return options if options[-1] == n else options + [n]


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps in one pass over `n` examples: ceil(n / B), or floor(n / B) with `drop_last`.

    Matches `len(torch.utils.data.DataLoader(dataset, batch_size, drop_last=drop_last))`.
    """
    _check_n(n, "steps_per_epoch")
    check_batch_size(batch_size, n, "steps_per_epoch")
    return n // batch_size if drop_last else -(-n // batch_size)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """One epoch of mini-batch indices: a random permutation of range(n), cut into chunks of `batch_size`.

    Every example appears exactly once per epoch (sampling without replacement); the last batch
    holds the n mod B leftovers when B does not divide n.

    Returns:
        A list of `steps_per_epoch(n, batch_size)` int64 tensors of indices, each of shape (B,) or shorter.
    """
    check_batch_size(batch_size, n, "epoch_batches")
    return shuffled_batches(n, batch_size, generator)


def minibatch_mean_variance(values: torch.Tensor, batch_size: int) -> float:
    """The exact variance of the mean of `batch_size` rows drawn without replacement from `values`.

    For rows x_1..x_N with mean m and population variance s^2 = (1/N) sum |x_i - m|^2, the mean of a
    random batch of B distinct rows has

        E |mean_B - m|^2 = s^2 / B * (N - B) / (N - 1).

    The first factor is the 1/B law; the second, the finite-population correction, is 1 for B = 1
    and 0 for B = N (the full batch has no noise at all).

    Args:
        values: (N,) numbers or (N, P) vectors (then the variance is summed over the P coordinates,
            the trace of the covariance).
        batch_size: B, in [1, N].

    Returns:
        The variance as a Python float.
    """
    if not isinstance(values, torch.Tensor) or values.dim() not in (1, 2):
        raise ValueError(
            f"minibatch_mean_variance: values must be a tensor of shape (N,) or (N, P), got "
            f"{tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__}"
        )
    n = values.shape[0]
    check_batch_size(batch_size, n, "minibatch_mean_variance")
    if n == 1:
        return 0.0
    rows = values.double().reshape(n, -1)  # (N, P)
    population_var = ((rows - rows.mean(0)) ** 2).sum(1).mean().item()  # s^2, divided by N
    return population_var / batch_size * (n - batch_size) / (n - 1)


def linear_scaled_lr(
    base_lr: float, base_batch_size: int, batch_size: int, *, step: int | None = None, warmup_steps: int = 0
) -> float:
    """The linear scaling rule: multiply the batch size by k, multiply the learning rate by k.

    With `warmup_steps > 0`, Goyal et al.'s gradual warm-up: the rate starts at `base_lr` and rises
    by equal amounts each step until it reaches the scaled rate at `step == warmup_steps`.

    Args:
        base_lr: a learning rate that works at `base_batch_size`.
        base_batch_size, batch_size: positive ints.
        step: the optimizer step (0 is the first); needed only with warm-up.
        warmup_steps: length of the warm-up, >= 0.

    Returns:
        The learning rate for `batch_size` (at `step`).
    """
    if not isinstance(base_lr, (int, float)) or isinstance(base_lr, bool) or base_lr < 0:
        raise ValueError(f"linear_scaled_lr: base_lr must be a number >= 0, got {base_lr!r}")
    for pname, value in (("base_batch_size", base_batch_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"linear_scaled_lr: {pname} must be a positive int, got {value!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"linear_scaled_lr: warmup_steps must be an int >= 0, got {warmup_steps!r}")
    target = base_lr * batch_size / base_batch_size
    if warmup_steps == 0:
        return target
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"linear_scaled_lr: step must be an int >= 0 when warmup_steps > 0, got {step!r}")
    return base_lr + (target - base_lr) * min(step / warmup_steps, 1.0)


@dataclass
class TinyTanhMLP:
    """x -> tanh(x W1 + b1) W2 + b2, with its gradients written out by hand."""

    W1: torch.Tensor  # (D, H)
    b1: torch.Tensor  # (H,)
    W2: torch.Tensor  # (H, C)
    b2: torch.Tensor  # (C,)

    @classmethod
    def init(
        cls,
        in_features: int = 2,
        hidden: int = 32,
        num_classes: int = 2,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> TinyTanhMLP:
        """Weights drawn exactly as `nn.Linear` draws them, from `seed` (see `to_module`)."""
        for pname, value in (("in_features", in_features), ("hidden", hidden), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TinyTanhMLP.init: {pname} must be a positive int, got {value!r}")
        with torch.random.fork_rng(devices=[]):  # leave the global random state as it was
            torch.manual_seed(seed)
            first, second = nn.Linear(in_features, hidden), nn.Linear(hidden, num_classes)
        return cls(
            first.weight.detach().T.contiguous().to(dtype),
            first.bias.detach().clone().to(dtype),
            second.weight.detach().T.contiguous().to(dtype),
            second.bias.detach().clone().to(dtype),
        )

    def parameters(self) -> list[torch.Tensor]:
        """[W1, b1, W2, b2], the order used by `gradients` and `per_example_gradients`."""
        return [self.W1, self.b1, self.W2, self.b2]

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def clone(self, dtype: torch.dtype | None = None) -> TinyTanhMLP:
        """A copy with its own weights (converted to `dtype` if given)."""
        return TinyTanhMLP(*(p.to(dtype or p.dtype, copy=True) for p in self.parameters()))

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """(N, D) inputs -> (N, C) logits."""
        return torch.tanh(X @ self.W1 + self.b1) @ self.W2 + self.b2

    def loss(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """Mean cross-entropy on (X, y), a Python float."""
        return F.cross_entropy(self.logits(X), y).item()

    def accuracy(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """Share of (X, y) whose most likely class is the label, a Python float."""
        return (self.logits(X).argmax(dim=1) == y).double().mean().item()

    def _forward_backward(self, X: torch.Tensor, y: torch.Tensor):
        """Hidden activations and each example's own loss gradients at the logits and hidden pre-activations."""
        h = torch.tanh(torch.addmm(self.b1, X, self.W1))  # (N, H)
        z = torch.addmm(self.b2, h, self.W2)  # (N, C)
        # d(cross-entropy)/dz for each example: softmax minus the one-hot label
        dz = torch.softmax(z, dim=1)  # (N, C)
        dz[torch.arange(len(y)), y] -= 1
        dh = (dz @ self.W2.T) * (1 - h * h)  # (N, H): back through W2, then tanh' = 1 - tanh^2
        return h, dz, dh

    def gradients(self, X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """The gradient of the batch's mean cross-entropy, by hand (no autograd).

        Args:
            X: (B, D) inputs; y: (B,) int64 class labels.

        Returns:
            `[dW1, db1, dW2, db2]`, shaped like `parameters()`.
        """
        h, dz, dh = self._forward_backward(X, y)
        dz, dh = dz / len(y), dh / len(y)  # the mean over the batch
        return [X.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]

    def per_example_gradients(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The gradient of each example's own loss, flattened in `parameters()` order.

        Returns:
            (N, P) with P = `num_parameters`; its row mean is the full-batch gradient.
        """
        h, dz, dh = self._forward_backward(X, y)  # one row per example, not yet averaged
        n = len(y)
        return torch.cat(
            [
                torch.einsum("nd,nh->ndh", X, dh).reshape(n, -1),
                dh,
                torch.einsum("nh,nc->nhc", h, dz).reshape(n, -1),
                dz,
            ],
            dim=1,
        )

    def sgd_step(self, X: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        """One plain SGD step on the batch (X, y), in place."""
        for p, g in zip(self.parameters(), self.gradients(X, y)):
            p.sub_(g, alpha=lr)

    def to_module(self) -> nn.Sequential:
        """The same network as `nn.Sequential(Linear, Tanh, Linear)` with copies of these weights."""
        d, hdim = self.W1.shape
        c = self.W2.shape[1]
        module = nn.Sequential(nn.Linear(d, hdim), nn.Tanh(), nn.Linear(hdim, c)).to(self.W1.dtype)
        with torch.no_grad():
            module[0].weight.copy_(self.W1.T)
            module[0].bias.copy_(self.b1)
            module[2].weight.copy_(self.W2.T)
            module[2].bias.copy_(self.b2)
        return module


def log_spaced_steps(total_steps: int, num: int = 40) -> list[int]:
    """About `num` distinct step counts from 0 to `total_steps`, evenly spaced on a log axis."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"log_spaced_steps: total_steps must be a positive int, got {total_steps!r}")
    points = torch.logspace(0, math.log10(total_steps), num, dtype=torch.float64).round().long().tolist()
    return sorted({0, total_steps, *points})


@dataclass
class SGDRun:
    """One mini-batch SGD run: the full training loss at a few steps along the way."""

    batch_size: int
    lr: float
    n: int  # training set size
    steps: list[int] = field(default_factory=list)  # optimizer steps taken at each checkpoint
    examples: list[int] = field(default_factory=list)  # examples seen at each checkpoint
    loss: list[float] = field(default_factory=list)  # full training loss at each checkpoint (nan once diverged)
    seconds: float = 0.0  # time spent in the steps themselves (checkpoints excluded)
    held_out_loss: float = math.nan  # after the last step, on examples never trained on (when given)
    held_out_accuracy: float = math.nan

    @property
    def final_loss(self) -> float:
        return self.loss[-1]

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.loss[-1]) or self.loss[-1] > 2 * self.loss[0]

    def first_reaching(self, target: float) -> tuple[int, int] | None:
        """`(steps, examples)` at the first checkpoint with loss <= target, or None if never."""
        for s, e, value in zip(self.steps, self.examples, self.loss):
            if value <= target:
                return s, e
        return None


def train_sgd(
    model: TinyTanhMLP,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    lr: float,
    epochs: int = 8,
    seed: int = 0,
    num_checkpoints: int = 40,
) -> SGDRun:
    """Train `model` in place with mini-batch SGD; record the full training loss at log-spaced steps.

    Every batch size sees the same examples, `epochs * N` of them, in batches drawn by `epoch_batches`
    from a generator seeded with `seed`. A loss that stops being finite ends the run (recorded as nan).

    Args:
        model: a `TinyTanhMLP` (changed in place; pass `model.clone()` to keep the start).
        X: (N, D) inputs; y: (N,) int64 labels.
        batch_size: B in [1, N].
        lr: the SGD learning rate, >= 0.
        epochs: passes over the data, >= 1.
        seed: seeds the shuffling.
        num_checkpoints: about how many times the full loss is evaluated.

    Returns:
        An `SGDRun`.
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"train_sgd: X and y must have the same length, got {n} and {len(y)}")
    check_batch_size(batch_size, n, "train_sgd")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"train_sgd: epochs must be a positive int, got {epochs!r}")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr >= 0:
        raise ValueError(f"train_sgd: lr must be a number >= 0, got {lr!r}")
    per_epoch = steps_per_epoch(n, batch_size)
    checkpoints = set(log_spaced_steps(epochs * per_epoch, num_checkpoints))
    run = SGDRun(batch_size=batch_size, lr=float(lr), n=n)
    generator = torch.Generator().manual_seed(int(seed))
    step, seen = 0, 0

    def record() -> bool:
        value = model.loss(X, y)
        run.steps.append(step)
        run.examples.append(seen)
        run.loss.append(value if math.isfinite(value) else float("nan"))
        return math.isfinite(value)

    with single_thread():
        record()
        start = time.perf_counter()
        for idx in sgd_steps(model, X, y, batch_size, lr, epochs, generator):
            run.seconds += time.perf_counter() - start
            step, seen = step + 1, seen + len(idx)
            if step in checkpoints and not record():
                return run
            start = time.perf_counter()
    return run


def steps_to_reach(
    model: TinyTanhMLP,
    X: torch.Tensor,
    y: torch.Tensor,
    target: float,
    *,
    batch_size: int,
    lr: float,
    max_epochs: int = 16,
    seed: int = 0,
) -> int | None:
    """Optimizer steps mini-batch SGD needs until the full training loss is first <= `target`, or None.

    The loss is evaluated after every step (not at checkpoints), so step counts are exact. A run that
    has not reached `target` within `max_epochs` epochs, or whose loss stops being finite, returns None.
    The model is left as it was (the run trains a copy).

    Args:
        model: the starting weights; X: (N, D) inputs; y: (N,) int64 labels.
        target: the training loss to reach.
        batch_size: B in [1, N]; lr: the learning rate, >= 0.
        max_epochs: the budget, in passes over the data, >= 1.
        seed: seeds the shuffling (the same batches as `train_sgd` with this seed).
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"steps_to_reach: X and y must have the same length, got {n} and {len(y)}")
    check_batch_size(batch_size, n, "steps_to_reach")
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f"steps_to_reach: max_epochs must be a positive int, got {max_epochs!r}")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr >= 0:
        raise ValueError(f"steps_to_reach: lr must be a number >= 0, got {lr!r}")
    if not isinstance(target, (int, float)) or isinstance(target, bool) or not math.isfinite(target):
        raise ValueError(f"steps_to_reach: target must be a finite number, got {target!r}")
    model = model.clone()
    generator = torch.Generator().manual_seed(int(seed))
    with single_thread():
        if model.loss(X, y) <= target:
            return 0
        for step, _ in enumerate(sgd_steps(model, X, y, batch_size, lr, max_epochs, generator), start=1):
            value = model.loss(X, y)
            if not math.isfinite(value):
                return None
            if value <= target:
                return step
    return None


def top_hessian_eigenvalue(
    model: TinyTanhMLP, X: torch.Tensor, y: torch.Tensor, *, iterations: int = 100, seed: int = 0
) -> float:
    """The largest eigenvalue of the Hessian of the mean training loss at the model's weights.

    On a quadratic, gradient descent with a step larger than 2 / lambda_max overshoots along the
    sharpest direction by more each step: this bounds the learning rates at which training is stable
    (notebook 04 derives it). Power iteration on Hessian-vector products, each a central difference of
    the hand-written gradient in float64 (two gradient evaluations, no P x P matrix).

    Args:
        model: a `TinyTanhMLP`; X: (N, D) inputs; y: (N,) int64 labels.
        iterations: power-iteration steps (>= 1).
        seed: seeds the random starting direction.
    """
    if not isinstance(model, TinyTanhMLP):
        raise TypeError(f"top_hessian_eigenvalue: model must be a TinyTanhMLP, got {type(model).__name__}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"top_hessian_eigenvalue: iterations must be a positive int, got {iterations!r}")
    base = model.clone(torch.float64)
    Xd = X.double()
    flat = torch.cat([p.flatten() for p in base.parameters()])  # (P,)
    shapes = [p.shape for p in base.parameters()]

    def gradient_at(w: torch.Tensor) -> torch.Tensor:
        shifted = TinyTanhMLP(*(t.reshape(s) for t, s in zip(w.split([s.numel() for s in shapes]), shapes)))
        return torch.cat([g.flatten() for g in shifted.gradients(Xd, y)])

    def hessian_times(v: torch.Tensor) -> torch.Tensor:
        eps = 1e-4 / v.norm()
        return (gradient_at(flat + eps * v) - gradient_at(flat - eps * v)) / (2 * eps)

    v = torch.randn(flat.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v /= v.norm()
    eigenvalue = 0.0
    with single_thread():
        for _ in range(iterations):
            hv = hessian_times(v)
            eigenvalue = (v @ hv).item()  # the Rayleigh quotient
            v = hv / hv.norm()
    return eigenvalue


def time_per_epoch(
    module: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    lr: float = 0.1,
    timed_steps: int = 24,
    warmup_steps: int = 2,
) -> float:
    """Seconds for one epoch of an ordinary PyTorch training step (forward, autograd backward, SGD update), one thread.

    An epoch of small batches has many steps, so `timed_steps` steps are timed (cycling through the
    epoch's batches) and the median step time is multiplied by `steps_per_epoch`; the median shrugs
    off the odd slow step on a busy machine. The module is trained on a copy and stays as it was.
    The update is written out (`p -= lr * p.grad`), which is what `torch.optim.SGD` does without
    momentum; creating the first `torch.optim` optimizer of a session imports hundreds of modules,
    which has nothing to do with the batch size.

    Args:
        module: maps (B, D) inputs to (B, C) logits.
        X: (N, D); y: (N,) int64 labels.
        batch_size: B in [1, N].
        lr: learning rate of the timed steps.
        timed_steps: how many steps are timed (>= 1).
        warmup_steps: untimed steps first (allocations, caches).

    Returns:
        The estimated seconds per epoch.
    """
    n = len(X)
    check_batch_size(batch_size, n, "time_per_epoch")
    if isinstance(timed_steps, bool) or not isinstance(timed_steps, int) or timed_steps < 1:
        raise ValueError(f"time_per_epoch: timed_steps must be a positive int, got {timed_steps!r}")
    model = copy.deepcopy(module)
    parameters = list(model.parameters())
    batches = epoch_batches(n, batch_size, torch.Generator().manual_seed(0))
    durations = []
    with single_thread():
        for i in range(warmup_steps + timed_steps):
            idx = batches[i % len(batches)]
            start = time.perf_counter()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            with torch.no_grad():
                for p in parameters:
                    p -= lr * p.grad
                    p.grad = None
            if i >= warmup_steps:
                durations.append(time.perf_counter() - start)
    durations.sort()
    return durations[len(durations) // 2] * len(batches)


def saved_activation_bytes(module: nn.Module, X: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps from the forward pass for the backward pass (parameters excluded).

    This is the memory a training step needs beyond the model itself, and it grows in proportion
    to the batch size. Measured with `torch.autograd.graph.saved_tensors_hooks`, counting each
    tensor once (a tanh output saved by tanh and by the next Linear is one tensor).

    Args:
        module: maps (B, D) inputs to (B, C) logits; X: (B, D); y: (B,) labels for cross-entropy.
    """
    parameters = {p.untyped_storage().data_ptr() for p in module.parameters()}
    saved: dict[int, int] = {}  # data pointer -> bytes

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in parameters:
            saved[t.data_ptr()] = max(saved.get(t.data_ptr(), 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(module(X), y)
    return sum(saved.values())
