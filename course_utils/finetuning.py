"""Fine-tuning a pre-trained TinyGPT with few labels, six ways, and the comparison the capstone runs.

- `finetune_classifier`: one run of one method ("scratch", "static", "linear_probe", "adapter",
  "lora", "full") on the first `n_labels` labelled examples of a task; test accuracy and parameter counts.
- `run_finetuning`: every method, label count and seed, as rows for results.json, on one task or
  several (`course_utils.results` summarises and plots them, one panel per task).

A task is any object with `train_subset(n)`, `test_texts`, `test_labels` and `label_names` (a
`course_utils.text.ClassificationTask`; "static" needs one); `test_seen_texts` / `test_seen_labels`,
which the sentiment task has, add the accuracy on new stories with the seen feeling words. Its
`name` ("sentiment", "coherence") picks the defaults in `FINETUNE_DEFAULTS` and labels the results.
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
from course_utils.text import (
    ClassificationDataset,
    ClassificationTask,
    WordTokenizer,
    make_coherence_task,
    make_sentiment_task,
)

METHODS = ("scratch", "linear_probe", "adapter", "lora", "full")  # the ones that train a TinyGPT
ALL_METHODS = ("scratch", "static", "linear_probe", "adapter", "lora", "full")  # plus the static word-vector baseline
TASKS = ("sentiment", "coherence")  # the labelled tasks of the course (`make_task`)
TASK_ATTRIBUTES = ("train_subset", "test_texts", "test_labels", "label_names")

# Defaults per task and method ("static": the logistic regression's inverse regularisation C).
# Coherence: chosen on the validation split only, never on test, by `python tools/measure_transfer.py`
# (shipped model; each method's learning-rate grid, validation accuracy after 25, 50 and 100 steps,
# the probe up to 500, C in 0.01..10; best mean over seeds 0 and 1 at 32 and 64 labels; the tables are
# in data/README.md, "Transfer measured on both tasks"). Sentiment, and any other task: the course's
# defaults; sentiment's validation split cannot choose (every pre-trained method is at 1.000 on it), and
# C = 10 was chosen on it like coherence's.
FINETUNE_DEFAULTS = {
    "sentiment": {
        "scratch": {"lr": 1e-3, "steps": 150},
        "static": {"C": 10.0},
        "linear_probe": {"lr": 1e-2, "steps": 150},
        "adapter": {"lr": 3e-3, "steps": 150},
        "lora": {"lr": 3e-3, "steps": 150},
        "full": {"lr": 3e-4, "steps": 150},
    },
    "coherence": {
        "scratch": {"lr": 1e-3, "steps": 50},
        "static": {"C": 10.0},
        "linear_probe": {"lr": 3e-2, "steps": 500},
        "adapter": {"lr": 1e-2, "steps": 100},
        "lora": {"lr": 1e-2, "steps": 25},
        "full": {"lr": 3e-4, "steps": 100},
    },
}
DEFAULT_TASK = "sentiment"  # whose defaults a task of another name gets


def task_name(task) -> str:
    """The task's `name` ("sentiment", "coherence", ...; "task" when it has none)."""
    name = getattr(task, "name", None)
    return name if isinstance(name, str) and name else "task"


def finetune_defaults(task, method: str) -> dict:
    """The default settings of `method` on `task` (a task or its name): `FINETUNE_DEFAULTS`, sentiment's for others."""
    v.one_of("finetune_defaults", "method", method, ALL_METHODS)
    name = task if isinstance(task, str) else task_name(task)
    return dict(FINETUNE_DEFAULTS.get(name, FINETUNE_DEFAULTS[DEFAULT_TASK])[method])


def make_task(name: str, n_train: int = 256, seed: int = 0) -> ClassificationTask:
    """The course's labelled task called `name` ("sentiment" or "coherence"), with a pool of `n_train` examples."""
    v.one_of("make_task", "name", name, TASKS)
    maker = make_sentiment_task if name == "sentiment" else make_coherence_task
    return maker(n_train=n_train, seed=seed)


