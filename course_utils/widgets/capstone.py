"""Widget for notebook 10 (the capstone): test accuracy against the number of labels, per fine-tuning method.

`compute_label_curves` turns fine-tuning results (rows as in the capstone's results.json) into
mean, min and max accuracy per method and label count; `make_label_explorer` draws them, with
a method to highlight, a label count to compare all methods at, and the individual seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np

from course_utils.finetuning import METHODS
from course_utils.plotting import COLORS, PALETTE, label, new_figure
from course_utils.results import summarize
from course_utils.widgets.explorer import Explorer

# Measured by `python -m course_utils.capstone all --out runs/cpu` on the CPU preset (500 pre-training
# steps, seeds 0-2): test accuracy on the unseen feeling words. Used when no results are passed in.
REFERENCE_ACCURACY = {
    "scratch": {8: (0.485, 0.4725, 0.4725), 32: (0.495, 0.485, 0.4925), 128: (0.5425, 0.4775, 0.5125)},
    "linear_probe": {8: (0.995, 0.9925, 0.995), 32: (1.0, 0.9975, 1.0), 128: (1.0, 0.9975, 1.0)},
    "adapter": {8: (0.9675, 0.945, 0.9075), 32: (1.0, 1.0, 0.9975), 128: (1.0, 1.0, 1.0)},
    "lora": {8: (0.8625, 1.0, 0.9975), 32: (1.0, 1.0, 1.0), 128: (1.0, 1.0, 1.0)},
    "full": {8: (0.935, 0.96, 1.0), 32: (1.0, 1.0, 1.0), 128: (1.0, 1.0, 1.0)},
}
REFERENCE_PARAMS = {"scratch": 113794, "linear_probe": 130, "adapter": 8642, "lora": 3202, "full": 113794}


def reference_rows() -> list[dict]:
    """`REFERENCE_ACCURACY` as results.json rows (method, labels, seed, test_accuracy, trainable_params)."""
    return [
        {"method": m, "labels": n, "seed": s, "test_accuracy": acc, "trainable_params": REFERENCE_PARAMS[m]}
        for m, by_n in REFERENCE_ACCURACY.items()
        for n, accs in by_n.items()
        for s, acc in enumerate(accs)
    ]


def compute_label_curves(rows: Sequence[dict], labels: int | None = None) -> dict:
    """Accuracy curves per method, and every method's accuracy at one label count.

    Args:
        rows: fine-tuning results, dicts with method, labels, seed, test_accuracy.
        labels: the label count to compare methods at (None: 32 if present, else the smallest).

    Returns:
        {"methods": [...], "labels": sorted label counts, "mean"/"min"/"max": {method: array over labels},
        "seeds": {method: [(labels, accuracy), ...]}, "at": the label count, "at_mean"/"at_min"/"at_max":
        arrays over methods, "gap": mean accuracy minus scratch's at `at` (None without scratch)}.
    """
    if not rows:
        raise ValueError("compute_label_curves: rows must hold at least one fine-tuning result")
    table = summarize(rows)
    methods = [m for m in METHODS if m in table]
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


def make_label_explorer(rows: Sequence[dict] | None = None) -> Explorer:
    """Accuracy vs labelled examples per method (left) and all methods at one label count (right).

    Args:
        rows: fine-tuning results (None: `reference_rows()`, measured on the CPU preset).
    """
    rows = list(rows) if rows is not None else reference_rows()
    base = compute_label_curves(rows)
    methods, ns = base["methods"], base["labels"]
    colors = {m: COLORS[i % len(COLORS)] for i, m in enumerate(METHODS)}
    fig, (ax_curve, ax_bar) = new_figure(2, width=8.0, height=3.0)

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
    legend = ax_curve.legend(fontsize=8, loc="center right")
    label(ax_curve, "labelled examples (log scale)", "test accuracy (unseen words)", "Accuracy vs labels")

    xs = np.arange(len(methods))
    bars = ax_bar.bar(xs, base["at_mean"], color=[colors[m] for m in methods], alpha=0.5)
    spread = ax_bar.vlines(xs, base["at_min"], base["at_max"], color=PALETTE["black"], linewidth=2)
    chance_bar = ax_bar.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax_bar.set_xticks(xs, [m.replace("_", "\n") for m in methods], fontsize=8)
    ax_bar.set_ylim(0.0, 1.05)
    label(ax_bar, "method", "test accuracy (mean, min-max)")
    bar_title = ax_bar.set_title("")

    controls = {
        "method": widgets.Dropdown(
            options=methods, value="full" if "full" in methods else methods[0], description="method"
        ),
        "labels": widgets.SelectionSlider(options=ns, value=base["at"], description="labels"),
        "show_seeds": widgets.Checkbox(value=False, description="show each seed"),
    }

    def draw(method: str, labels: int, show_seeds: bool) -> str:
        data = compute_label_curves(rows, labels)
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
        bar_title.set_text(f"All methods at {labels} labels")
        i = methods.index(method)
        text = f"<b>{method}</b> with {labels} labels: mean test accuracy {data['at_mean'][i]:.3f}"
        if data["gap"] is not None and method != "scratch":
            text += f", {data['gap'][method] * 100:+.1f} points over training from scratch"
        return text + "."

    # dynamic: what draw changes, and the chance lines and legend that must stay on top of it (the marker
    # line crosses the legend at the largest label count); the axes stay cached
    dynamic = [*lines.values(), *bands.values(), seed_dots, marker, chance_curve, legend]
    dynamic += [*bars, spread, chance_bar, bar_title]
    return Explorer("capstone-labels", controls, fig, draw, dynamic=dynamic)
