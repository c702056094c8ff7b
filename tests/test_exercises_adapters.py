"""Notebook 09's exercise checks: each accepts correct alternative forms and rejects look-alikes."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.adapters import (
    check_adapter_layer,
    check_lora_grads,
    check_lora_linear,
    reference_lora_grads,
)
from course_utils.layers.adapters import Adapter, LoRALinear


# ------------------------------------------------------------------------------------ the adapter
class PlainAdapter(nn.Module):
    """The solution's form: two Linear layers with biases, GELU, zero up-projection."""

    def __init__(self, d_model, bottleneck, act=F.gelu, zero_up=True, residual=True, init_down=True):
        super().__init__()
        self.down, self.up = nn.Linear(d_model, bottleneck), nn.Linear(bottleneck, d_model)
        self.act, self.residual = act, residual
        if zero_up:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)
        if not init_down:
            nn.init.zeros_(self.down.weight)
            nn.init.zeros_(self.down.bias)

    def forward(self, h):
        out = self.up(self.act(self.down(h)))
        return h + out if self.residual else out


class NoBiasReLUAdapter(nn.Module):
    """An accepted alternative: no biases, ReLU, the residual added in a different order."""

    def __init__(self, d_model, bottleneck):
        super().__init__()
        self.down = nn.Linear(d_model, bottleneck, bias=False)
        self.up = nn.Linear(bottleneck, d_model, bias=False)
        nn.init.zeros_(self.up.weight)
        nn.init.normal_(self.down.weight, std=0.5)

    def forward(self, h):
        return F.linear(torch.relu(F.linear(h, self.down.weight)), self.up.weight) + h


def adapter_like(**kwargs):
    class Variant(PlainAdapter):
        def __init__(self, d_model, bottleneck):
            super().__init__(d_model, bottleneck, **kwargs)

    return Variant


def test_adapter_check_accepts_the_package_and_alternative_forms():
    assert check_adapter_layer(Adapter).passed
    assert check_adapter_layer(PlainAdapter).passed
    assert check_adapter_layer(NoBiasReLUAdapter).passed
    assert check_adapter_layer(adapter_like(act=torch.tanh)).passed


def test_adapter_check_rejects_look_alikes():
    random_up = check_adapter_layer(adapter_like(zero_up=False))
    assert not random_up.passed and "identity" in random_up.message
    no_residual = check_adapter_layer(adapter_like(residual=False))
    assert not no_residual.passed and "residual" in no_residual.message
    linear = check_adapter_layer(adapter_like(act=lambda z: z))
    assert not linear.passed and "nonlinearity" in linear.message
    dead = check_adapter_layer(adapter_like(init_down=False))  # everything zero: the identity, but frozen forever
    assert not dead.passed and "no gradient" in dead.message


def test_adapter_check_explains_errors_and_stubs():
    class Stub(nn.Module):
        def __init__(self, d_model, bottleneck):
            super().__init__()
            raise NotImplementedError()

    class Broken(PlainAdapter):
        def forward(self, h):
            raise RuntimeError("shape mismatch")

    assert check_adapter_layer(Stub).status == "not attempted"
    broken = check_adapter_layer(Broken)
    assert not broken.passed and "RuntimeError" in broken.message
    assert not check_adapter_layer(lambda d, r: None).passed  # not a class


# ------------------------------------------------------------------------------------------ LoRA
class PlainLoRA(nn.Module):
    """The solution's form, with switches for the look-alikes."""

    def __init__(self, base, rank, alpha, scale="alpha/r", init="B=0", merge="scaled", freeze=True, in_place=False):
        super().__init__()
        self.base = base
        if freeze:
            base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        if init == "both random":
            nn.init.normal_(self.lora_B)
        elif init == "A=0":  # an accepted alternative: A zero, B random (B A = 0, and A gets a gradient)
            nn.init.normal_(self.lora_B)
            nn.init.zeros_(self.lora_A)
        elif init == "both zero":
            nn.init.zeros_(self.lora_A)
        self.scale = {"alpha/r": alpha / rank, "r/alpha": rank / alpha, "alpha": alpha}[scale]
        self.merge_kind, self.in_place = merge, in_place

    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.lora_A.T @ self.lora_B.T)

    def merge(self):
        update = self.lora_B @ self.lora_A
        update = update * self.scale if self.merge_kind == "scaled" else update
        if self.in_place:
            with torch.no_grad():
                self.base.weight += update
            return self.base
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += update
        return merged


