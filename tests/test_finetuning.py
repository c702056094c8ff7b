"""Fine-tuning across tasks: per-task defaults, the static baseline as a method, rows that carry their task,
and the per-task summaries and plot of `course_utils.results`."""

from __future__ import annotations

import pytest
import torch

from course_utils import finetuning
from course_utils.finetuning import (
    ALL_METHODS,
    FINETUNE_DEFAULTS,
    finetune_classifier,
    finetune_defaults,
    make_task,
    run_finetuning,
)
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.results import gap_over_scratch, plot_accuracy_vs_labels, report_lines, summarize, tasks_in
from course_utils.text import ClassificationTask, WordTokenizer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tok():
    return WordTokenizer.from_world()


def small_model(tok, seed: int = 0) -> TinyGPT:
    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))


# --- defaults per task -----------------------------------------------------------------------


def test_defaults_depend_on_the_task_and_fall_back_to_sentiment():
    coherence, sentiment = make_task("coherence", n_train=16), make_task("sentiment", n_train=16)
    assert finetune_defaults(coherence, "lora") == {"lr": 1e-2, "steps": 25}
    assert finetune_defaults(sentiment, "lora") == FINETUNE_DEFAULTS["sentiment"]["lora"]
    assert finetune_defaults("coherence", "static") == {"C": 10.0}
    other = ClassificationTask(["a b"] * 4, [1, 0, 1, 0], ["a"] * 2, [1, 0], ["b"] * 2, [1, 0], name="mine")
    assert finetune_defaults(other, "full") == FINETUNE_DEFAULTS["sentiment"]["full"]
    with pytest.raises(ValueError, match="method"):
        finetune_defaults(coherence, "prompting")
    with pytest.raises(ValueError, match="name"):
        make_task("negation")


def test_a_run_uses_its_tasks_defaults_unless_told_otherwise(tok):
    model, coherence = small_model(tok), make_task("coherence", n_train=16)
    lora = finetune_classifier(model, coherence, "lora", n_labels=8, tokenizer=tok)
    assert len(lora.losses) == FINETUNE_DEFAULTS["coherence"]["lora"]["steps"]
    assert lora.task == "coherence" and lora.test_seen_accuracy is None and 0 <= lora.val_accuracy <= 1
    told = finetune_classifier(model, coherence, "lora", n_labels=8, tokenizer=tok, steps=3)
    assert len(told.losses) == 3


# --- the static baseline as a method ---------------------------------------------------------


def test_static_is_a_method_with_the_regressions_parameters(tok):
    model = small_model(tok)
    sentiment, coherence = make_task("sentiment", n_train=16), make_task("coherence", n_train=16)
    r = finetune_classifier(model, sentiment, "static", n_labels=8, tokenizer=tok)
    assert r.method == "static" and r.task == "sentiment" and r.model is None and r.losses == []
    assert r.trainable_params == 16 + 1  # one weight per embedding channel and a bias
    assert r.test_seen_accuracy is not None and 0 <= r.test_accuracy <= 1 and 0 <= r.val_accuracy <= 1
    c = finetune_classifier(model, coherence, "static", n_labels=8, tokenizer=tok)
    assert c.task == "coherence" and c.test_seen_accuracy is None
    with pytest.raises(ValueError, match="pre-trained model"):
        finetune_classifier(None, sentiment, "static", tokenizer=tok, config=model.config)
    with pytest.raises(ValueError, match="C"):
        finetune_classifier(model, sentiment, "static", tokenizer=tok, C=0.0)


# --- run_finetuning over tasks ---------------------------------------------------------------


