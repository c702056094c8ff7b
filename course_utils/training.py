"""A small, readable training loop with a progress bar, a history and evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm


@dataclass
class History:
    """What happened during training, one entry per step or per epoch."""

    step_loss: list[float] = field(default_factory=list)  # training loss after each optimizer step
    epoch_loss: list[float] = field(default_factory=list)  # mean training loss over each epoch
    val_loss: list[float] = field(default_factory=list)  # validation loss after each epoch
    val_accuracy: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    examples_seen: list[int] = field(default_factory=list)  # cumulative examples after each step


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose largest logit is the true class."""
    if logits.shape[0] != y.shape[0]:
        raise ValueError(
            f"accuracy: logits and y must have the same first dimension, got {logits.shape[0]} and {y.shape[0]}"
        )
    return (logits.argmax(dim=-1) == y).float().mean().item()


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: Callable = nn.functional.cross_entropy
) -> dict[str, float]:
    """Loss and (for class labels) accuracy of `model` on `(X, y)`, in eval mode."""
    was_training = model.training
    model.eval()
    out = model(X)
    result = {"loss": loss_fn(out, y).item()}
    if y.dtype == torch.long and out.dim() == 2:
        result["accuracy"] = accuracy(out, y)
    model.train(was_training)
    return result


def train_model(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    loss_fn: Callable = nn.functional.cross_entropy,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    seed: int = 0,
    progress: bool = True,
    stop_on_nan: bool = True,
) -> History:
    """Mini-batch training on tensors held in memory.

    Args:
        model, optimizer: what to train and how.
        X, y: training inputs (N, ...) and targets (N, ...).
        epochs: passes over the data.
        batch_size: examples per step, in [1, N].
        loss_fn: `loss_fn(model(xb), yb)` gives a scalar.
        X_val, y_val: optional validation data evaluated after each epoch.
        seed: seeds the shuffling, so two runs see the same batches.
        progress: show a `tqdm` bar with the running loss.
        stop_on_nan: stop (and say so in the bar) when the loss becomes NaN or infinite.

    Returns:
        A `History`.
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"train_model: X and y must have the same length, got {n} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"train_model: batch_size must be an int in [1, {n}] (the data set size), got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"train_model: epochs must be a positive int, got {epochs!r}")
    g = torch.Generator().manual_seed(int(seed))
    history = History()
    seen = 0
    bar = tqdm(range(epochs), desc="training", disable=not progress, leave=False)
    model.train()
    for _ in bar:
        perm = torch.randperm(n, generator=g)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = loss_fn(model(X[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            seen += len(idx)
            history.step_loss.append(value)
            history.examples_seen.append(seen)
            total += value * len(idx)
            count += len(idx)
            if stop_on_nan and not torch.isfinite(loss):
                bar.set_postfix_str("loss is not finite: stopped (learning rate too high?)")
                history.epoch_loss.append(float("nan"))
                return history
        history.epoch_loss.append(total / count)
        if X_val is not None and y_val is not None:
            metrics = evaluate(model, X_val, y_val, loss_fn)
            history.val_loss.append(metrics["loss"])
            if "accuracy" in metrics:
                history.val_accuracy.append(metrics["accuracy"])
        bar.set_postfix(loss=f"{history.epoch_loss[-1]:.4f}")
    return history
