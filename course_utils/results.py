"""Fine-tuning results: summaries over seeds, the gap over training from scratch, tables and the plot.

The rows are those of `course_utils.finetuning.run_finetuning` and of the capstone's results.json
(task, method, labels, seed, test_accuracy, trainable_params, total_params). A row without "task"
(results.json before tasks were added) belongs to "sentiment", the only task then. Rows of several
tasks are summarised per task: pass `task=`, or let a function that needs one task take the only
one there is. Widgets and notebooks import these instead of the trainer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from course_utils.finetuning import ALL_METHODS, TASKS

RESULTS_NAME = "results.json"  # in a capstone run folder
PLOT_NAME = "accuracy_vs_labels.png"
LEGACY_TASK = "sentiment"  # the task of rows without one


def read_results(out_dir: str | Path) -> dict:
    """DIR/results.json, or an empty dict if there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(out_dir) / RESULTS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def task_of(row: dict) -> str:
    """The task a result row belongs to."""
    return row.get("task", LEGACY_TASK)


def tasks_in(rows: Sequence[dict]) -> list[str]:
    """The tasks of `rows`: the course's in their order (sentiment, coherence), then any other by first appearance."""
    found = list(dict.fromkeys(task_of(r) for r in rows))
    return [t for t in TASKS if t in found] + [t for t in found if t not in TASKS]


def _one_task(rows: Sequence[dict], task: str | None, where: str) -> list[dict]:
    """The rows of `task` (None: the only task in `rows`)."""
    tasks = tasks_in(rows)
    if task is None:
        if len(tasks) > 1:
            raise ValueError(f"{where}: the results hold several tasks {tasks}; pass task= one of them")
        return list(rows)
    if task not in tasks:
        raise ValueError(f"{where}: task must be one of {tasks} (the tasks in the results), got {task!r}")
    return [r for r in rows if task_of(r) == task]


def summarize(rows: Sequence[dict], task: str | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """{method: {labels: {"mean", "min", "max", "std", "n"}}} of test accuracy over seeds, for one task.

    Args:
        rows: result rows.
        task: whose rows (None: the only task in `rows`; a ValueError if there are several).
    """
    table: dict[str, dict[int, list[float]]] = {}
    for r in _one_task(rows, task, "summarize"):
        table.setdefault(r["method"], {}).setdefault(int(r["labels"]), []).append(float(r["test_accuracy"]))
    out = {}
    for method, by_n in table.items():
        out[method] = {}
        for n, accs in sorted(by_n.items()):
            mean = sum(accs) / len(accs)
            std = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
            out[method][n] = {"mean": mean, "min": min(accs), "max": max(accs), "std": std, "n": len(accs)}
    return out


def gap_over_scratch(rows: Sequence[dict], labels: int = 32, task: str | None = None) -> dict[str, float]:
    """Mean test accuracy of each method minus that of "scratch" at `labels` labels (accuracy points, 0..1)."""
    table = summarize(rows, task)
    if "scratch" not in table or labels not in table["scratch"]:
        raise ValueError(f"gap_over_scratch: no 'scratch' runs with {labels} labels in the results")
    base = table["scratch"][labels]["mean"]
    return {m: by_n[labels]["mean"] - base for m, by_n in table.items() if m != "scratch" and labels in by_n}


def parameter_table(rows: Sequence[dict]) -> list[tuple[str, int, int, float]]:
    """(method, trainable parameters, total parameters, share trained) per method, in ALL_METHODS order."""
    seen = {}
    for r in rows:
        seen.setdefault(r["method"], (int(r["trainable_params"]), int(r.get("total_params", r["trainable_params"]))))
    return [(m, t, total, t / total) for m in ALL_METHODS if m in seen for t, total in [seen[m]]]


def report_lines(rows: Sequence[dict]) -> list[str]:
    """The comparison as text, per task: accuracy (mean and min-max over seeds) per method and label count,
    the gap over scratch at 32 labels; then the parameters each method trains."""
    lines = []
    for task in tasks_in(rows):
        mine = _one_task(rows, task, "report_lines")
        table = summarize(mine)
        ns = sorted({int(r["labels"]) for r in mine})
        seeds = max(cell["n"] for by_n in table.values() for cell in by_n.values())
        lines.append(f"{task}: test accuracy, mean (min-max) over up to {seeds} seeds:")
        lines.append("  " + "method".ljust(13) + "".join(f"{n:>18d}" for n in ns))
        for method in (m for m in ALL_METHODS if m in table):
            cells = [table[method].get(n) for n in ns]
            lines.append(
                "  "
                + method.ljust(13)
                + "".join(f"{c['mean']:7.3f} ({c['min']:.2f}-{c['max']:.2f})" if c else f"{'-':>18s}" for c in cells)
            )
        if 32 in ns and "scratch" in table and 32 in table["scratch"]:
            gaps = gap_over_scratch(mine, 32)
            lines.append(
                "  at 32 labels, over scratch: " + ", ".join(f"{m} {g * 100:+.1f} points" for m, g in gaps.items())
            )
    lines.append("trainable parameters:")
    lines += [f"  {m:13s}{t:>9d} of {total} ({share:.2%})" for m, t, total, share in parameter_table(rows)]
    return lines


def plot_accuracy_vs_labels(rows: Sequence[dict], ax=None):
    """Test accuracy against label count per method, one panel per task: the mean over seeds and the min-max band.

    Args:
        rows: result rows of one task or several.
        ax: a matplotlib Axes, or a sequence of them, one per task (None: a new figure).

    Returns:
        The matplotlib Figure.
    """
    from course_utils.plotting import COLORS, label, new_figure

    tasks = tasks_in(rows)
    if ax is None:
        fig, axes = new_figure(len(tasks), width=4.2 * len(tasks) + 1.0, height=3.4)
        axes = list(axes) if len(tasks) > 1 else [axes]
    else:
        axes = [ax] if hasattr(ax, "plot") else list(ax)
        if len(axes) != len(tasks):
            raise ValueError(f"plot_accuracy_vs_labels: ax must hold one Axes per task ({len(tasks)}), got {len(axes)}")
        fig = axes[0].figure
    colors = {m: COLORS[i % len(COLORS)] for i, m in enumerate(ALL_METHODS)}
    for axis, task in zip(axes, tasks):
        mine = _one_task(rows, task, "plot_accuracy_vs_labels")
        table = summarize(mine)
        for method in (m for m in ALL_METHODS if m in table):
            ns = sorted(table[method])
            color = colors[method]
            axis.plot(ns, [table[method][n]["mean"] for n in ns], marker="o", color=color, label=method)
            lows, highs = [table[method][n]["min"] for n in ns], [table[method][n]["max"] for n in ns]
            axis.fill_between(ns, lows, highs, color=color, alpha=0.15, linewidth=0)
        ns = sorted({int(r["labels"]) for r in mine})
        axis.set_xscale("log", base=2)
        axis.set_xticks(ns, [str(n) for n in ns])
        axis.minorticks_off()
        axis.set_ylim(0.3, 1.03)
        axis.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        seeds = max(c["n"] for by_n in table.values() for c in by_n.values())
        label(axis, "labelled examples (log scale)", "test accuracy", f"{task} (band: min-max of {seeds} seeds)")
    axes[-1].legend(fontsize=8, loc="upper left", ncol=2)  # the low curves (scratch, static) stay visible
    return fig
