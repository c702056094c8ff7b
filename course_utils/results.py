"""Fine-tuning results: summaries over seeds, the gap over training from scratch, tables and the plot.

The rows are those of `course_utils.finetuning.run_finetuning` and of the capstone's results.json
(method, labels, seed, test_accuracy, trainable_params, total_params). Widgets and notebooks import
these instead of the trainer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from course_utils.finetuning import METHODS

RESULTS_NAME = "results.json"  # in a capstone run folder
PLOT_NAME = "accuracy_vs_labels.png"


def read_results(out_dir: str | Path) -> dict:
    """DIR/results.json, or an empty dict if there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(out_dir) / RESULTS_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def summarize(rows: Sequence[dict]) -> dict[str, dict[int, dict[str, float]]]:
    """{method: {labels: {"mean", "min", "max", "std", "n"}}} of test accuracy over seeds."""
    table: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        table.setdefault(r["method"], {}).setdefault(int(r["labels"]), []).append(float(r["test_accuracy"]))
    out = {}
    for method, by_n in table.items():
        out[method] = {}
        for n, accs in sorted(by_n.items()):
            mean = sum(accs) / len(accs)
            std = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
            out[method][n] = {"mean": mean, "min": min(accs), "max": max(accs), "std": std, "n": len(accs)}
    return out


def gap_over_scratch(rows: Sequence[dict], labels: int = 32) -> dict[str, float]:
    """Mean test accuracy of each method minus that of "scratch" at `labels` labels (accuracy points, 0..1)."""
    table = summarize(rows)
    if "scratch" not in table or labels not in table["scratch"]:
        raise ValueError(f"gap_over_scratch: no 'scratch' runs with {labels} labels in the results")
    base = table["scratch"][labels]["mean"]
    return {m: by_n[labels]["mean"] - base for m, by_n in table.items() if m != "scratch" and labels in by_n}


def parameter_table(rows: Sequence[dict]) -> list[tuple[str, int, int, float]]:
    """(method, trainable parameters, total parameters, share trained) per method, in METHODS order."""
    seen = {}
    for r in rows:
        seen.setdefault(r["method"], (int(r["trainable_params"]), int(r.get("total_params", r["trainable_params"]))))
    return [(m, t, total, t / total) for m in METHODS if m in seen for t, total in [seen[m]]]


def report_lines(rows: Sequence[dict]) -> list[str]:
    """The fine-tuning comparison as text: accuracy per method and label count, parameters, the gap at 32 labels."""
    table = summarize(rows)
    ns = sorted({int(r["labels"]) for r in rows})
    lines = ["test accuracy (mean over seeds):", "  " + "method".ljust(13) + "".join(f"{n:>8d}" for n in ns)]
    for method in (m for m in METHODS if m in table):
        lines.append("  " + method.ljust(13) + "".join(f"{table[method][n]['mean']:8.3f}" for n in ns))
    lines.append("trainable parameters:")
    lines += [f"  {m:13s}{t:>9d} of {total} ({share:.2%})" for m, t, total, share in parameter_table(rows)]
    if 32 in ns and "scratch" in table:
        gaps = gap_over_scratch(rows, 32)
        lines.append("at 32 labels, over scratch: " + ", ".join(f"{m} {g * 100:+.1f} points" for m, g in gaps.items()))
    return lines


def plot_accuracy_vs_labels(rows: Sequence[dict], ax=None):
    """Test accuracy against label count per method: the mean over seeds and the min-max band.

    Returns:
        The matplotlib Figure.
    """
    from course_utils.plotting import COLORS, label, new_figure

    if ax is None:
        fig, ax = new_figure(width=6.0, height=3.6)
    else:
        fig = ax.figure
    table = summarize(rows)
    for i, method in enumerate(m for m in METHODS if m in table):
        ns = sorted(table[method])
        color = COLORS[i % len(COLORS)]
        ax.plot(ns, [table[method][n]["mean"] for n in ns], marker="o", color=color, label=method)
        lows, highs = [table[method][n]["min"] for n in ns], [table[method][n]["max"] for n in ns]
        ax.fill_between(ns, lows, highs, color=color, alpha=0.15, linewidth=0)
    ns = sorted({int(r["labels"]) for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.05)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    label(ax, "labelled examples (log scale)", "test accuracy", "Fine-tuning with few labels")
    ax.legend(fontsize=8, loc="lower right")
    return fig
