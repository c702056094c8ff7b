"""Widget for notebook 10 (the capstone): test accuracy against the number of labels, per fine-tuning method.

`compute_label_curves` turns fine-tuning results (rows as in the capstone's results.json) of one
task into mean, min and max accuracy per method and label count; `make_label_explorer` draws them,
with a method to highlight, a label count to compare all methods at, and the individual seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np

from course_utils.finetuning import ALL_METHODS
from course_utils.plotting import COLORS, PALETTE, label, new_figure
from course_utils.results import summarize, tasks_in
from course_utils.widgets.explorer import Explorer

# Measured by `python tools/measure_transfer.py` on the shipped model (data/tinygpt_world.pt): the
# coherence task, each method at its setting chosen on the validation split (FINETUNE_DEFAULTS), test
# accuracy per seed (seed s: task draw s and initialisation s), seeds 0-4 (at 128 labels seeds 0-2 for
# scratch, adapter, LoRA and full). data/README.md, "Transfer measured on both tasks", has the table.
REFERENCE_TASK = "coherence"
REFERENCE_ACCURACY = {
    "scratch": {
        16: (0.4425, 0.535, 0.4775, 0.51, 0.5025), 32: (0.44, 0.54, 0.4925, 0.485, 0.47),
        64: (0.4225, 0.46, 0.4975, 0.4725, 0.485), 128: (0.485, 0.4725, 0.5225),
    },
    "static": {
        16: (0.49, 0.505, 0.5125, 0.5075, 0.4875), 32: (0.47, 0.495, 0.52, 0.505, 0.505),
        64: (0.4525, 0.4875, 0.525, 0.4925, 0.4875), 128: (0.475, 0.52, 0.535, 0.4625, 0.5125),
    },
    "linear_probe": {
        16: (0.555, 0.6475, 0.6175, 0.545, 0.545), 32: (0.655, 0.6075, 0.6375, 0.6875, 0.615),
        64: (0.6725, 0.6775, 0.745, 0.7375, 0.72), 128: (0.75, 0.785, 0.775, 0.785, 0.7825),
    },
    "adapter": {
        16: (0.5225, 0.6125, 0.7, 0.535, 0.51), 32: (0.845, 0.7875, 0.8125, 0.8675, 0.6425),
        64: (0.95, 0.95, 0.885, 0.865, 0.85), 128: (0.905, 0.98, 0.9925),
    },
    "lora": {
        16: (0.4675, 0.5775, 0.605, 0.52, 0.505), 32: (0.6475, 0.5825, 0.695, 0.575, 0.5475),
        64: (0.8925, 0.8, 0.8625, 0.7125, 0.915), 128: (0.9575, 0.96, 0.95),
    },
    "full": {
        16: (0.56, 0.5275, 0.5425, 0.515, 0.575), 32: (0.7225, 0.545, 0.5875, 0.58, 0.675),
        64: (0.8625, 0.6475, 0.625, 0.7375, 0.905), 128: (0.9525, 0.87, 0.7775),
    },
}  # fmt: skip
REFERENCE_PARAMS = {"scratch": 113794, "static": 65, "linear_probe": 130, "adapter": 8642, "lora": 3202, "full": 113794}


def reference_rows() -> list[dict]:
    """`REFERENCE_ACCURACY` as results.json rows (task, method, labels, seed, test_accuracy, trainable_params)."""
    return [
        {
            "task": REFERENCE_TASK,
            "method": m,
            "labels": n,
            "seed": s,
            "test_accuracy": acc,
            "trainable_params": REFERENCE_PARAMS[m],
        }
        for m, by_n in REFERENCE_ACCURACY.items()
        for n, accs in by_n.items()
        for s, acc in enumerate(accs)
    ]


def compute_label_curves(rows: Sequence[dict], labels: int | None = None, task: str | None = None) -> dict:
    """Accuracy curves per method, and every method's accuracy at one label count, for one task.

    Args:
        rows: fine-tuning results, dicts with (task,) method, labels, seed, test_accuracy.
        labels: the label count to compare methods at (None: 32 if present, else the smallest).
        task: whose rows (None: the only task in `rows`).

    Returns:
        {"methods": [...], "labels": sorted label counts, "mean"/"min"/"max": {method: array over labels},
        "seeds": {method: [(labels, accuracy), ...]}, "at": the label count, "at_mean"/"at_min"/"at_max":
        arrays over methods, "gap": mean accuracy minus scratch's at `at` (None without scratch)}.
    """
    if not rows:
        raise ValueError("compute_label_curves: rows must hold at least one fine-tuning result")
    table = summarize(rows, task)
    rows = [r for r in rows if task is None or r.get("task", "sentiment") == task]
    methods = [m for m in ALL_METHODS if m in table]
    ns = sorted({int(r["labels"]) for r in rows})
    at = labels if labels is not None else (32 if 32 in ns else ns[0])
    if at not in ns:
        raise ValueError(f"compute_label_curves: labels must be one of {ns}, got {labels!r}")

    def stat(method: str, n: int, key: str) -> float:
        return table[method][n][key] if n in table[method] else np.nan

    out = {"methods": methods, "labels": ns, "at": at, "seeds": {m: [] for m in methods}}
    for key in ("mean", "min", "max"):
        out[key] = {m: np.array([stat(m, n, key) for n in ns]) for m in methods}
        out[f"at_{key}"] = np.array([stat(m, at, key) for m in methods])
    for r in rows:
        out["seeds"][r["method"]].append((int(r["labels"]), float(r["test_accuracy"])))
    scratch = stat("scratch", at, "mean") if "scratch" in table else None
    out["gap"] = None if scratch is None else {m: stat(m, at, "mean") - scratch for m in methods}
    return out


def make_label_explorer(rows: Sequence[dict] | None = None, task: str | None = None) -> Explorer:
    """Accuracy vs labelled examples per method (left) and all methods at one label count (right), one task.

    Args:
        rows: fine-tuning results (None: `reference_rows()`, coherence on the shipped model, 5 seeds).
        task: whose rows to show (None: the only task in `rows`).
    """
    rows = list(rows) if rows is not None else reference_rows()
    task = task if task is not None else (tasks_in(rows)[0] if len(tasks_in(rows)) == 1 else None)
    base = compute_label_curves(rows, task=task)  # a ValueError when rows hold several tasks and task is None
    rows = [r for r in rows if r.get("task", "sentiment") == task]
    methods, ns = base["methods"], base["labels"]
    colors = {m: COLORS[i % len(COLORS)] for i, m in enumerate(ALL_METHODS)}
    fig, (ax_curve, ax_bar) = new_figure(2, width=8.0, height=3.3)

    lines, bands = {}, {}
    for m in methods:
        (lines[m],) = ax_curve.plot(ns, base["mean"][m], marker="o", color=colors[m], label=m)
        bands[m] = ax_curve.fill_between(ns, base["min"][m], base["max"][m], color=colors[m], alpha=0.12, linewidth=0)
    (seed_dots,) = ax_curve.plot([], [], linestyle="none", marker="x", color=PALETTE["black"], markersize=6)
    marker = ax_curve.axvline(base["at"], color="grey", linestyle="--", linewidth=1)
    chance_curve = ax_curve.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax_curve.set_xscale("log", base=2)
    ax_curve.set_xticks(ns, [str(n) for n in ns])
    ax_curve.minorticks_off()
    ax_curve.set_ylim(0.3, 1.05)
    # One legend for both panels (the bars have the methods' colours too), above them, where no line, band
    # or marker can run over it: it is drawn once, with the axes, and never again on an update.
    fig.legend(
        [lines[m] for m in methods], methods, loc="outside upper center", ncols=len(methods), fontsize=8, frameon=False
    )
    label(ax_curve, "labelled examples (log scale)", "test accuracy", f"{task}: accuracy vs labels")

    xs = np.arange(len(methods))
    bars = ax_bar.bar(xs, base["at_mean"], color=[colors[m] for m in methods], alpha=0.5)
    spread = ax_bar.vlines(xs, base["at_min"], base["at_max"], color=PALETTE["black"], linewidth=2)
    chance_bar = ax_bar.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax_bar.set_xticks(xs, [m.replace("_", "\n") for m in methods], fontsize=8)
    ax_bar.set_ylim(0.0, 1.05)
    # The label count is in the caption: a title that changed with the slider would be redrawn at every move.
    label(ax_bar, "method", "test accuracy (mean, min-max)", "at the chosen label count")

    controls = {
        "method": widgets.Dropdown(
            options=methods, value="full" if "full" in methods else methods[0], description="method"
        ),
        "labels": widgets.SelectionSlider(options=ns, value=base["at"], description="labels"),
        "show_seeds": widgets.Checkbox(value=False, description="show each seed"),
    }

    def draw(method: str, labels: int, show_seeds: bool) -> str:
        data = compute_label_curves(rows, labels, task)
        for m in methods:
            chosen = m == method
            lines[m].set_linewidth(3.0 if chosen else 1.2)
            lines[m].set_alpha(1.0 if chosen else 0.35)
            bands[m].set_alpha(0.2 if chosen else 0.04)
        points = data["seeds"][method] if show_seeds else []
        seed_dots.set_data([p[0] for p in points], [p[1] for p in points])
        marker.set_xdata([labels, labels])
        for i, (bar, m) in enumerate(zip(bars, methods, strict=True)):
            bar.set_height(0.0 if np.isnan(data["at_mean"][i]) else data["at_mean"][i])
            bar.set_alpha(0.95 if m == method else 0.35)
            bar.set_edgecolor(PALETTE["black"] if m == method else "none")
            bar.set_linewidth(2.0 if m == method else 0.0)
        spread.set_segments([[(x, lo), (x, hi)] for x, lo, hi in zip(xs, data["at_min"], data["at_max"], strict=True)])
        i = methods.index(method)
        text = (
            f"At <b>{labels} labels</b> (the dashed line and the bars): <b>{method}</b> reaches mean test accuracy "
            f"{data['at_mean'][i]:.3f}"
        )
        if data["gap"] is not None and method != "scratch":
            text += f", {data['gap'][method] * 100:+.1f} points over training from scratch"
        return text + "."

    # dynamic: what draw changes, and the chance lines that must stay on top of it; the axes, titles and
    # legend stay cached
    dynamic = [*lines.values(), *bands.values(), seed_dots, marker, chance_curve]
    dynamic += [*bars, spread, chance_bar]
    return Explorer("capstone-labels", controls, fig, draw, dynamic=dynamic)
