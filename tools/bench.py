"""The course's performance budgets, measured (docs/design.md, "Budgets").

    python tools/bench.py                 # notebooks and widgets
    python tools/bench.py --only widgets  # just widget update latencies
    python tools/bench.py --only notebooks 01 03

Measures each notebook's end-to-end execution time (a fresh kernel, a temporary copy, so the
committed files are untouched) and each widget's update latency in the kernel (compute plus
redraw plus PNG render, p50 and p95 over repeated control changes, applied as the browser applies a
learner's move, so an explorer that drops from 2x to 1x pictures when slow does so here too). Adds the
browser latencies, widget heights and figure display scales the browser tests recorded
(build/browser-latency.json) and, where the capstone provides it,
its training throughput. Prints a table, writes build/bench.json, and exits 1 if a budget is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from execute_notebooks import course_notebooks  # noqa: E402

NOTEBOOK_BUDGET_S = 45.0
CAPSTONE_BUDGET_S = 180.0
COURSE_BUDGET_S = 8 * 60.0
WIDGET_BUDGET_MS = 100.0
BROWSER_BUDGET_MS = 150.0  # input event to new figure painted, p95 (aim: 100)
HEIGHT_BUDGET_PX = 600  # a widget, controls and figure, fits a 1366x768 screen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_notebooks(prefixes: list[str]) -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in course_notebooks(prefixes):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            shutil.copy(path, copy)
            nb = nbformat.read(copy, as_version=4)
            client = NotebookClient(
                nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
            )
            start = time.perf_counter()
            client.execute()
            seconds = time.perf_counter() - start
        budget = CAPSTONE_BUDGET_S if path.name.startswith("10_") else NOTEBOOK_BUDGET_S
        rows.append({"notebook": path.name, "seconds": round(seconds, 1), "budget_s": budget, "ok": seconds <= budget})
        print(
            f"  {path.name:45s} {seconds:6.1f} s  (budget {budget:.0f} s){'' if seconds <= budget else '  OVER'}",
            flush=True,
        )
    return rows


def bench_widgets(repeats: int = 3) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.widgets.explorer import alternative_values, discover_builders

    rows = []
    for key, builder in discover_builders().items():
        start = time.perf_counter()
        explorer = builder()
        build_s = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            for control in explorer.controls.values():
                original = control.value
                for value in alternative_values(control, count=4) + [original]:
                    t0 = time.perf_counter()
                    _move_as_the_browser_does(control, value)  # recomputes, redraws and renders synchronously
                    times.append((time.perf_counter() - t0) * 1000)
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        width, height = explorer.size_px
        rows.append(
            {
                "widget": key,
                "build_s": round(build_s, 2),
                "updates": len(times),
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "budget_ms": WIDGET_BUDGET_MS,
                "ok": p95 <= WIDGET_BUDGET_MS,
                "figure_px": [width, height],
                "pixel_ratio": explorer.pixel_ratio,
            }
        )
        print(
            f"  {key:55s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({len(times)} updates, built in {build_s:.1f} s; "
            f"figure {width}x{height} px at {explorer.pixel_ratio:g}x){'' if p95 <= WIDGET_BUDGET_MS else '  OVER'}",
            flush=True,
        )
    return rows


def _move_as_the_browser_does(control, value) -> None:
    """Set a control as ipywidgets applies a value sent by the browser (its properties locked while set)."""
    with control._lock_property(value=value):  # the lock `Widget.set_state` holds; private, stable since ipywidgets 7
        control.value = value


def browser_latencies(path: Path = ROOT / "build" / "browser-latency.json") -> list[dict]:
    """The latencies the browser tests measured in the page (input event to new figure painted):
    a row per notebook and one for all of them together."""
    if not path.exists():
        print("  (none recorded: run the browser tests first, `pytest tests/browser`)")
        return []
    age_h = (time.time() - path.stat().st_mtime) / 3600
    print(f"  (from {path}, written {age_h:.1f} h ago by the browser tests)")
    rows, everything, firsts, laters = [], [], [], []
    for notebook, data in json.loads(path.read_text(encoding="utf-8")).items():
        latencies = [c["latency_ms"] for c in data["controls"]]
        if not latencies:
            continue
        everything += latencies
        seen = set()
        for c in data["controls"]:  # in the order the test made the moves
            explorer = c.get("explorer_index", c["explorer"])
            (laters if explorer in seen else firsts).append(c["latency_ms"])
            seen.add(explorer)
        controls = len({(c.get("explorer_index", c["explorer"]), c["control"]) for c in data["controls"]})
        rows.append(_latency_row(notebook, latencies, controls))
    if everything:
        row = _latency_row("all notebooks", everything, sum(r["controls"] for r in rows))
        # The first move of each explorer is a first click in its cell: JupyterLab makes the cell the active
        # one, which on 2 cores takes 50-250 ms of the page's time whatever the cell holds (see
        # tests/browser/lab_helpers.py). Shown apart, so that a change in the widgets' own time stands out.
        row["first_moves"] = {"moves": len(firsts), "p50_ms": round(percentile(firsts, 0.5), 1), "max_ms": max(firsts)}
        if laters:
            row["later_moves"] = {"moves": len(laters), "p95_ms": round(percentile(laters, 0.95), 1)}
        print(
            f"  {'':45s} each explorer's first move ({len(firsts)}, a first click in its cell): p50 "
            f"{row['first_moves']['p50_ms']:.1f} ms, max {max(firsts):.1f} ms"
            + (f"; the other moves ({len(laters)}): p95 {row['later_moves']['p95_ms']:.1f} ms" if laters else "")
        )
        rows.append(row)
    return rows


def browser_sizes(path: Path = ROOT / "build" / "browser-latency.json") -> list[dict]:
    """Each explorer's height and its figure's display scale (shown width / natural width) as the browser tests
    measured them at a 1366x768 window: at most HEIGHT_BUDGET_PX tall, a figure never upscaled."""
    if not path.exists():
        return []
    rows = []
    for notebook, data in json.loads(path.read_text(encoding="utf-8")).items():
        for w in data.get("widgets", []):
            ok = w["height_px"] <= HEIGHT_BUDGET_PX and w["scale"] <= 1.0
            rows.append({"notebook": notebook, **w, "ok": ok})
            print(
                f"  {notebook[:2]} {w['explorer']:32s} {w['height_px']:5.0f} px tall  figure shown at "
                f"{w['scale']:.2f}x of {w['natural_px'][0]}x{w['natural_px'][1]} px"
                f"{'' if ok else '  OVER'}"
            )
    return rows


def _latency_row(name: str, latencies: list[float], controls: int) -> dict:
    p95 = percentile(latencies, 0.95)
    row = {
        "notebook": name,
        "controls": controls,
        "moves": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(p95, 1),
        "max_ms": max(latencies),
        "budget_ms": BROWSER_BUDGET_MS,
        "ok": p95 <= BROWSER_BUDGET_MS,
    }
    print(
        f"  {name:45s} p50 {row['p50_ms']:6.1f} ms  p95 {p95:6.1f} ms  max {row['max_ms']:6.1f} ms"
        f"  ({len(latencies)} moves of {controls} controls){'' if row['ok'] else '  OVER'}"
    )
    return row


def capstone_throughput() -> dict | None:
    try:
        from course_utils import capstone
    except ImportError:
        return None
    fn = getattr(capstone, "benchmark_throughput", None)
    if fn is None:
        return None
    result = fn()
    print(f"  capstone pre-training: {result}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file name starts with one of these")
    parser.add_argument("--only", choices=["notebooks", "widgets", "browser", "capstone"], action="append")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench.json"))
    args = parser.parse_args(argv)
    parts = args.only or ["notebooks", "widgets", "browser", "capstone"]
    import torch

    report = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
    }
    ok = True
    if "notebooks" in parts:
        print("Notebook end-to-end time:")
        report["notebooks"] = bench_notebooks(args.prefixes)
        total = sum(r["seconds"] for r in report["notebooks"])
        whole = not args.prefixes
        print(
            f"  {'whole course' if whole else 'selected notebooks':45s} {total:6.1f} s"
            f"{f'  (budget {COURSE_BUDGET_S:.0f} s)' if whole else ''}"
        )
        ok &= all(r["ok"] for r in report["notebooks"]) and (not whole or total <= COURSE_BUDGET_S)
    if "widgets" in parts:
        print(f"Widget update latency in the kernel (budget p95 <= {WIDGET_BUDGET_MS:.0f} ms):")
        report["widgets"] = bench_widgets()
        ok &= all(r["ok"] for r in report["widgets"])
    if "browser" in parts:
        print(f"Browser: control moved to new figure shown (budget p95 <= {BROWSER_BUDGET_MS:.0f} ms):")
        report["browser"] = browser_latencies()
        ok &= all(r["ok"] for r in report["browser"])
        print(
            f"Browser: widget heights (budget {HEIGHT_BUDGET_PX} px) and figure display scale (budget: never above 1):"
        )
        report["browser_sizes"] = browser_sizes()
        ok &= all(r["ok"] for r in report["browser_sizes"])
    if "capstone" in parts:
        report["capstone"] = capstone_throughput()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(
        f"written: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; {'all within budget' if ok else 'SOME BUDGETS BROKEN'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
