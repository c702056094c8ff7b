"""Fine-tuning a pre-trained TinyGPT with few labels, five ways, and the comparison the capstone runs.

- `finetune_classifier`: one run of one method ("scratch", "linear_probe", "adapter", "lora",
  "full") on the first `n_labels` labelled examples of a task; test accuracy and parameter counts.
- `run_finetuning`: every method, label count and seed, as rows for results.json
  (`course_utils.results` summarises and plots them).

A task is any object with `train_subset(n)`, `test_texts`, `test_labels` and `label_names` (a
`course_utils.text.ClassificationTask`); `test_seen_texts` / `test_seen_labels`, which the
sentiment task has, add the accuracy on new stories with the seen feeling words.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course_utils import validate as v
from course_utils.layers.adapters import add_adapters, add_lora, count_parameters, freeze
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.text import ClassificationDataset, WordTokenizer, make_sentiment_task

METHODS = ("scratch", "linear_probe", "adapter", "lora", "full")
TASK_ATTRIBUTES = ("train_subset", "test_texts", "test_labels", "label_names")

# Defaults per method, found by the measurements reported in data/README.md: the frozen
# feature extractors take a larger learning rate than full fine-tuning, which must not wander
# far from its pre-trained start with only a few examples.
FINETUNE_DEFAULTS = {
    "scratch": {"lr": 1e-3, "steps": 150},
    "linear_probe": {"lr": 1e-2, "steps": 150},
    "adapter": {"lr": 3e-3, "steps": 150},
    "lora": {"lr": 3e-3, "steps": 150},
    "full": {"lr": 3e-4, "steps": 150},
}


@dataclass
class FinetuneResult:
    """How one fine-tuning run went."""

    method: str  # one of METHODS
    n_labels: int  # labelled training examples used
    seed: int
    test_accuracy: float  # on the task's test examples (for sentiment: feeling words never seen in training)
    test_seen_accuracy: float | None  # on new test examples with the seen words (None: the task has none)
    train_accuracy: float
    trainable_params: int  # parameters the method changed
    total_params: int  # parameters of the whole model
    losses: list[float]  # training loss per step
    model: TinyGPT  # the fine-tuned model (a copy; the one passed in is untouched)


@torch.no_grad()
def classifier_accuracy(model: TinyGPT, dataset: ClassificationDataset, batch_size: int = 256) -> float:
    """Share of `dataset` that `model.classify` gets right."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(dataset), batch_size):
        ids, labels = dataset.ids[start : start + batch_size].to(device), dataset.labels[start : start + batch_size]
        correct += (model.classify(ids).argmax(-1).cpu() == labels).sum().item()
    model.train(was_training)
    return correct / len(dataset)


def _check_task(where: str, task) -> None:
    missing = [a for a in TASK_ATTRIBUTES if not hasattr(task, a)]
    if missing:
        raise TypeError(
            f"{where}: task must be a ClassificationTask (with {', '.join(TASK_ATTRIBUTES)}); "
            f"a {type(task).__name__} lacks {', '.join(missing)}"
        )