def test_rows_carry_their_task_and_seen_words_only_where_the_task_has_them(tok):
    rows = run_finetuning(
        small_model(tok), tok, labels=(4,), seeds=1, methods=("static", "linear_probe"),
        task=["sentiment", "coherence"], progress=False, steps=2,
    )  # fmt: skip
    assert [(r["task"], r["method"]) for r in rows] == [
        ("sentiment", "static"), ("sentiment", "linear_probe"), ("coherence", "static"), ("coherence", "linear_probe"),
    ]  # fmt: skip
    for r in rows:
        assert ("test_seen_accuracy" in r) == (r["task"] == "sentiment")
        assert {"labels", "seed", "test_accuracy", "val_accuracy", "trainable_params", "total_params"} <= set(r)
    assert tasks_in(rows) == ["sentiment", "coherence"]


def test_a_task_name_is_drawn_per_seed_and_a_task_object_is_reused(tok, monkeypatch):
    drawn = []
    real = finetuning.make_task

    def spy(name, n_train=256, seed=0):
        drawn.append((name, seed))
        return real(name, n_train=16, seed=seed)

    monkeypatch.setattr(finetuning, "make_task", spy)
    model = small_model(tok)
    run_finetuning(model, tok, labels=(4,), seeds=2, methods=("static",), task="coherence", progress=False, base_seed=3)
    assert drawn == [("coherence", 3), ("coherence", 4)]
    drawn.clear()
    own = real("coherence", n_train=16, seed=9)
    rows = run_finetuning(model, tok, labels=(4,), seeds=2, methods=("static",), task=own, progress=False)
    assert drawn == [] and rows[0]["test_accuracy"] == rows[1]["test_accuracy"]  # same examples, static is seedless


def test_run_finetuning_rejects_bad_tasks_and_methods(tok):
    model = small_model(tok)
    with pytest.raises(ValueError, match="task"):
        run_finetuning(model, tok, labels=(4,), seeds=1, task="negation", progress=False)
    with pytest.raises(TypeError, match="task"):
        run_finetuning(model, tok, labels=(4,), seeds=1, task=[object()], progress=False)
    with pytest.raises(ValueError, match="methods"):
        run_finetuning(model, tok, labels=(4,), seeds=1, methods=("prompting",), progress=False)


# --- results over tasks ----------------------------------------------------------------------


def rows_of_two_tasks() -> list[dict]:
    rows = []
    for task, accs in (("sentiment", {"scratch": 0.5, "static": 0.9}), ("coherence", {"scratch": 0.5, "adapter": 0.8})):
        for method, acc in accs.items():
            for seed, shift in enumerate((-0.02, 0.02)):
                rows.append({"task": task, "method": method, "labels": 32, "seed": seed,
                             "test_accuracy": acc + shift, "trainable_params": 10, "total_params": 100})  # fmt: skip
    return rows


def test_summaries_are_per_task_and_a_mixed_set_needs_the_task_named():
    rows = rows_of_two_tasks()
    assert set(summarize(rows, "coherence")) == {"scratch", "adapter"}
    assert summarize(rows, "sentiment")["static"][32]["mean"] == pytest.approx(0.9)
    assert gap_over_scratch(rows, 32, task="coherence") == pytest.approx({"adapter": 0.3})
    with pytest.raises(ValueError, match="several tasks"):
        summarize(rows)
    with pytest.raises(ValueError, match="task"):
        summarize(rows, "negation")
    legacy = [{k: v for k, v in r.items() if k != "task"} for r in rows if r["task"] == "sentiment"]
    assert tasks_in(legacy) == ["sentiment"] and set(summarize(legacy)) == {"scratch", "static"}


def test_report_and_plot_have_one_section_and_one_panel_per_task():
    rows = rows_of_two_tasks()
    text = "\n".join(report_lines(rows))
    assert text.index("sentiment:") < text.index("coherence:") and "adapter +30.0 points" in text
    fig = plot_accuracy_vs_labels(rows)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 and "sentiment" in titles[0] and "coherence" in titles[1]
    assert len(plot_accuracy_vs_labels([r for r in rows if r["task"] == "coherence"]).axes) == 1


def test_every_method_has_a_colour_and_an_order():
    assert ALL_METHODS[0] == "scratch" and "static" in ALL_METHODS and set(finetuning.METHODS) < set(ALL_METHODS)
