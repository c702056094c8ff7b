"""Parameter-efficient fine-tuning: bottleneck adapters and LoRA, and helpers to put them in a TinyGPT.

Both start as the identity, so inserting them leaves a pre-trained model's outputs exactly as
they were; training then changes only their few parameters while the base weights stay frozen.

- Adapter (Houlsby et al., 2019): h + up(gelu(down(h))), a narrow bottleneck on a residual path,
  with the up-projection initialised to zero.
- LoRA (Hu et al., 2021): a frozen Linear W plus a low-rank update (alpha / r) * B A, with B = 0
  at the start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

LORA_TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def _check_positive_int(where: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


class Adapter(nn.Module):
    """Bottleneck adapter: down-project, GELU, up-project, plus the input (identity at init)."""

    def __init__(self, d_model: int, bottleneck: int, init_std: float = 1e-3):
        """
        Args:
            d_model: width C of the vectors it adapts.
            bottleneck: width of the narrow middle layer (a few to a few dozen).
            init_std: standard deviation of the down-projection's initial weights; the
                up-projection starts at exactly zero, so the adapter starts as the identity.
        """
        super().__init__()
        _check_positive_int("Adapter", "d_model", d_model)
        _check_positive_int("Adapter", "bottleneck", bottleneck)
        self.down = nn.Linear(d_model, bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, d_model)
        nn.init.normal_(self.down.weight, std=init_std)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)  # zero, so the adapter adds nothing until it is trained
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.act(self.down(h)))  # (..., C) -> (..., bottleneck) -> (..., C)


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / rank) * B @ A, with B = 0 at init."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None):
        """
        Args:
            base: the Linear layer to adapt; its weight and bias are frozen (requires_grad False).
            rank: r, the rank of the update (1 to min(in, out) features).
            alpha: scale numerator; the update is multiplied by alpha / rank. None uses alpha = rank
                (a scale of 1).
        """
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear: base must be an nn.Linear, got {type(base).__name__}")
        _check_positive_int("LoRALinear", "rank", rank)
        if rank > min(base.in_features, base.out_features):
            raise ValueError(
                f"LoRALinear: rank must be <= min(in_features, out_features) = "
                f"{min(base.in_features, base.out_features)}, got {rank}"
            )
        alpha = float(rank if alpha is None else alpha)
        if not alpha > 0:
            raise ValueError(f"LoRALinear: alpha must be > 0, got {alpha!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=w.device, dtype=w.dtype))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=w.device, dtype=w.dtype))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear initialises its weight

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (..., in) -> (..., r) -> (..., out): never forms the full (out, in) update
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged_weight(self) -> torch.Tensor:
        """W + (alpha / r) B A, the single (out, in) matrix this layer now computes with."""
        return self.base.weight + self.scaling * (self.lora_B @ self.lora_A)


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
