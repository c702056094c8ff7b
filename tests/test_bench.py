"""The benchmark's arithmetic (it measures the budgets; tests never time anything themselves)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import bench  # noqa: E402


def test_percentile_interpolates():
    assert bench.percentile([1, 2, 3, 4, 5], 0.5) == 3
    assert bench.percentile([0, 10], 0.95) == 9.5
    assert bench.percentile([7], 0.95) == 7


def test_browser_latencies_summarise_each_notebook_and_all(tmp_path):
    moves = lambda ms, explorer=0: [  # noqa: E731
        {"explorer": "demo", "explorer_index": explorer, "control": "n", "latency_ms": v} for v in ms
    ]
    data = {
        "a.ipynb": {"run_all_s": 1.0, "controls": moves([100, 120, 140])},
        "b.ipynb": {"run_all_s": 1.0, "controls": moves([200, 900, 250], 0) + moves([150], 1)},
    }
    path = tmp_path / "browser-latency.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    rows = {row["notebook"]: row for row in bench.browser_latencies(path)}
    assert rows["a.ipynb"]["ok"] and rows["a.ipynb"]["moves"] == 3 and rows["a.ipynb"]["controls"] == 1
    assert not rows["b.ipynb"]["ok"] and rows["b.ipynb"]["max_ms"] == 900 and rows["b.ipynb"]["controls"] == 2
    assert rows["all notebooks"]["moves"] == 7 and rows["all notebooks"]["controls"] == 3
    # each explorer's first move (100, 200, 150) apart from the others (120, 140, 900, 250)
    assert rows["all notebooks"]["first_moves"] == {"moves": 3, "p50_ms": 150, "max_ms": 200}
    later = round(bench.percentile([120, 140, 900, 250], 0.95), 1)
    assert rows["all notebooks"]["later_moves"] == {"moves": 4, "p95_ms": later}
    assert bench.browser_latencies(tmp_path / "missing.json") == []


def test_browser_sizes_flag_tall_widgets_and_upscaled_figures(tmp_path):
    def widget(name, height, scale):
        return {"explorer": name, "height_px": height, "scale": scale, "natural_px": [400, 300]}

    widgets = [widget("fits", 580, 1.0), widget("tall", 640, 1.0), widget("stretched", 500, 1.3)]
    data = {"a.ipynb": {"run_all_s": 1.0, "controls": [], "widgets": widgets}}
    path = tmp_path / "browser-latency.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    ok = {row["explorer"]: row["ok"] for row in bench.browser_sizes(path)}
    assert ok == {"fits": True, "tall": False, "stretched": False}
    assert bench.browser_sizes(tmp_path / "missing.json") == []