def finetune_classifier(
    model: TinyGPT | None,
    task,
    method: str,
    *,
    n_labels: int = 32,
    seed: int = 0,
    tokenizer: WordTokenizer | None = None,
    config: GPTConfig | None = None,
    steps: int | None = None,
    lr: float | None = None,
    bottleneck: int = 16,
    rank: int = 4,
    alpha: float | None = None,
    weight_decay: float = 0.01,
    device: torch.device | str | None = None,
) -> FinetuneResult:
    """Train a classifier on the first `n_labels` labelled examples of `task` and test it.

    Methods (trainable parts in brackets):
        "scratch": a freshly initialised TinyGPT of the same shape [everything];
        "linear_probe": the pre-trained model frozen [classification head];
        "adapter": frozen, with bottleneck adapters in every block [adapters + head];
        "lora": frozen, with LoRA on the attention projections [LoRA factors + head];
        "full": the pre-trained model [everything].

    Training is full-batch AdamW on the labelled examples for `steps` steps; the classification
    head reads `model.features` (the last token for a causal model). The model passed in is
    copied, never changed.

    Args:
        model: the pre-trained TinyGPT (for "scratch" it only gives the shape; it may be None if
            `config` is given).
        task: a `ClassificationTask` (e.g. `make_sentiment_task()`), or any object with
            `train_subset`, `test_texts`, `test_labels`, `label_names`.
        method: one of METHODS.
        n_labels: how many labelled examples to train on (the task's first n_labels, balanced if even).
        seed: seeds the new weights (head, adapters, LoRA, the scratch model) and nothing else.
        tokenizer: encodes the texts (None: `WordTokenizer.from_world()`); must match the model's vocabulary.
        config: the shape for "scratch" when `model` is None.
        steps, lr: training length and learning rate (None: `FINETUNE_DEFAULTS[method]`).
        bottleneck: adapter width ("adapter" only).
        rank, alpha: LoRA rank and scale ("lora" only).
        weight_decay: AdamW's decay.
        device: where to train (None: the model's device, or the CPU).

    Returns:
        A `FinetuneResult`; `test_seen_accuracy` is None for a task without `test_seen_*`.
    """
    where = "finetune_classifier"
    v.one_of(where, "method", method, METHODS)
    _check_task(where, task)
    if model is None and (method != "scratch" or config is None):
        raise ValueError(
            f"{where}: method {method!r} needs a pre-trained model"
            + (" (or, for 'scratch', a config)" if method == "scratch" else "")
        )
    if model is not None:
        v.instance_of(where, "model", model, TinyGPT)
    tokenizer = tokenizer if tokenizer is not None else WordTokenizer.from_world()
    base_config = config if model is None else model.config
    if base_config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"{where}: the model's vocab_size ({base_config.vocab_size}) differs from the "
            f"tokenizer's ({tokenizer.vocab_size}); use the tokenizer it was pre-trained with"
        )
    steps = v.positive_int(where, "steps", FINETUNE_DEFAULTS[method]["steps"] if steps is None else steps)
    lr = v.positive_number(where, "lr", FINETUNE_DEFAULTS[method]["lr"] if lr is None else lr)
    if device is None:
        device = next(model.parameters()).device if model is not None else torch.device("cpu")
    device = torch.device(device)

    texts, labels = task.train_subset(n_labels)
    n_classes = len(task.label_names)
    # Padded to the longest example of each set (shorter than block_size: far less work than padding to it).
    train = ClassificationDataset(texts, labels, tokenizer)
    test = ClassificationDataset(task.test_texts, task.test_labels, tokenizer)
    has_seen = getattr(task, "test_seen_texts", None) is not None
    test_seen = ClassificationDataset(task.test_seen_texts, task.test_seen_labels, tokenizer) if has_seen else None
    longest = max(d.ids.shape[1] for d in (train, test, test_seen) if d is not None)
    if longest > base_config.block_size:
        raise ValueError(f"{where}: an example has {longest} tokens, more than block_size ({base_config.block_size})")

    torch.manual_seed(seed)  # every new weight below comes from this seed
    if method == "scratch":
        clf = TinyGPT(dataclasses.replace(base_config, n_classes=n_classes, dropout=0.0))
    else:
        clf = copy.deepcopy(model)
        clf.add_classifier(n_classes)
    clf.to(device)
    if method == "linear_probe":
        freeze(clf, [clf.classifier])
    elif method == "adapter":
        add_adapters(clf, bottleneck)
    elif method == "lora":
        add_lora(clf, rank, alpha)
    else:  # "scratch", "full"
        for p in clf.parameters():
            p.requires_grad_(True)
    trainable = [p for p in clf.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    ids, y = train.ids.to(device), train.labels.to(device)  # (N, T), (N,)
    losses = []
    if method == "linear_probe":
        # The body is frozen, so its features never change: compute them once (in eval mode, a
        # fixed feature extractor) and train only the head on them.
        clf.eval()
        with torch.no_grad():
            feats = clf.features(ids)  # (N, C)
        logits_fn = lambda: clf.classifier(feats)  # noqa: E731
    else:
        clf.train()
        logits_fn = lambda: clf.classify(ids)  # noqa: E731
    for _ in range(steps):
        loss = F.cross_entropy(logits_fn(), y)  # logits (N, n_classes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    clf.eval()
    return FinetuneResult(
        method=method,
        n_labels=n_labels,
        seed=seed,
        test_accuracy=classifier_accuracy(clf, test),
        test_seen_accuracy=classifier_accuracy(clf, test_seen) if has_seen else None,
        train_accuracy=classifier_accuracy(clf, train),
        trainable_params=count_parameters(clf),
        total_params=count_parameters(clf, False),
        losses=losses,
        model=clf,
    )


def run_finetuning(
    model: TinyGPT,
    tokenizer,
    labels: Sequence[int] = (8, 32, 128),
    seeds: int = 3,
    methods: Sequence[str] = METHODS,
    *,
    task=None,
    device: str | torch.device | None = None,
    progress: bool = True,
    base_seed: int = 0,
    steps: int | None = None,
) -> list[dict]:
    """Fine-tune `model` with every method, label count and seed.

    Args:
        model: a pre-trained causal TinyGPT (not changed: each run works on a copy).
        tokenizer: the model's tokenizer (its vocabulary must cover the task's words).
        labels: label counts to try (each >= 2).
        seeds: how many seeds per (method, label count): base_seed, base_seed + 1, ...
        methods: a subset of METHODS.
        task: the labelled task (None: `make_sentiment_task` with a pool of at least max(labels)).
        device: where to fine-tune (None: the model's device).
        progress: a tqdm bar over the runs.
        base_seed: the first seed.
        steps: training steps per run (None: `FINETUNE_DEFAULTS` of each method).

    Returns:
        One dict per run: method, labels, seed, test_accuracy (0..1), test_seen_accuracy (None
        without seen-word test examples), trainable_params, total_params, seconds.
    """
    from tqdm.auto import tqdm

    where = "run_finetuning"
    v.instance_of(where, "model", model, TinyGPT)
    labels = v.ints_at_least(where, "labels", labels, 2)
    v.positive_int(where, "seeds", seeds)
    methods = v.subset_of(where, "methods", methods, METHODS)
    task = task if task is not None else make_sentiment_task(n_train=max(256, max(labels)), seed=0)
    jobs = [(m, n, base_seed + s) for n in labels for m in methods for s in range(seeds)]
    rows = []
    for method, n, seed in tqdm(jobs, desc="fine-tuning", disable=not progress, leave=False):
        start = time.perf_counter()
        r = finetune_classifier(
            model, task, method, n_labels=n, seed=seed, tokenizer=tokenizer, device=device, steps=steps
        )
        rows.append(
            {
                "method": method,
                "labels": n,
                "seed": seed,
                "test_accuracy": r.test_accuracy,
                "test_seen_accuracy": r.test_seen_accuracy,
                "trainable_params": r.trainable_params,
                "total_params": r.total_params,
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
    return rows
