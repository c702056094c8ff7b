"""Notebook 09's widget (bottleneck sweep) and exercise checks, against the package's Adapter and LoRALinear."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from course_utils.exercises.adapters import (
    check_adapter_parameters,
    check_merge_lora,
    reference_adapter_forward,
    reference_adapter_parameters,
    reference_merge_lora,
)
from course_utils.layers.adapters import Adapter, LoRALinear, add_adapters, count_parameters
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.text import WordTokenizer, make_sentiment_task
from course_utils.widgets.adapters import (
    AdapterSweep,
    adapter_share_table,
    compute_adapter_sweep,
    compute_parameter_share,
    make_bottleneck_explorer,
    steps_to_reach,
)

ATOL, RTOL = 1e-10, 1e-8  # float64: differences are rounding, so a real mistake cannot hide


@pytest.fixture(scope="module")
def tokenizer():
    return WordTokenizer.from_world()


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)
    return TinyGPT(config)


@pytest.fixture(scope="module")
def task():
    return make_sentiment_task(n_train=16, n_test=20, seed=0)


@pytest.fixture(scope="module")
def sweep(tiny_model, task, tokenizer):
    return compute_adapter_sweep(tiny_model, task, tokenizer, (1, 4, 2), n_labels=8, steps=6, eval_every=3, n_test=20)


# ---------------------------------------------------------------- compute_parameter_share
@pytest.mark.parametrize("d_model, n_layer, bottleneck", [(16, 1, 1), (16, 2, 4), (64, 2, 8), (32, 3, 5)])
def test_parameter_share_matches_counting_a_real_model(tokenizer, d_model, n_layer, bottleneck):
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=n_layer, n_head=2, n_embd=d_model)
    model = TinyGPT(config)
    base = count_parameters(model, trainable_only=False)
    model.add_classifier(2)
    trainable = add_adapters(model, bottleneck)
    got = compute_parameter_share(d_model, n_layer, bottleneck, base)
    assert got["trainable"] == trainable
    assert got["total"] == count_parameters(model, trainable_only=False)
    assert got["share"] == pytest.approx(trainable / got["total"])
    assert got["adapter"] + got["head"] == got["trainable"]


@pytest.mark.parametrize(
    "kwargs", [dict(d_model=0), dict(n_layer=-1), dict(bottleneck=1.5), dict(base_params=0), dict(n_classes=True)]
)
def test_parameter_share_rejects_bad_input(kwargs):
    args = dict(d_model=8, n_layer=1, bottleneck=2, base_params=100, n_classes=2) | kwargs
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        compute_parameter_share(**args)


# ---------------------------------------------------------------- compute_adapter_sweep
def test_sweep_shapes_counts_and_model_untouched(tiny_model, task, tokenizer, sweep):
    assert sweep.bottlenecks == (1, 2, 4)  # sorted
    assert sweep.eval_steps == [0, 3, 6]
    for b in sweep.bottlenecks:
        assert len(sweep.accuracy[b]) == 3
        assert all(0.0 <= a <= 1.0 for a in sweep.accuracy[b])
        share = compute_parameter_share(16, 1, b, sweep.base_params)
        assert sweep.trainable_params[b] == share["trainable"]
        assert sweep.total_params[b] == share["total"]
    # every run starts from the same head and identity adapters, so step 0 is the same for all sizes
    assert len({sweep.accuracy[b][0] for b in sweep.bottlenecks}) == 1
    assert tiny_model.classifier is None  # the model passed in was copied, never changed
    assert not any("adapter" in n and "down" in n for n, _ in tiny_model.named_parameters())
    rows = adapter_share_table(sweep)
    assert [r[0] for r in rows] == [1, 2, 4] and rows[0][1] < rows[-1][1]


def test_sweep_is_deterministic(tiny_model, task, tokenizer, sweep):
    again = compute_adapter_sweep(tiny_model, task, tokenizer, (1, 2, 4), n_labels=8, steps=6, eval_every=3, n_test=20)
    assert again.accuracy == sweep.accuracy


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bottlenecks=()), "bottlenecks"),
        (dict(bottlenecks=4), "bottlenecks"),
        (dict(bottlenecks=(2, 0)), "bottleneck"),
        (dict(steps=0), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(n_labels=2.5), "n_labels"),
    ],
)
def test_sweep_rejects_bad_input(tiny_model, task, tokenizer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_adapter_sweep(tiny_model, task, tokenizer, **kwargs)


def test_sweep_rejects_wrong_types(tiny_model, task, tokenizer):
    with pytest.raises(TypeError, match="model"):
        compute_adapter_sweep(nn.Linear(2, 2), task, tokenizer)
    with pytest.raises(TypeError, match="task"):
        compute_adapter_sweep(tiny_model, "task", tokenizer)


def test_steps_to_reach():
    sweep = AdapterSweep((1,), [0, 5, 10], {1: [0.5, 0.96, 1.0]}, {1: 10}, {1: 100}, 5, 90, 8, 1e-3)
    assert steps_to_reach(sweep, 1) == 5
    assert steps_to_reach(sweep, 1, target=1.0) == 10
    assert steps_to_reach(dataclasses.replace(sweep, accuracy={1: [0.5, 0.6, 0.7]}), 1) is None
    with pytest.raises(ValueError, match="bottleneck"):
        steps_to_reach(sweep, 3)


# ---------------------------------------------------------------- the explorer
def test_explorer_figure_changes_with_the_slider(sweep):
    explorer = make_bottleneck_explorer(sweep)
    pictures = set()
    for b in sweep.bottlenecks:
        explorer.set(bottleneck=b)
        pictures.add(explorer.image.value)
        assert f"r = <b>{b}</b>" in explorer.caption.value
    assert len(pictures) == len(sweep.bottlenecks)


def test_explorer_rejects_a_wrong_sweep():
    with pytest.raises(TypeError, match="sweep"):
        make_bottleneck_explorer(sweep={"not": "a sweep"})


# ---------------------------------------------------------------- references against the package
def test_reference_parameter_count_equals_the_package_adapter():
    for d, r in ((64, 16), (10, 3), (1, 1)):
        assert reference_adapter_parameters(d, r) == count_parameters(Adapter(d, r))


def test_reference_forward_equals_the_package_adapter_values_and_gradients():
    torch.manual_seed(0)
    adapter = Adapter(8, 3).double()
    nn.init.normal_(adapter.up.weight)  # non-zero, so the bottleneck branch matters
    nn.init.normal_(adapter.up.bias)
    nn.init.normal_(adapter.down.weight)
    h = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    h2 = h.detach().clone().requires_grad_(True)
    params = [adapter.down.weight, adapter.down.bias, adapter.up.weight, adapter.up.bias]
    copies = [p.detach().clone().requires_grad_(True) for p in params]
    out_pkg, out_ref = adapter(h), reference_adapter_forward(h2, *copies)
    torch.testing.assert_close(out_ref, out_pkg, atol=ATOL, rtol=RTOL)
    weight = torch.randn(out_pkg.shape, dtype=torch.float64)
    (out_pkg * weight).sum().backward()
    (out_ref * weight).sum().backward()
    torch.testing.assert_close(h2.grad, h.grad, atol=ATOL, rtol=RTOL)
    for p, c in zip(params, copies):
        torch.testing.assert_close(c.grad, p.grad, atol=ATOL, rtol=RTOL)


def test_reference_merge_equals_lora_linear():
    torch.manual_seed(0)
    lora = LoRALinear(nn.Linear(5, 7).double(), rank=2, alpha=6.0)
    nn.init.normal_(lora.lora_B)
    merged = reference_merge_lora(lora.base.weight, lora.lora_A, lora.lora_B, 6.0, 2)
    torch.testing.assert_close(merged, lora.merged_weight(), atol=ATOL, rtol=RTOL)
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(x @ merged.T + lora.base.bias, lora(x), atol=ATOL, rtol=RTOL)


# ---------------------------------------------------------------- the checks
def _raises_not_implemented(*args):
    raise NotImplementedError()


def _raises_other(*args):
    raise RuntimeError("shapes do not match")


@pytest.mark.parametrize(
    "check, reference, wrong",
    [
        (check_adapter_parameters, reference_adapter_parameters, lambda d, r: 2 * d * r),  # forgot the biases
        (
            check_merge_lora,
            reference_merge_lora,
            lambda w, a, b, alpha, r: w + alpha * (b @ a),
        ),  # scale alpha, not alpha / r
    ],
)
def test_checks(check, reference, wrong):
    assert check(reference).passed
    result = check(wrong)
    assert result.status == "not yet" and result.details, str(result)
    assert check(_raises_not_implemented).status == "not attempted"
    explained = check(_raises_other)
    assert explained.status == "not yet" and "RuntimeError" in explained.message
    assert not check(42).passed  # not a function: explained, never raised
