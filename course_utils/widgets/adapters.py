"""Widgets and evidence for notebook 09, Adapter Layers: how wide should the bottleneck be?

`make_bottleneck_explorer` slides over adapter bottleneck sizes and shows, for each, the share of
the model's parameters that training touches (left) and how the frozen pre-trained TinyGPT, with
adapters of that size, learns the coherence task from 64 labels (right: validation accuracy along
training, so that looking at it chooses nothing on the test split).

All training happens once, in `compute_adapter_sweep` (cached per setting); moving the slider
only restyles lines that are already drawn.

`read_transfer_table` reads the 5-seed accuracy tables of data/README.md (made by
`tools/measure_transfer.py`), which the notebook plots beside its own 2-seed runs.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from course_utils.layers.adapters import add_adapters, count_parameters
from course_utils.models.gpt import TinyGPT
from course_utils.plotting import COLORS, PALETTE, label, new_figure
from course_utils.repro import single_thread
from course_utils.text import ClassificationDataset, ClassificationTask, WordTokenizer
from course_utils.widgets.explorer import Explorer

BOTTLENECKS = (1, 4, 16)
SPLITS = ("val", "test")


def _check_positive_int(where: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


def compute_parameter_share(
    d_model: int, n_layer: int, bottleneck: int, base_params: int, n_classes: int = 2
) -> dict[str, float]:
    """Trainable parameters when a frozen TinyGPT gets two adapters per block and a new head.

    Each adapter has a down-projection (d_model * bottleneck weights + bottleneck biases) and an
    up-projection (bottleneck * d_model weights + d_model biases); every block gets two (after
    attention and after the MLP). The classification head (d_model * n_classes + n_classes) is
    trained too.

    Args:
        d_model: the model width C.
        n_layer: the number of transformer blocks.
        bottleneck: the adapter's middle width r.
        base_params: parameters of the pre-trained model without head or adapters (all frozen).
        n_classes: outputs of the classification head.

    Returns:
        {"adapter": parameters of all adapters, "head": of the head, "trainable": their sum,
        "total": the whole model's, "share": trainable / total (a fraction in (0, 1))}.
    """
    for name, value in (("d_model", d_model), ("n_layer", n_layer), ("bottleneck", bottleneck)):
        _check_positive_int("compute_parameter_share", name, value)
    _check_positive_int("compute_parameter_share", "base_params", base_params)
    _check_positive_int("compute_parameter_share", "n_classes", n_classes)
    per_adapter = 2 * d_model * bottleneck + bottleneck + d_model  # down (W, b) + up (W, b)
    adapter = 2 * n_layer * per_adapter
    head = d_model * n_classes + n_classes
    trainable = adapter + head
    total = base_params + trainable
    return {"adapter": adapter, "head": head, "trainable": trainable, "total": total, "share": trainable / total}


@dataclass
class AdapterSweep:
    """Few-label training runs of one frozen model with adapters of several bottleneck sizes."""

    bottlenecks: tuple[int, ...]  # the sizes tried, increasing
    eval_steps: list[int]  # optimizer steps after which the accuracy was measured (0 = before training)
    accuracy: dict[int, list[float]]  # bottleneck -> accuracy on `split` at each eval step
    trainable_params: dict[int, int]  # bottleneck -> trainable parameters (adapters + head)
    total_params: dict[int, int]  # bottleneck -> all parameters of the adapted model
    head_params: int  # parameters of the classification head alone (what a linear probe trains)
    base_params: int  # parameters of the pre-trained model (frozen)
    n_labels: int  # labelled training examples
    lr: float  # AdamW learning rate
    split: str = "val"  # which split the accuracy is measured on ("val" or "test")
    task_name: str = "task"  # the task's name ("coherence", "sentiment")


def compute_adapter_sweep(
    model: TinyGPT,
    task: ClassificationTask,
    tokenizer: WordTokenizer,
    bottlenecks=BOTTLENECKS,
    *,
    n_labels: int = 64,
    steps: int = 40,
    lr: float = 1e-2,
    eval_every: int = 4,
    n_eval: int = 200,
    split: str = "val",
    seed: int = 0,
) -> AdapterSweep:
    """Train a copy of `model` with adapters of each bottleneck size on `n_labels` examples; record accuracy.

    Each run: copy the model, attach a head, `add_adapters(copy, bottleneck)` (everything else
    frozen), then full-batch AdamW for `steps` steps; every `eval_every` steps the accuracy on the
    first `n_eval` examples of `split` is measured. Runs on one CPU thread (these models are tiny).
    `model` itself is never changed.

    Args:
        model: a pre-trained TinyGPT (without adapters).
        task: a labelled task (`make_coherence_task()`, `make_sentiment_task()`).
        tokenizer: the model's tokenizer.
        bottlenecks: the adapter widths to try (positive ints).
        n_labels: labelled examples to train on (the task's first n_labels, balanced if even).
        steps: optimizer steps per run.
        lr: AdamW learning rate.
        eval_every: measure the accuracy every this many steps.
        n_eval: how many examples of `split` to measure on.
        split: "val" (the default: a curve one may look at while choosing settings) or "test".
        seed: seeds every new weight (head, adapters); the same for each size.

    Returns:
        An `AdapterSweep`.
    """
    if not isinstance(model, TinyGPT):
        raise TypeError(f"compute_adapter_sweep: model must be a TinyGPT, got {type(model).__name__}")
    if not isinstance(task, ClassificationTask):
        raise TypeError(f"compute_adapter_sweep: task must be a ClassificationTask, got {type(task).__name__}")
    if isinstance(bottlenecks, (int, str)) or not bottlenecks:
        raise ValueError(
            f"compute_adapter_sweep: bottlenecks must be a non-empty sequence of positive ints, got {bottlenecks!r}"
        )
    for b in bottlenecks:
        _check_positive_int("compute_adapter_sweep", "each bottleneck", b)
    for name, value in (("n_labels", n_labels), ("steps", steps), ("eval_every", eval_every), ("n_eval", n_eval)):
        _check_positive_int("compute_adapter_sweep", name, value)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"compute_adapter_sweep: lr must be > 0, got {lr!r}")
    if split not in SPLITS:
        raise ValueError(f"compute_adapter_sweep: split must be one of {SPLITS}, got {split!r}")
    bottlenecks = tuple(sorted(set(bottlenecks)))
    texts, labels = task.train_subset(n_labels)
    train = ClassificationDataset(texts, labels, tokenizer)
    eval_texts, eval_labels = getattr(task, f"{split}_texts"), getattr(task, f"{split}_labels")
    held_out = ClassificationDataset(eval_texts[:n_eval], eval_labels[:n_eval], tokenizer)
    eval_steps = [0] + [s for s in range(eval_every, steps + 1, eval_every)]
    accuracy, trainable, total = {}, {}, {}
    with single_thread():
        for b in bottlenecks:
            torch.manual_seed(seed)  # the same head for every size: only the adapters differ
            clf = copy.deepcopy(model).cpu()
            clf.add_classifier(len(task.label_names))
            add_adapters(clf, b)
            optimizer = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
            accs = [_accuracy(clf, held_out)]
            for step in range(1, steps + 1):
                clf.train()
                loss = F.cross_entropy(clf.classify(train.ids), train.labels)  # logits (N, n_classes)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if step % eval_every == 0:
                    accs.append(_accuracy(clf, held_out))
            accuracy[b] = accs
            trainable[b] = count_parameters(clf)
            total[b] = count_parameters(clf, trainable_only=False)
    head_params = model.config.n_embd * len(task.label_names) + len(task.label_names)
    return AdapterSweep(
        bottlenecks=bottlenecks,
        eval_steps=eval_steps,
        accuracy=accuracy,
        trainable_params=trainable,
        total_params=total,
        head_params=head_params,
        base_params=count_parameters(model, trainable_only=False),
        n_labels=n_labels,
        lr=float(lr),
        split=split,
        task_name=getattr(task, "name", "task"),
    )


@torch.no_grad()
def _accuracy(model: TinyGPT, dataset: ClassificationDataset) -> float:
    model.eval()
    return (model.classify(dataset.ids).argmax(-1) == dataset.labels).float().mean().item()


@functools.lru_cache(maxsize=2)
def default_adapter_sweep(n_labels: int = 64, steps: int = 40) -> AdapterSweep:
    """`compute_adapter_sweep` on the shipped pre-trained model and the coherence task, once per session."""
    from course_utils.pretraining import load_pretrained  # here: pretraining imports are heavy
    from course_utils.text import make_coherence_task

    model, tokenizer, _ = load_pretrained()
    return compute_adapter_sweep(model.float(), make_coherence_task(), tokenizer, n_labels=n_labels, steps=steps)


def steps_to_reach(sweep: AdapterSweep, bottleneck: int, target: float = 0.9) -> int | None:
    """The first evaluated step at which the run with `bottleneck` reached `target` accuracy (None: never)."""
    if bottleneck not in sweep.accuracy:
        raise ValueError(f"steps_to_reach: bottleneck must be one of {sweep.bottlenecks}, got {bottleneck!r}")
    for step, acc in zip(sweep.eval_steps, sweep.accuracy[bottleneck]):
        if acc >= target:
            return step
    return None


def make_bottleneck_explorer(sweep: AdapterSweep | None = None) -> Explorer:
    """Slide the adapter bottleneck: trainable-parameter share (left) and few-label accuracy along training (right).

    Args:
        sweep: precomputed runs (`compute_adapter_sweep`); None trains the default ones (a few
            seconds, once per session).
    """
    sweep = sweep if sweep is not None else default_adapter_sweep()
    if not isinstance(sweep, AdapterSweep):
        raise TypeError(f"make_bottleneck_explorer: sweep must be an AdapterSweep, got {type(sweep).__name__}")
    sizes = list(sweep.bottlenecks)
    shares = [100 * sweep.trainable_params[b] / sweep.total_params[b] for b in sizes]  # percent
    head_share = 100 * sweep.head_params / (sweep.base_params + sweep.head_params)

    fig, (ax_share, ax_acc) = new_figure(2, width=9.0, height=3.4)
    ax_share.plot(sizes, shares, "o-", color=PALETTE["sky"], label="adapters + head")
    ax_share.axhline(head_share, color=PALETTE["black"], ls=":", lw=1.2, label="head only (linear probe)")
    (marker,) = ax_share.plot([sizes[0]], [shares[0]], "o", ms=12, color=PALETTE["vermillion"], zorder=5)
    ax_share.set_xscale("log", base=2)
    ax_share.set_xticks(sizes, [str(b) for b in sizes])
    ax_share.set_ylim(0, max(shares) * 1.15)
    ax_share.legend(loc="upper left", fontsize=9)
    label(ax_share, "bottleneck size r", "trainable parameters (%)", "What training touches")

    lines = {}
    for i, b in enumerate(sizes):
        (lines[b],) = ax_acc.plot(
            sweep.eval_steps, sweep.accuracy[b], color=COLORS[i % len(COLORS)], lw=1.2, alpha=0.35
        )
    # the chosen run, drawn again in bold above the others (its faint line is hidden meanwhile): one line
    # that takes the chosen run's data keeps the drawing order fixed, which the Explorer's fast updates need
    (chosen_line,) = ax_acc.plot([], [], lw=3.0, zorder=4)
    ax_acc.axhline(0.5, color=PALETTE["black"], ls=":", lw=1.2)
    ax_acc.text(sweep.eval_steps[-1], 0.52, "chance", ha="right", va="bottom", fontsize=9)
    ax_acc.set_ylim(0.4, 1.03)
    chosen_text = ax_acc.text(0.97, 0.06, "", transform=ax_acc.transAxes, ha="right", fontsize=11, fontweight="bold")
    split_name = "validation" if sweep.split == "val" else "test"
    label(ax_acc, "training step", f"{split_name} accuracy", f"{sweep.task_name.capitalize()}, {sweep.n_labels} labels")

    def draw(bottleneck: int) -> str:
        i = sizes.index(bottleneck)
        marker.set_data([bottleneck], [shares[i]])
        for b, line in lines.items():
            line.set_visible(b != bottleneck)
        chosen_line.set_data(sweep.eval_steps, sweep.accuracy[bottleneck])
        chosen_line.set_color(lines[bottleneck].get_color())
        chosen_text.set_text(f"bold: r = {bottleneck}")
        chosen_text.set_color(lines[bottleneck].get_color())
        reached = steps_to_reach(sweep, bottleneck)
        reached_text = f"reaches 90% after <b>{reached}</b> steps" if reached is not None else "never reaches 90%"
        return (
            f"Bottleneck r = <b>{bottleneck}</b>: <b>{sweep.trainable_params[bottleneck]:,}</b> trainable parameters, "
            f"<b>{shares[i]:.1f}%</b> of the model ({sweep.base_params:,} frozen). Final {split_name} accuracy "
            f"<b>{sweep.accuracy[bottleneck][-1]:.2f}</b>; {reached_text}."
        )

    slider = widgets.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2], description="bottleneck")
    # dynamic: the marker, the runs (faint and bold) and the label naming the bold one; axes and legend stay
    # cached. One picture per bottleneck, drawn now and kept
    dynamic = [marker, *lines.values(), chosen_line, chosen_text]
    return Explorer("adapter-bottleneck", {"bottleneck": slider}, fig, draw, dynamic=dynamic, keep_pictures=True)


def adapter_share_table(sweep: AdapterSweep) -> list[tuple[int, int, float, float]]:
    """(bottleneck, trainable parameters, share in percent, final accuracy) per size, for printing."""
    return [
        (
            b,
            sweep.trainable_params[b],
            round(100 * sweep.trainable_params[b] / sweep.total_params[b], 2),
            round(sweep.accuracy[b][-1], 3),
        )
        for b in sweep.bottlenecks
    ]


_ROW = re.compile(r"^\|\s*(\w+)\s*\|\s*([^|]*)\|(.*)\|\s*$")
_CELL = re.compile(r"([0-9.]+) ± ([0-9.]+) \(([0-9.]+)-([0-9.]+)\)")


def read_transfer_table(task: str, path: str | Path | None = None) -> dict[str, dict[int, tuple[float, ...]]]:
    """The test-accuracy table of one task from data/README.md ("Transfer measured on both tasks").

    Args:
        task: "coherence" or "sentiment".
        path: the README to read (None: the shipped data/README.md).

    Returns:
        {method: {labels: (mean, std, min, max)}}; methods as the table names them ("static",
        "centroid", "scratch", "linear_probe", "adapter", "lora", "full"); a label count the
        table leaves empty ("-") is missing.
    """
    from course_utils.paths import DATA_DIR

    if task not in ("coherence", "sentiment"):
        raise ValueError(f"read_transfer_table: task must be 'coherence' or 'sentiment', got {task!r}")
    path = Path(path) if path is not None else Path(DATA_DIR) / "README.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(f"**{task.capitalize()}**: test accuracy")), None
    )
    if start is None:
        raise ValueError(f"read_transfer_table: {path} has no '**{task.capitalize()}**: test accuracy' table")
    header = next(i for i in range(start, len(lines)) if lines[i].startswith("| method"))
    counts = [int(c.split()[0]) for c in lines[header].strip("|").split("|")[2:]]
    table = {}
    for line in lines[header + 2 :]:
        match = _ROW.match(line)
        if not match:
            break
        cells = match.group(3).split("|")
        table[match.group(1)] = {
            n: tuple(float(x) for x in m.groups()) for n, cell in zip(counts, cells) if (m := _CELL.search(cell))
        }
    return table


__all__ = [
    "BOTTLENECKS",
    "AdapterSweep",
    "adapter_share_table",
    "compute_adapter_sweep",
    "compute_parameter_share",
    "default_adapter_sweep",
    "make_bottleneck_explorer",
    "read_transfer_table",
    "steps_to_reach",
]