class LoRAMergeReturnsWeight(PlainLoRA):
    """An accepted alternative: merge() returns the merged weight tensor instead of a Linear."""

    def merge(self):
        return self.base.weight + self.scale * self.lora_B @ self.lora_A


def lora_like(**kwargs):
    class Variant(PlainLoRA):
        def __init__(self, base, rank, alpha):
            super().__init__(base, rank, alpha, **kwargs)

    return Variant


def test_lora_check_accepts_the_package_and_alternative_forms():
    assert check_lora_linear(LoRALinear).passed
    assert check_lora_linear(PlainLoRA).passed
    assert check_lora_linear(LoRAMergeReturnsWeight).passed
    assert check_lora_linear(lora_like(init="A=0")).passed


def test_lora_check_rejects_look_alikes():
    both_random = check_lora_linear(lora_like(init="both random"))
    assert not both_random.passed and any("start lora_B at zero" in d for d in both_random.details)
    inverted = check_lora_linear(lora_like(scale="r/alpha"))
    assert not inverted.passed and any("r / alpha" in d for d in inverted.details)
    alpha_only = check_lora_linear(lora_like(scale="alpha"))
    assert not alpha_only.passed and any("scaled by alpha;" in d for d in alpha_only.details)
    unscaled_merge = check_lora_linear(lora_like(merge="unscaled"))
    assert not unscaled_merge.passed and any("without the scale" in d for d in unscaled_merge.details)
    in_place = check_lora_linear(lora_like(in_place=True))
    assert not in_place.passed and "twice" in in_place.message
    unfrozen = check_lora_linear(lora_like(freeze=False))
    assert not unfrozen.passed and "trainable" in unfrozen.message
    dead = check_lora_linear(lora_like(init="both zero"))
    assert not dead.passed and "zero" in dead.message


# -------------------------------------------------------------------------------- LoRA's gradients
def test_reference_lora_grads_is_autograd():
    torch.manual_seed(0)
    base = nn.Linear(6, 4).double()
    layer = LoRALinear(base, rank=3, alpha=5.0)
    nn.init.normal_(layer.lora_B)
    x = torch.randn(7, 6, dtype=torch.float64)
    grad_out = torch.randn(7, 4, dtype=torch.float64)
    layer(x).backward(grad_out)
    dA, dB = reference_lora_grads(x, grad_out, layer.lora_A.detach(), layer.lora_B.detach(), 5.0, 3)
    torch.testing.assert_close(dA, layer.lora_A.grad)
    torch.testing.assert_close(dB, layer.lora_B.grad)


def test_lora_grads_check_accepts_alternatives():
    def einsum_form(x, grad_out, A, B, alpha, rank):  # another correct expression, returned as a list
        s = alpha / rank
        return [s * torch.einsum("no,or,ni->ri", grad_out, B, x), s * torch.einsum("no,ri,ni->or", grad_out, A, x)]

    def autograd_form(x, grad_out, A, B, alpha, rank):
        A, B = A.clone().requires_grad_(True), B.clone().requires_grad_(True)
        y = (alpha / rank) * x @ A.T @ B.T
        return torch.autograd.grad(y, (A, B), grad_out)

    assert check_lora_grads(einsum_form).passed
    assert check_lora_grads(autograd_form).passed


def test_lora_grads_check_rejects_look_alikes():
    def no_scale(x, grad_out, A, B, alpha, rank):
        return (grad_out @ B).T @ x, grad_out.T @ (x @ A.T)

    def swapped(x, grad_out, A, B, alpha, rank):  # dB as if the update were A^T B^T in the other order
        s = alpha / rank
        return s * (grad_out @ B).T @ x, s * (x @ A.T).T @ grad_out

    def inverted(x, grad_out, A, B, alpha, rank):
        return reference_lora_grads(x, grad_out, A, B, rank, alpha)

    for wrong in (no_scale, swapped, inverted):
        assert not check_lora_grads(wrong).passed
