"""Checks for notebook 09, Adapter Layers: an adapter's parameter count and a LoRA merge.

`reference_adapter_forward` is the from-scratch adapter the notebook teaches; the tests hold it
against the package's `Adapter`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils.checks import Case, CheckResult, check_function


def reference_adapter_parameters(d_model: int, bottleneck: int) -> int:
    """Parameters of one bottleneck adapter with biases: down (d*r + r) plus up (r*d + d)."""
    return 2 * d_model * bottleneck + bottleneck + d_model


def reference_adapter_forward(
    h: torch.Tensor, w_down: torch.Tensor, b_down: torch.Tensor, w_up: torch.Tensor, b_up: torch.Tensor
) -> torch.Tensor:
    """h + W_up GELU(W_down h + b_down) + b_up, for h of shape (..., d); W_down (r, d), W_up (d, r)."""
    return h + F.linear(F.gelu(F.linear(h, w_down, b_down)), w_up, b_up)


def reference_merge_lora(
    weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, alpha: float, rank: int
) -> torch.Tensor:
    """W + (alpha / rank) B A: weight (out, in), lora_A (rank, in), lora_B (out, rank)."""
    return weight + (alpha / rank) * (lora_B @ lora_A)


def check_adapter_parameters(adapter_parameters) -> CheckResult:
    """Check `adapter_parameters(d_model, bottleneck)`: the parameter count of one adapter with biases."""
    cases = [Case((d, r)) for d, r in ((64, 16), (64, 1), (768, 64), (10, 3), (1, 1))]
    return check_function(
        "adapter_parameters",
        adapter_parameters,
        cases,
        reference=reference_adapter_parameters,
        hint="Two Linear layers: down maps d -> r (a (r, d) weight and r biases), up maps r -> d "
        "(a (d, r) weight and d biases). Add all four.",
        success="It equals count_parameters(Adapter(d_model, bottleneck)).",
    )


def _lora_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return [
        Case((rand(5, 4), rand(2, 4), rand(5, 2), 2.0, 2), label="(W (5, 4), A (2, 4), B (5, 2), alpha 2, rank 2)"),
        Case((rand(3, 7), rand(1, 7), rand(3, 1), 8.0, 1), label="(W (3, 7), rank 1, alpha 8: scale 8)"),
        Case((rand(6, 6), rand(4, 6), rand(6, 4), 1.0, 4), label="(W (6, 6), rank 4, alpha 1: scale 0.25)"),
        Case(
            (rand(4, 3), rand(2, 3), torch.zeros(4, 2, dtype=torch.float64), 16.0, 2),
            label="(B = 0, as at initialisation: the merge is W itself)",
        ),
    ]


def check_merge_lora(merge_lora) -> CheckResult:
    """Check `merge_lora(weight, lora_A, lora_B, alpha, rank)` against W + (alpha / rank) B A."""
    return check_function(
        "merge_lora",
        merge_lora,
        _lora_cases(),
        reference=reference_merge_lora,
        atol=1e-10,
        rtol=1e-8,
        hint="The update is B @ A, of shape (out, rank) @ (rank, in) = (out, in), the weight's shape; "
        "scale it by alpha / rank (not alpha alone, not rank / alpha) and add it to the weight.",
        success="One (out, in) matrix now does what base + LoRA did, at no extra cost per token.",
    )