@dataclass
class FinetuneResult:
    """How one fine-tuning run went."""

    method: str  # one of ALL_METHODS
    n_labels: int  # labelled training examples used
    seed: int
    test_accuracy: float  # on the task's test examples (for sentiment: feeling words never seen in training)
    test_seen_accuracy: float | None  # on new test examples with the seen words (None: the task has none)
    train_accuracy: float
    trainable_params: int  # parameters the method changed
    total_params: int  # parameters of the whole model
    losses: list[float]  # training loss per step ("static": empty, scikit-learn fits it)
    model: TinyGPT | None  # the fine-tuned model (a copy; the one passed in is untouched); None for "static"
    task: str = "task"  # the task's name
    val_accuracy: float | None = None  # on the validation split (None: the task has none)


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
    C: float | None = None,
    device: torch.device | str | None = None,
) -> FinetuneResult:
    """Train a classifier on the first `n_labels` labelled examples of `task` and test it.

    Methods (trainable parts in brackets):
        "scratch": a freshly initialised TinyGPT of the same shape [everything];
        "static": the mean of the texts' pre-trained token embeddings, read by a logistic regression
            (`course_utils.baselines.static_baseline`; no context, no word order) [its coefficients];
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
        method: one of ALL_METHODS.
        n_labels: how many labelled examples to train on (the task's first n_labels, balanced if even).
        seed: seeds the new weights (head, adapters, LoRA, the scratch model) and nothing else.
        tokenizer: encodes the texts (None: `WordTokenizer.from_world()`); must match the model's vocabulary.
        config: the shape for "scratch" when `model` is None.
        steps, lr: training length and learning rate (None: `finetune_defaults(task, method)`).
        bottleneck: adapter width ("adapter" only).
        rank, alpha: LoRA rank and scale ("lora" only).
        weight_decay: AdamW's decay.
        C: the static baseline's inverse regularisation ("static" only; None: the task's default).
        device: where to train (None: the model's device, or the CPU).

    Returns:
        A `FinetuneResult` named after the task; `test_seen_accuracy` is None for a task without
        `test_seen_*`, `val_accuracy` None for one without `val_*`.
    """
    where = "finetune_classifier"
    v.one_of(where, "method", method, ALL_METHODS)
    _check_task(where, task)
    defaults = finetune_defaults(task, method)
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
    if method == "static":
        return _static_result(model, task, n_labels, seed, tokenizer, defaults["C"] if C is None else C)
    steps = v.positive_int(where, "steps", defaults["steps"] if steps is None else steps)
    lr = v.positive_number(where, "lr", defaults["lr"] if lr is None else lr)
    if device is None:
        device = next(model.parameters()).device if model is not None else torch.device("cpu")
    device = torch.device(device)

    texts, labels = task.train_subset(n_labels)
    n_classes = len(task.label_names)
    # Padded to the longest example of each set (shorter than block_size: far less work than padding to it).
    train = ClassificationDataset(texts, labels, tokenizer)
    test = ClassificationDataset(task.test_texts, task.test_labels, tokenizer)
    has_val = getattr(task, "val_texts", None) is not None
    val = ClassificationDataset(task.val_texts, task.val_labels, tokenizer) if has_val else None
    has_seen = getattr(task, "test_seen_texts", None) is not None
    test_seen = ClassificationDataset(task.test_seen_texts, task.test_seen_labels, tokenizer) if has_seen else None
    longest = max(d.ids.shape[1] for d in (train, val, test, test_seen) if d is not None)
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
        task=task_name(task),
        val_accuracy=classifier_accuracy(clf, val) if has_val else None,
    )


