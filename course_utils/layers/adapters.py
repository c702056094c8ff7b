"""Parameter-efficient fine-tuning: bottleneck adapters and LoRA, and helpers to put them in a TinyGPT.

Both start as the identity, so inserting them leaves a pre-trained model's outputs exactly as
they were; training then changes only their few parameters while the base weights stay frozen.

- Adapter (Houlsby et al., 2019): h + up(gelu(down(h))), a narrow bottleneck on a residual path,
  with the up-projection initialised to zero.
- LoRA (Hu et al., 2021): a frozen Linear W plus a low-rank update (alpha / r) B A, with B = 0
  at the start; `merge()` folds the update into one Linear after training.

The lesson (notebook 09) is the two classes `Adapter` and `LoRALinear`, the same lines as the
notebook's `mechanism` cells (a test keeps them identical); they check nothing. Their argument
checks run before their `__init__` (`_checked_init`, below them), and the rest of the module
(`add_adapters`, `add_lora`, `merge_lora`, ...) is the plumbing that puts them in a TinyGPT.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence

import torch
from torch import nn

LORA_TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


class Adapter(nn.Module):
    """Bottleneck adapter: h + up(gelu(down(h))), the identity until it is trained."""

    def __init__(self, d_model, bottleneck, init_std=1e-3):
        super().__init__()
        self.down = nn.Linear(d_model, bottleneck)  # C -> r
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, d_model)  # r -> C
        nn.init.normal_(self.down.weight, std=init_std)  # small but not zero: the gradient reaches `up` through it
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # zero: the adapter adds nothing until it is trained
        nn.init.zeros_(self.up.bias)

    def forward(self, h):
        # h (..., C) -> (..., r) -> (..., C), added to h itself: the residual path keeps what was there
        return h + self.up(self.act(self.down(h)))


class LoRALinear(nn.Module):
    """A frozen nn.Linear W plus a trainable low-rank update (alpha / r) B A, with B = 0 at the start."""

    def __init__(self, base, rank, alpha=None):
        super().__init__()
        self.base = base.requires_grad_(False)  # W and b stay as pre-trained
        self.rank, self.alpha = rank, float(rank if alpha is None else alpha)
        self.scaling = self.alpha / rank  # keeps the update's size when r changes: no lr to re-tune
        like = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **like))  # (r, in): random
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **like))  # (out, r): zero, so B A = 0
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear initialises its weight

    def forward(self, x):
        # (..., in) -> (..., r) -> (..., out): the (out, in) update B A is never formed
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merge(self):
        # One nn.Linear with weight W + (alpha / r) B A: after training, as cheap to run as the base layer
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.scaling * (self.lora_B @ self.lora_A)  # (out, r) @ (r, in) = (out, in)
        return merged

    # Not part of the lesson: what code that expects an nn.Linear reads.
    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def merged_weight(self) -> torch.Tensor:
        """W + (alpha / r) B A, the single (out, in) matrix this layer now computes with."""
        return self.base.weight + self.scaling * (self.lora_B @ self.lora_A)


def _check_positive_int(where: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


def _check_adapter(d_model, bottleneck, init_std=1e-3) -> None:
    _check_positive_int("Adapter", "d_model", d_model)
    _check_positive_int("Adapter", "bottleneck", bottleneck)
    if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not init_std >= 0:
        raise ValueError(f"Adapter: init_std must be a number >= 0, got {init_std!r}")


def _check_lora(base, rank, alpha=None) -> None:
    if not isinstance(base, nn.Linear):
        raise TypeError(f"LoRALinear: base must be an nn.Linear, got {type(base).__name__}")
    _check_positive_int("LoRALinear", "rank", rank)
    if rank > min(base.in_features, base.out_features):
        raise ValueError(
            f"LoRALinear: rank must be <= min(in_features, out_features) = "
            f"{min(base.in_features, base.out_features)}, got {rank}"
        )
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0):
        raise ValueError(f"LoRALinear: alpha must be a number > 0 or None (alpha = rank), got {alpha!r}")


def _checked_init(cls, check) -> None:
    """Run `check(*args, **kwargs)` before `cls.__init__`: the lesson's lines stay free of argument checks."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        check(*args, **kwargs)
        init(self, *args, **kwargs)

    cls.__init__ = __init__


