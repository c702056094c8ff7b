"""Tests for course_utils.layers.adapters: identity at init, what trains, what stays frozen."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.layers import (
    Adapter,
    LoRALinear,
    add_adapters,
    add_lora,
    base_weight_changes,
    count_parameters,
    freeze,
    merge_lora,
    trainable_parameter_names,
)
from course_utils.models import GPTConfig, TinyGPT


def tiny_model(n_classes: int = 2) -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_embd=16, n_classes=n_classes))


def test_adapter_is_identity_at_init_and_not_after_a_step():
    adapter = Adapter(16, 4)
    h = torch.randn(3, 5, 16)
    torch.testing.assert_close(adapter(h), h, rtol=0, atol=0)
    assert adapter.down.weight.shape == (4, 16) and adapter.up.weight.shape == (16, 4)
    opt = torch.optim.SGD(adapter.parameters(), lr=0.1)
    adapter(h).pow(2).sum().backward()
    assert adapter.up.weight.grad.abs().sum() > 0  # the zero up-projection still receives a gradient
    opt.step()
    assert not torch.allclose(adapter(h), h)


def test_adapter_gradient_matches_autograd_of_the_formula():
    # float64: gradients of h + up(gelu(down(h))) computed by hand through torch ops
    torch.manual_seed(0)
    adapter = Adapter(6, 3, init_std=0.5).double()
    nn.init.normal_(adapter.up.weight)
    h = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    out = adapter(h)
    ref = h + F.linear(F.gelu(F.linear(h, adapter.down.weight, adapter.down.bias)), adapter.up.weight, adapter.up.bias)
    torch.testing.assert_close(out, ref)
    assert torch.autograd.gradcheck(adapter, (h,))


def test_lora_equals_base_at_init_and_trains_only_its_factors():
    torch.manual_seed(0)
    base = nn.Linear(10, 6)
    lora = LoRALinear(base, rank=2, alpha=4)
    x = torch.randn(5, 10)
    torch.testing.assert_close(lora(x), base(x), rtol=0, atol=0)
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["lora_A", "lora_B"]
    assert count_parameters(lora) == 2 * 10 + 6 * 2
    assert lora.scaling == 2.0


def test_lora_forward_equals_merged_weight_in_float64():
    torch.manual_seed(0)
    base = nn.Linear(8, 5).double()
    lora = LoRALinear(base, rank=3, alpha=6)
    nn.init.normal_(lora.lora_B)
    x = torch.randn(4, 8, dtype=torch.float64)
    torch.testing.assert_close(lora(x), F.linear(x, lora.merged_weight(), base.bias), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b: (x @ a.T @ b.T).sum(), (lora.lora_A, lora.lora_B))


def test_add_adapters_keeps_outputs_then_trains_only_adapters_and_head():
    model = tiny_model()
    idx = torch.randint(1, 40, (4, 10))
    before_logits = model(idx)[0].detach()
    base_state = {k: v.clone() for k, v in model.state_dict().items() if "classifier" not in k}
    original = copy.deepcopy(model)
    n = add_adapters(model, bottleneck=4)
    torch.testing.assert_close(model(idx)[0], before_logits, rtol=0, atol=0)  # identity at insertion
    per_adapter = 16 * 4 + 4 + 4 * 16 + 16
    assert n == 2 * 2 * per_adapter + (16 * 2 + 2)  # 2 blocks x 2 adapters, plus the head
    names = trainable_parameter_names(model)
    assert all("adapter" in name or name.startswith("classifier") for name in names)
    # train a few steps: base weights provably unchanged, adapters changed
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    y = torch.tensor([0, 1, 0, 1])
    for _ in range(5):
        loss = F.cross_entropy(model.classify(idx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.state_dict()
    for k, v in base_state.items():
        assert torch.equal(after[k], v), k
    changes = base_weight_changes(original, model)
    assert changes["classifier.weight"] > 0  # the head trained...
    assert max(v for k, v in changes.items() if not k.startswith("classifier")) == 0.0  # ...nothing else changed
    assert model.transformer.h[0].adapter_attn.up.weight.abs().sum() > 0


def test_add_lora_freezes_base_and_keeps_outputs():
    model = tiny_model()
    idx = torch.randint(1, 40, (2, 10))
    before = model(idx)[0].detach()
    n = add_lora(model, rank=2, targets=("attn.c_attn", "mlp.c_fc"))
    torch.testing.assert_close(model(idx)[0], before, rtol=0, atol=0)
    per_block = (2 * 16 + 48 * 2) + (2 * 16 + 64 * 2)
    assert n == 2 * per_block + (16 * 2 + 2)
    assert all(("lora_" in name) or name.startswith("classifier") for name in trainable_parameter_names(model))
    assert isinstance(model.transformer.h[1].mlp.c_fc, LoRALinear)
    assert not isinstance(model.transformer.h[1].attn.c_proj, LoRALinear)


def test_lora_merge_is_one_linear_with_the_same_outputs_and_leaves_the_layer_alone():
    torch.manual_seed(0)
    base = nn.Linear(6, 5).double()
    lora = LoRALinear(base, rank=2, alpha=6.0)
    nn.init.normal_(lora.lora_B)
    x = torch.randn(3, 6, dtype=torch.float64)
    before = lora(x).detach()
    merged = lora.merge()
    assert type(merged) is nn.Linear and merged is not base
    torch.testing.assert_close(merged.weight, lora.merged_weight(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(merged(x), before, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lora(x), before, rtol=0, atol=0)  # the LoRA layer itself is unchanged


def test_merge_lora_gives_back_the_base_architecture():
    base = tiny_model()
    model = copy.deepcopy(base)
    add_lora(model, rank=2, targets=("attn.c_attn", "mlp.c_proj"))
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, LoRALinear):
                layer.lora_B.normal_(std=0.1)
    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert any(isinstance(m, LoRALinear) for m in model.modules())  # the model passed in is kept
    assert [(n, p.shape) for n, p in merged.named_parameters()] == [(n, p.shape) for n, p in base.named_parameters()]
    idx = torch.randint(1, 40, (2, 10))
    torch.testing.assert_close(merged(idx)[0], model(idx)[0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(merged(idx)[0], base(idx)[0])  # the update is in the weights now
    with pytest.raises(ValueError, match="no LoRALinear"):
        merge_lora(base)
    with pytest.raises(TypeError, match="model"):
        merge_lora("model")


def test_the_argument_checks_keep_the_signatures():
    import inspect

    assert list(inspect.signature(Adapter).parameters) == ["d_model", "bottleneck", "init_std"]
    assert list(inspect.signature(LoRALinear).parameters) == ["base", "rank", "alpha"]
    assert LoRALinear(nn.Linear(4, 4), rank=2).scaling == 1.0  # alpha None: alpha = rank
    assert copy.deepcopy(LoRALinear(nn.Linear(4, 4), 2)).rank == 2  # deepcopy does not call __init__ again


def test_base_weight_changes_sees_lora_base_and_real_changes():
    base = tiny_model()
    adapted = tiny_model()
    add_lora(adapted, rank=2)
    assert max(base_weight_changes(base, adapted).values()) == 0.0
    with torch.no_grad():
        adapted.transformer.h[0].attn.c_attn.base.weight[0, 0] += 0.5
    changes = base_weight_changes(base, adapted)
    assert changes["transformer.h.0.attn.c_attn.weight"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="counterpart"):
        base_weight_changes(base, nn.Linear(2, 2))


def test_add_helpers_without_head_training():
    model = tiny_model()
    add_adapters(model, 2, train_head=False)
    assert not any(name.startswith("classifier") for name in trainable_parameter_names(model))


def test_count_parameters_counts_shared_weights_once():
    model = tiny_model(n_classes=0)
    total = count_parameters(model, trainable_only=False)
    assert total == sum(p.numel() for p in set(model.parameters()))
    assert freeze(model) == 0 and count_parameters(model) == 0
    assert count_parameters(model, trainable_only=False) == total


def test_bad_input():
    with pytest.raises(ValueError, match="bottleneck"):
        Adapter(16, 0)
    with pytest.raises(ValueError, match="d_model"):
        Adapter(-1, 4)
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 4), rank=0)
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(4, 3), rank=5)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(4, 4), rank=2, alpha=0)
    with pytest.raises(ValueError, match="init_std"):
        Adapter(4, 2, init_std=-1.0)
    with pytest.raises(TypeError, match="base"):
        LoRALinear(nn.Conv1d(4, 4, 1), rank=1)
    with pytest.raises(ValueError, match="bottleneck"):
        add_adapters(tiny_model(), 0)
    with pytest.raises(ValueError, match="rank"):
        add_lora(tiny_model(), 0)
    with pytest.raises(ValueError, match="targets"):
        add_lora(tiny_model(), 2, targets=("attn.q_proj",))
    with pytest.raises(TypeError, match="TinyGPT"):
        add_adapters(nn.Linear(3, 3), 2)
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters("model")
    twice = tiny_model()
    add_adapters(twice, 2)
    with pytest.raises(ValueError, match="already"):
        add_adapters(twice, 2)
    lora_twice = tiny_model()
    add_lora(lora_twice, 2)
    with pytest.raises(ValueError, match="already"):
        add_lora(lora_twice, 2)
