"""Notebook 09's widget (the bottleneck sweep) and the reader of data/README.md's transfer tables."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from course_utils.layers.adapters import add_adapters, count_parameters
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.text import WordTokenizer, make_coherence_task, make_sentiment_task
from course_utils.widgets.adapters import (
    AdapterSweep,
    adapter_share_table,
    compute_adapter_sweep,
    compute_parameter_share,
    make_bottleneck_explorer,
    read_transfer_table,
    steps_to_reach,
)


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
    return compute_adapter_sweep(tiny_model, task, tokenizer, (1, 4, 2), n_labels=8, steps=6, eval_every=3, n_eval=20)


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
    again = compute_adapter_sweep(tiny_model, task, tokenizer, (1, 2, 4), n_labels=8, steps=6, eval_every=3, n_eval=20)
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
        (dict(split="train"), "split"),
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


def test_sweep_on_coherence_measures_the_chosen_split(tiny_model, tokenizer):
    coherence = make_coherence_task(n_train=16, n_val=12, n_test=10, seed=0)
    kwargs = dict(n_labels=8, steps=2, eval_every=2, n_eval=50)
    val = compute_adapter_sweep(tiny_model, coherence, tokenizer, (2,), **kwargs)
    test = compute_adapter_sweep(tiny_model, coherence, tokenizer, (2,), split="test", **kwargs)
    assert val.split == "val" and test.split == "test" and val.task_name == "coherence"
    # n_eval is capped by the split's size: accuracies are multiples of 1/12 (val) and 1/10 (test)
    assert all(abs(a * 12 - round(a * 12)) < 1e-6 for a in val.accuracy[2])
    assert all(abs(a * 10 - round(a * 10)) < 1e-6 for a in test.accuracy[2])


def test_steps_to_reach():
    sweep = AdapterSweep((1,), [0, 5, 10], {1: [0.5, 0.96, 1.0]}, {1: 10}, {1: 100}, 5, 90, 8, 1e-3)
    assert steps_to_reach(sweep, 1) == 5
    assert steps_to_reach(sweep, 1, target=1.0) == 10
    assert steps_to_reach(dataclasses.replace(sweep, accuracy={1: [0.5, 0.6, 0.7]}), 1) is None
    assert steps_to_reach(dataclasses.replace(sweep, accuracy={1: [0.5, 0.91, 0.7]}), 1) == 5  # default 0.9
    with pytest.raises(ValueError, match="bottleneck"):
        steps_to_reach(sweep, 3)


# ---------------------------------------------------------------- the explorer
def test_explorer_figure_changes_with_the_slider(sweep):
    explorer = make_bottleneck_explorer(sweep)
    pictures = set()
    for b in sweep.bottlenecks:
        explorer.set(bottleneck=b)
        pictures.add(explorer.png)
        assert f"r = <b>{b}</b>" in explorer.caption.value
    assert len(pictures) == len(sweep.bottlenecks)


def test_explorer_rejects_a_wrong_sweep():
    with pytest.raises(TypeError, match="sweep"):
        make_bottleneck_explorer(sweep={"not": "a sweep"})


# ---------------------------------------------------------------- the 5-seed tables of data/README.md
def test_read_transfer_table_reads_both_tasks():
    for task in ("coherence", "sentiment"):
        table = read_transfer_table(task)
        assert {"static", "scratch", "linear_probe", "adapter", "lora", "full"} <= set(table)
        for rows in table.values():
            for mean, std, lo, hi in rows.values():
                assert 0 <= lo <= mean <= hi <= 1 and std >= 0
    assert 64 in read_transfer_table("coherence")["adapter"]
    assert 128 not in read_transfer_table("sentiment")["adapter"]  # "-" in the table: not measured


def test_read_transfer_table_on_a_small_file(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "**Coherence**: test accuracy, mean\n\n| method | chosen | 16 labels | 32 labels |\n|---|---|---|---|\n"
        "| probe | lr 1 | 0.500 ± 0.010 (0.49-0.51) | - |\n| adapter | lr 2 | 0.600 ± 0.020 (0.58-0.62) | "
        "0.700 ± 0.000 (0.70-0.70) |\n\nSome text.\n",
        encoding="utf-8",  # "±": read_transfer_table reads UTF-8, Windows would write cp1252
    )
    table = read_transfer_table("coherence", readme)
    assert table == {
        "probe": {16: (0.5, 0.01, 0.49, 0.51)},
        "adapter": {16: (0.6, 0.02, 0.58, 0.62), 32: (0.7, 0, 0.7, 0.7)},
    }
    with pytest.raises(ValueError, match="task"):
        read_transfer_table("negation")
    with pytest.raises(ValueError, match="Sentiment"):
        read_transfer_table("sentiment", readme)