_checked_init(Adapter, _check_adapter)
_checked_init(LoRALinear, _check_lora)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (each shared tensor counted once), only trainable ones by default."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"count_parameters: model must be an nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def trainable_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that training would change."""
    return [name for name, p in model.named_parameters() if p.requires_grad]


@torch.no_grad()
def base_weight_changes(base: nn.Module, adapted: nn.Module) -> dict[str, float]:
    """Largest absolute change of each of `base`'s parameters in `adapted` (0.0 means untouched).

    `adapted` is a fine-tuned copy of `base`, possibly with adapters, LoRA (whose wrapped layer's
    weight is found under `.base.`) or a new head (ignored: `base` does not have it).
    """
    found = dict(adapted.named_parameters())
    changes = {}
    for name, p in base.named_parameters():
        prefix, _, leaf = name.rpartition(".")
        q = found.get(name, found.get(f"{prefix}.base.{leaf}"))
        if q is None:
            raise ValueError(f"base_weight_changes: {name} has no counterpart in the adapted model")
        changes[name] = (q.detach().to(p.device, p.dtype) - p).abs().max().item()
    return changes


def freeze(model: nn.Module, keep_trainable: Sequence[nn.Module] = ()) -> int:
    """Freeze every parameter of `model` except those inside `keep_trainable`; return the trainable count."""
    for p in model.parameters():
        p.requires_grad_(False)
    for module in keep_trainable:
        if module is not None:
            for p in module.parameters():
                p.requires_grad_(True)
    return count_parameters(model)


def _blocks(model: nn.Module, where: str):
    blocks = getattr(getattr(model, "transformer", None), "h", None)
    if blocks is None or not all(hasattr(b, "adapter_attn") for b in blocks):
        raise TypeError(f"{where}: model must be a course_utils.models.TinyGPT, got {type(model).__name__}")
    return blocks


def add_adapters(model: nn.Module, bottleneck: int, train_head: bool = True) -> int:
    """Put an Adapter on the attention and MLP branch of every block of a TinyGPT; freeze the rest.

    The model is changed in place. Its outputs are unchanged until the adapters are trained.

    Args:
        model: a TinyGPT (without adapters yet).
        bottleneck: the adapters' middle width.
        train_head: keep the classification head (if the model has one) trainable.

    Returns:
        The number of trainable parameters afterwards (adapters, plus the head if kept).
    """
    blocks = _blocks(model, "add_adapters")
    _check_positive_int("add_adapters", "bottleneck", bottleneck)
    if any(isinstance(b.adapter_attn, Adapter) for b in blocks):
        raise ValueError("add_adapters: this model already has adapters")
    n_embd = model.transformer.wte.embedding_dim
    device = model.transformer.wte.weight.device
    new = []
    for block in blocks:
        block.adapter_attn = Adapter(n_embd, bottleneck).to(device)
        block.adapter_mlp = Adapter(n_embd, bottleneck).to(device)
        new += [block.adapter_attn, block.adapter_mlp]
    head = getattr(model, "classifier", None) if train_head else None
    return freeze(model, new + [head])


def add_lora(
    model: nn.Module,
    rank: int,
    alpha: float | None = None,
    targets: Sequence[str] = ("attn.c_attn", "attn.c_proj"),
    train_head: bool = True,
) -> int:
    """Wrap chosen Linear layers of every block of a TinyGPT in LoRALinear; freeze the rest.

    Args:
        model: a TinyGPT; changed in place.
        rank: the LoRA rank r.
        alpha: LoRA's scale numerator (None: alpha = rank).
        targets: which Linear layers in each block, from `LORA_TARGETS`
            ("attn.c_attn" the query/key/value projection, "attn.c_proj", "mlp.c_fc", "mlp.c_proj").
        train_head: keep the classification head (if the model has one) trainable.

    Returns:
        The number of trainable parameters afterwards (the LoRA factors, plus the head if kept).
    """
    blocks = _blocks(model, "add_lora")
    _check_positive_int("add_lora", "rank", rank)
    if isinstance(targets, str) or not targets or any(t not in LORA_TARGETS for t in targets):
        raise ValueError(f"add_lora: targets must be a non-empty sequence drawn from {LORA_TARGETS}, got {targets!r}")
    new = []
    for block in blocks:
        for target in targets:
            parent_name, child_name = target.split(".")
            parent = getattr(block, parent_name)
            layer = getattr(parent, child_name)
            if isinstance(layer, LoRALinear):
                raise ValueError(f"add_lora: {target} already has LoRA")
            wrapped = LoRALinear(layer, rank, alpha)
            setattr(parent, child_name, wrapped)
            new.append(wrapped)
    head = getattr(model, "classifier", None) if train_head else None
    freeze(model, [head])
    for layer in new:  # only the factors, never the wrapped base weights
        layer.lora_A.requires_grad_(True)
        layer.lora_B.requires_grad_(True)
    return count_parameters(model)


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of `model` with every LoRALinear replaced by its `merge()`: the base's architecture again.

    The copy computes what `model` computes (up to rounding) with exactly the layers, shapes and
    operations of the model before `add_lora`: a merged LoRA costs nothing at inference.
    `model` itself is not changed.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"merge_lora: model must be an nn.Module, got {type(model).__name__}")
    merged = copy.deepcopy(model)
    found = [(name, m) for name, m in merged.named_modules() if isinstance(m, LoRALinear)]
    if not found:
        raise ValueError("merge_lora: model has no LoRALinear layers (use add_lora first)")
    for name, layer in found:
        parent_name, _, child_name = name.rpartition(".")
        parent = merged.get_submodule(parent_name) if parent_name else merged
        setattr(parent, child_name, layer.merge())
    return merged