def _static_result(model, task, n_labels: int, seed: int, tokenizer, C: float) -> FinetuneResult:
    """The static word-vector baseline as a `FinetuneResult` (deterministic: `seed` changes nothing)."""
    from course_utils.baselines import static_baseline

    v.positive_number("finetune_classifier", "C", C)
    r = static_baseline(task, "logistic", n_labels, model=model, tokenizer=tokenizer, C=C)
    n_classes = len(task.label_names)
    trained = (1 if n_classes == 2 else n_classes) * (model.config.n_embd + 1)  # the regression's weights and biases
    return FinetuneResult(
        method="static",
        n_labels=n_labels,
        seed=seed,
        test_accuracy=r.test_accuracy,
        test_seen_accuracy=r.extra_accuracy.get("test_seen"),
        train_accuracy=r.train_accuracy,
        trainable_params=trained,
        total_params=count_parameters(model, False) + trained,
        losses=[],
        model=None,
        task=task_name(task),
        val_accuracy=r.val_accuracy,
    )


def run_finetuning(
    model: TinyGPT,
    tokenizer,
    labels: Sequence[int] = (8, 32, 128),
    seeds: int = 3,
    methods: Sequence[str] = ALL_METHODS,
    *,
    task=None,
    device: str | torch.device | None = None,
    progress: bool = True,
    base_seed: int = 0,
    steps: int | None = None,
) -> list[dict]:
    """Fine-tune `model` with every method, label count and seed, on one task or several.

    Args:
        model: a pre-trained causal TinyGPT (not changed: each run works on a copy).
        tokenizer: the model's tokenizer (its vocabulary must cover the task's words).
        labels: label counts to try (each >= 2).
        seeds: how many seeds per (task, method, label count): base_seed, base_seed + 1, ...
        methods: a subset of ALL_METHODS.
        task: a task name ("sentiment", "coherence"), a `ClassificationTask`, or a list of them
            (None: "sentiment"). A name draws the task anew for each seed (`make_task(name, seed=s)`:
            seed s picks both the labelled examples and the new weights, as data/README.md's tables
            do); a task object is used for every seed.
        device: where to fine-tune (None: the model's device).
        progress: a tqdm bar over the runs.
        base_seed: the first seed.
        steps: training steps per run (None: each task's and method's default, `finetune_defaults`).

    Returns:
        One dict per run: task, method, labels, seed, test_accuracy (0..1), test_seen_accuracy (only
        for a task with seen-word test examples), val_accuracy (for one with a validation split),
        trainable_params, total_params, seconds and cpu_seconds.
    """
    from tqdm.auto import tqdm

    where = "run_finetuning"
    v.instance_of(where, "model", model, TinyGPT)
    labels = v.ints_at_least(where, "labels", labels, 2)
    v.positive_int(where, "seeds", seeds)
    v.nonnegative_int(where, "base_seed", base_seed)
    methods = v.subset_of(where, "methods", methods, ALL_METHODS)
    tasks = [] if task is None else list(task) if isinstance(task, (list, tuple)) else [task]
    for t in tasks or ["sentiment"]:
        if isinstance(t, str):
            v.one_of(where, "task", t, TASKS)
        else:
            _check_task(where, t)
    tasks = tasks or ["sentiment"]
    pool = max(256, max(labels))
    drawn = {}

    def task_for(t, seed: int):
        if not isinstance(t, str):
            return t
        if (t, seed) not in drawn:
            drawn[t, seed] = make_task(t, n_train=pool, seed=seed)
        return drawn[t, seed]

    jobs = [(t, n, m, base_seed + s) for t in tasks for n in labels for m in methods for s in range(seeds)]
    rows = []
    for t, n, method, seed in tqdm(jobs, desc="fine-tuning", disable=not progress, leave=False):
        start, start_cpu = time.perf_counter(), time.process_time()
        r = finetune_classifier(
            model, task_for(t, seed), method, n_labels=n, seed=seed, tokenizer=tokenizer, device=device, steps=steps
        )
        row = {"task": r.task, "method": method, "labels": n, "seed": seed, "test_accuracy": r.test_accuracy}
        if r.test_seen_accuracy is not None:
            row["test_seen_accuracy"] = r.test_seen_accuracy
        if r.val_accuracy is not None:
            row["val_accuracy"] = r.val_accuracy
        row.update(
            trainable_params=r.trainable_params,
            total_params=r.total_params,
            seconds=round(time.perf_counter() - start, 3),
            cpu_seconds=round(time.process_time() - start_cpu, 3),
        )
        rows.append(row)
    return rows
