"""Measure transfer on the course's labelled tasks: accuracy against label count, per method, over seeds.

Methods: "scratch" (a fresh TinyGPT of the shipped shape), "static" (bag of the shipped token
embeddings + logistic regression; `course_utils.baselines`), "centroid" (the same vectors, nearest
centroid), "linear_probe", "adapter", "lora" and "full" (the shipped pre-trained model). The
fine-tuning recipe is the course's (`course_utils.pretraining.finetune_classifier`): a new
classification head on the last token's features, full-batch AdamW (weight decay 0.01) on the
first `n_labels` labelled examples, adapters of bottleneck 16, LoRA of rank 4 (alpha = rank) on
the attention projections. It is written out here so that it accepts any `ClassificationTask`.

Hyper-parameters are chosen on the validation split, never on test: every (method, lr) runs for
the longest step count, and validation and test accuracy are recorded at every step count of the
grid (a constant learning rate, so stopping at step s is the same run as asking for s steps).
For each task and method, the (lr, steps) with the best mean validation accuracy over all label
counts and seeds is chosen; the test table is read at that choice. Seed s means task seed s (which
labelled, validation and test examples) and initialisation seed s (head, adapters, LoRA, scratch
model).

Raw results go to a JSON-lines file as they come (a rerun skips what is there), the summary to a
JSON file and to stdout as Markdown tables:

    python tools/measure_transfer.py                        # both tasks, the full grid (long)
    python tools/measure_transfer.py --tasks coherence --labels 32 --seeds 0 --quick
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.baselines import bag_of_embeddings, fit_static  # noqa: E402
from course_utils.layers.adapters import add_adapters, add_lora, count_parameters, freeze  # noqa: E402
from course_utils.models.gpt import TinyGPT  # noqa: E402
from course_utils.pretraining import load_pretrained  # noqa: E402
from course_utils.text import ClassificationDataset, make_coherence_task, make_sentiment_task  # noqa: E402

TASKS = {"sentiment": make_sentiment_task, "coherence": make_coherence_task}
NEURAL = ("scratch", "linear_probe", "adapter", "lora", "full")
STATIC = ("static", "centroid")
LR_GRID = {  # around the course's defaults (FINETUNE_DEFAULTS), as far as a loaded 2-core machine allowed
    "scratch": (1e-3,),  # one lr only, to save time: it fits its labelled examples and stays at chance
    "linear_probe": (3e-3, 1e-2, 3e-2, 1e-1),
    "adapter": (3e-3, 1e-2),
    "lora": (3e-3, 1e-2),
    "full": (3e-4, 1e-3),
}
STEP_GRID = (25, 50, 100)  # the course's fine-tuning runs 150 steps; most of the gain comes by 50
PROBE_STEP_GRID = (25, 50, 100, 200, 300, 500)  # the probe's head trains on fixed features: steps are cheap
C_GRID = (0.01, 0.1, 1.0, 10.0)
QUICK_LR = {"scratch": (1e-3,), "linear_probe": (1e-2,), "adapter": (3e-3,), "lora": (3e-3,), "full": (3e-4,)}


_CACHE: dict = {}


def _cached(key, make):
    """`make()` computed once per key; returns (value, seconds and cpu seconds it took the first time).

    A run that reuses a cached value is charged its time, so the seconds reported are those of a
    run on its own.
    """
    if key not in _CACHE:
        t0, c0 = time.perf_counter(), time.process_time()
        value = make()
        _CACHE[key] = (value, time.perf_counter() - t0, time.process_time() - c0)
    return _CACHE[key]


def _datasets(task, tokenizer):
    """The task's pool, validation, test (and seen-words test) splits as ClassificationDatasets, cached."""

    def make():
        out = {
            "pool": ClassificationDataset(task.train_texts, task.train_labels, tokenizer),
            "val": ClassificationDataset(task.val_texts, task.val_labels, tokenizer),
            "test": ClassificationDataset(task.test_texts, task.test_labels, tokenizer),
        }
        if hasattr(task, "test_seen_texts"):
            out["test_seen"] = ClassificationDataset(task.test_seen_texts, task.test_seen_labels, tokenizer)
        return out

    return _cached(("datasets", id(task)), make)


def _prefix(ds: ClassificationDataset, n: int, pad_id: int) -> ClassificationDataset:
    """The first n examples, padded to their own longest (as `ClassificationDataset(texts[:n], ...)` would)."""
    out = copy.copy(ds)
    length = int((ds.ids[:n] != pad_id).sum(1).max())
    out.ids, out.labels = ds.ids[:n, :length], ds.labels[:n]
    return out


@torch.no_grad()
def _accuracy(model: TinyGPT, ds: ClassificationDataset) -> float:
    return (model.classify(ds.ids).argmax(-1) == ds.labels).float().mean().item()


def run_neural(model, tokenizer, task, method, n_labels, seed, lr, step_grid, bottleneck=16, rank=4):
    """One fine-tuning run; validation and test accuracy (and seconds so far) at each step count of `step_grid`."""
    task.train_subset(n_labels)  # checks n_labels
    splits, ds_wall, ds_cpu = _datasets(task, tokenizer)
    t0 = time.perf_counter() - ds_wall
    c0 = time.process_time() - ds_cpu
    train = _prefix(splits["pool"], n_labels, tokenizer.pad_id)
    torch.manual_seed(seed)  # every new weight comes from this seed
    if method == "scratch":
        clf = TinyGPT(dataclasses.replace(model.config, n_classes=len(task.label_names), dropout=0.0))
    else:
        clf = copy.deepcopy(model)
        clf.add_classifier(len(task.label_names))
    if method == "linear_probe":
        freeze(clf, [clf.classifier])
    elif method == "adapter":
        add_adapters(clf, bottleneck)
    elif method == "lora":
        add_lora(clf, rank)
    else:
        for p in clf.parameters():
            p.requires_grad_(True)
    trainable = [p for p in clf.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    ids, y = train.ids, train.labels
    if method == "linear_probe":  # frozen body: its features never change, compute them once
        clf.eval()

        def features():
            with torch.no_grad():
                return {k: model.features(d.ids) for k, d in splits.items()}

        feats, f_wall, f_cpu = _cached(("features", id(task)), features)
        t0, c0 = t0 - f_wall, c0 - f_cpu
        train_feats = feats["pool"][:n_labels]
        logits_fn = lambda: clf.classifier(train_feats)  # noqa: E731
    else:
        clf.train()
        logits_fn = lambda: clf.classify(ids)  # noqa: E731
    out, eval_wall, eval_cpu = [], 0.0, 0.0
    for step in range(1, max(step_grid) + 1):
        loss = F.cross_entropy(logits_fn(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step in step_grid:
            e0, ec0 = time.perf_counter(), time.process_time()
            clf.eval()
            if method == "linear_probe":
                with torch.no_grad():
                    acc = {
                        k: (clf.classifier(f).argmax(-1) == splits[k].labels).float().mean().item()
                        for k, f in feats.items()
                    }
                acc["train"] = (clf.classifier(train_feats).argmax(-1) == y).float().mean().item()
            else:
                acc = {
                    "train": _accuracy(clf, train),
                    **{k: _accuracy(clf, d) for k, d in splits.items() if k != "pool"},
                }
            row = {"steps": step, "train_loss": loss.item()}
            row.update({f"{k}_accuracy": v for k, v in acc.items() if k != "pool"})
            if method != "linear_probe":
                clf.train()
            eval_wall += time.perf_counter() - e0
            eval_cpu += time.process_time() - ec0
            # seconds of a run that stops here and evaluates once on the test split
            row["seconds"] = time.perf_counter() - t0 - eval_wall
            row["cpu_seconds"] = time.process_time() - c0 - eval_cpu
            out.append(row)
    return out, count_parameters(clf)


def run_static(model, tokenizer, task, method, n_labels, C):
    task.train_subset(n_labels)  # checks n_labels

    def make():
        out = {
            "pool": (task.train_texts, task.train_labels),
            "val": (task.val_texts, task.val_labels),
            "test": (task.test_texts, task.test_labels),
        }
        if hasattr(task, "test_seen_texts"):
            out["test_seen"] = (task.test_seen_texts, task.test_seen_labels)
        return {k: (bag_of_embeddings(t, model, tokenizer).numpy(), np.asarray(y)) for k, (t, y) in out.items()}

    feats, f_wall, _ = _cached(("bag", id(task)), make)
    t0 = time.perf_counter() - f_wall
    x, y = feats["pool"][0][:n_labels], feats["pool"][1][:n_labels]
    clf = fit_static(x, y, "logistic" if method == "static" else "centroid", C)
    row = {"C": C}
    for k, (fx, fy) in feats.items():
        if k != "pool":
            row[f"{k}_accuracy"] = float((clf.predict(fx) == fy).mean())
    row["seconds"] = time.perf_counter() - t0
    return row


def collect(args) -> list[dict]:
    """Phase 1: every lr of the grid on the selection seeds; phase 2: the chosen lr on the other seeds."""
    raw_path = Path(args.raw)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in raw_path.read_text(encoding="utf-8").splitlines()] if raw_path.exists() else []
    done = {(r["task"], r["method"], r["n_labels"], r["seed"], r["hp"]) for r in rows}
    model, tokenizer, _ = load_pretrained()
    model.eval()
    lr_grid = QUICK_LR if args.quick else LR_GRID
    tasks = {}

    def run(f, task_name, seed, n, method, hp):
        key = (task_name, method, n, seed, hp)
        if key in done:
            return
        if (task_name, seed) not in tasks:
            tasks[task_name, seed] = TASKS[task_name](seed=seed)
        task = tasks[task_name, seed]
        base = {"task": task_name, "method": method, "n_labels": n, "seed": seed, "hp": hp}
        if method in STATIC:
            results = [{**base, **run_static(model, tokenizer, task, method, n, hp)}]
        else:
            steps = args.probe_steps if method == "linear_probe" else args.steps
            evals, n_params = run_neural(model, tokenizer, task, method, n, seed, hp, steps)
            results = [{**base, "lr": hp, "trainable_params": n_params, **e} for e in evals]
        for r in results:
            f.write(json.dumps(r) + "\n")
            rows.append(r)
        f.flush()
        done.add(key)
        best = max(r["val_accuracy"] for r in results)
        print(f"{task_name} seed {seed} n {n} {method} hp {hp}: best val {best:.3f}", flush=True)

    cheap = [(m, C) for m in STATIC for C in (C_GRID if m == "static" else (1.0,))]
    cheap += [("linear_probe", lr) for lr in lr_grid["linear_probe"]] if "linear_probe" in args.methods else []
    heavy = [m for m in args.methods if m != "linear_probe"]
    with raw_path.open("a", encoding="utf-8") as f:
        for task_name in args.tasks:
            for seed in args.seeds:  # the static baselines and the probe are cheap: their whole grid, every seed
                for n in args.labels:
                    for method, hp in cheap:
                        run(f, task_name, seed, n, method, hp)
            if args.phase in ("1", "both"):
                for seed in args.select_seeds:  # phase 1: the whole lr grid on the selection seeds and labels
                    for n in args.select_labels:
                        for method in heavy:
                            for lr in lr_grid[method]:
                                run(f, task_name, seed, n, method, lr)
            if args.phase in ("2", "both"):
                chosen_lr = {method: choose(rows, task_name, method, args)[0] for method in heavy}
                print(f"{task_name}: chosen lr {chosen_lr}", flush=True)
                for seed in args.seeds:  # phase 2, seed by seed so that a cut-short run has all methods per seed
                    for n in args.labels:
                        for method in heavy:
                            run(f, task_name, seed, n, method, chosen_lr[method])
    return rows


def choose(rows, task_name, method, args) -> tuple[float, int]:
    """The (hp, steps) with the best mean validation accuracy over the selection seeds and label counts.

    Only settings run on every (selection seed, selection label count) compete.
    """
    mine = [
        r
        for r in rows
        if r["task"] == task_name
        and r["method"] == method
        and r["n_labels"] in args.select_labels
        and r["seed"] in args.select_seeds
    ]
    settings = sorted({(r["hp"], r.get("steps", 0)) for r in mine})
    cells = {(r["n_labels"], r["seed"]) for r in mine}

    def mean_val(s):
        vals = [r["val_accuracy"] for r in mine if (r["hp"], r.get("steps", 0)) == s]
        return sum(vals) / len(vals) if len(vals) == len(cells) else -1.0  # only settings run everywhere

    return max(settings, key=mean_val)  # ties: the first, i.e. the smallest hp, then the fewest steps


def summarize(rows: list[dict], args) -> dict:
    unique = {}
    for r in rows:  # a run recorded twice (two processes on one raw file) counts once
        unique.setdefault((r["task"], r["method"], r["n_labels"], r["seed"], r["hp"], r.get("steps")), r)
    rows = list(unique.values())
    summary = {}
    for task_name in args.tasks:
        summary[task_name] = {"choice": {}, "table": {}}
        for method in STATIC + tuple(m for m in NEURAL if m in args.methods):
            mine = [
                r
                for r in rows
                if r["task"] == task_name
                and r["method"] == method
                and r["n_labels"] in args.labels
                and r["seed"] in args.seeds
            ]
            if not mine:
                continue
            choice = choose(rows, task_name, method, args)
            chosen = [r for r in mine if (r["hp"], r.get("steps", 0)) == choice]
            hp_name = "C" if method == "static" else ("-" if method == "centroid" else "lr")
            summary[task_name]["choice"][method] = {hp_name: choice[0], "steps": choice[1]}
            table = {}
            for n in args.labels:
                cell = [r for r in chosen if r["n_labels"] == n]
                if not cell:
                    continue
                acc = [r["test_accuracy"] for r in cell]
                entry = {
                    "mean": statistics.fmean(acc),
                    "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                    "min": min(acc),
                    "max": max(acc),
                    "seeds": len(acc),
                    "val_mean": statistics.fmean(r["val_accuracy"] for r in cell),
                    "seconds": statistics.median(r["seconds"] for r in cell),
                }
                if "cpu_seconds" in cell[0]:
                    entry["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in cell)
                if "test_seen_accuracy" in cell[0]:
                    entry["test_seen_mean"] = statistics.fmean(r["test_seen_accuracy"] for r in cell)
                if "trainable_params" in cell[0]:
                    entry["trainable_params"] = cell[0]["trainable_params"]
                table[n] = entry
            summary[task_name]["table"][method] = table
    return summary


def markdown(summary: dict, labels, n_seeds: int) -> str:
    lines = []
    for task_name, s in summary.items():
        lines.append(f"\n### {task_name}: test accuracy, mean ± std (min-max) over seeds\n")
        lines.append("| method | chosen on validation | " + " | ".join(f"{n} labels" for n in labels) + " |")
        lines.append("|---|---|" + "---|" * len(labels))
        for method, table in s["table"].items():
            c = s["choice"][method]
            chosen = ", ".join(f"{k} {v:g}" for k, v in c.items() if k not in ("mean_val", "-") and v)
            cells = []
            for n in labels:
                e = table.get(n)
                few = f" [{e['seeds']} seeds]" if e and e["seeds"] < n_seeds else ""
                cells.append(f"{e['mean']:.3f} ± {e['std']:.3f} ({e['min']:.2f}-{e['max']:.2f}){few}" if e else "-")
            lines.append(f"| {method} | {chosen or '-'} | " + " | ".join(cells) + " |")
        lines.append("\nseconds per run (median, wall clock), at the chosen setting:\n")
        lines.append("| method | " + " | ".join(f"{n}" for n in labels) + " |")
        lines.append("|---|" + "---|" * len(labels))
        for method, table in s["table"].items():
            cells = []
            for n in labels:
                e = table.get(n)
                cells.append(
                    (f"{e['seconds']:.2f}" + (f" (cpu {e['cpu_seconds']:.2f})" if "cpu_seconds" in e else ""))
                    if e
                    else "-"
                )
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attention_report(n_stories: int = 600, seed: int = 123) -> dict:
    """Where the shipped model's heads look, averaged over held-out corpus stories (`make_corpus(seed=123)`).

    Two content-dependent patterns, each per layer and head:
    - "name": at the position just before a pronoun (he, she, his, her; the position that must
      predict it, and so its gender), the weight on the most recent name; the name sits at
      different positions ("tom went ...", "in the morning, tom took ..."), so a head that finds it
      reads content, not position. Also the weight on position 0 when the name is not there.
    - "cause": at the position just before the feeling word in "when <cause>, she was <feeling>"
      and "<cause>, so she felt <feeling>", the total weight on the cause's tokens.
    Each with the share a uniform (causal) head would give, for comparison.
    """
    from course_utils.text import NEGATIVE_WORDS, PEOPLE, POSITIVE_WORDS, make_corpus

    model, tok, _ = load_pretrained()
    model.eval()
    names = {tok.token_to_id[p[0]] for p in PEOPLE}
    gendered = {tok.token_to_id[w] for w in ("he", "she", "his", "her")}
    feelings = {tok.token_to_id[w] for w in POSITIVE_WORDS + NEGATIVE_WORDS}
    so, when, comma, stop = (tok.token_to_id[w] for w in ("so", "when", ",", "."))
    found = {"name": [], "name_not_first": [], "cause": []}
    for story in make_corpus(200 * n_stories, seed=seed).splitlines()[:n_stories]:
        ids = tok.encode(story)[: model.config.block_size]
        with torch.no_grad():
            w = model.attention_weights(torch.tensor(ids))  # (n_layer, n_head, T, T)
        name_pos = [i for i, t in enumerate(ids) if t in names]
        for q in range(len(ids) - 1):
            row = w[:, :, q, : q + 1]  # (n_layer, n_head, q + 1): query q's weights
            before = [p for p in name_pos if p < q]
            if ids[q + 1] in gendered and before:
                npos = before[-1]
                entry = (row[:, :, npos], row.argmax(-1) == npos, row[:, :, 0], 1 / (q + 1))
                found["name"].append(entry)
                if npos > 0:
                    found["name_not_first"].append(entry)
            if ids[q + 1] in feelings:
                span = []
                if so in ids[:q] and ids[ids.index(so) - 1] == comma:  # "<cause>, so he felt"
                    k = ids.index(so)
                    start = max([i for i in range(k) if ids[i] == stop] or [-1]) + 1
                    span = list(range(start, k - 1))
                elif when in ids[:q]:  # "when <cause>, he was"
                    k = ids.index(when)
                    end = min([i for i in range(k, q) if ids[i] == comma] or [q])
                    span = list(range(k + 1, end))
                if span:
                    inside = (row.argmax(-1)[..., None] == torch.tensor(span)).any(-1)
                    found["cause"].append((row[:, :, span].sum(-1), inside, None, len(span) / (q + 1)))
    report = {}
    for key, entries in found.items():
        weight = torch.stack([e[0] for e in entries]).mean(0)  # (n_layer, n_head)
        argmax = torch.stack([e[1].float() for e in entries]).mean(0)
        layer, head = divmod(int(weight.argmax()), weight.shape[1])
        report[key] = {
            "queries": len(entries),
            "uniform_share": sum(e[3] for e in entries) / len(entries),
            "mean_weight": [[round(x, 3) for x in r] for r in weight.tolist()],
            "argmax_share": [[round(x, 3) for x in r] for r in argmax.tolist()],
            "best": {"layer": layer, "head": head, "mean_weight": round(weight[layer, head].item(), 3)},
        }
        if entries[0][2] is not None:
            report[key]["weight_on_position_0"] = [
                [round(x, 3) for x in r] for r in torch.stack([e[2] for e in entries]).mean(0).tolist()
            ]
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(NEURAL), choices=list(NEURAL))
    parser.add_argument("--labels", nargs="+", type=int, default=[16, 32, 64, 128, 256])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", nargs="+", type=int, default=list(STEP_GRID), help="step counts to evaluate at")
    parser.add_argument("--select-seeds", nargs="+", type=int, default=[0, 1], help="seeds that choose the lr")
    parser.add_argument(
        "--select-labels", nargs="+", type=int, default=None, help="label counts that choose the lr (default: --labels)"
    )
    parser.add_argument("--phase", choices=("1", "2", "both"), default="both", help="1: the lr grid; 2: the chosen lr")
    parser.add_argument("--probe-steps", nargs="+", type=int, default=list(PROBE_STEP_GRID))
    parser.add_argument("--quick", action="store_true", help="one lr per method (the course's defaults)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared machine)")
    parser.add_argument("--raw", default=str(ROOT / "build" / "transfer_raw.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "build" / "transfer_summary.json"))
    parser.add_argument("--attention", action="store_true", help="only the attention report (where heads look)")
    parser.add_argument("--summarize-only", action="store_true", help="only summarise the raw file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.steps = sorted(set(args.steps))
    args.probe_steps = sorted(set(args.probe_steps))
    args.select_labels = args.select_labels or args.labels
    if args.attention:
        print(json.dumps(attention_report(), indent=1))
        return 0
    if args.summarize_only:
        rows = [json.loads(line) for line in Path(args.raw).read_text(encoding="utf-8").splitlines()]
    else:
        rows = collect(args)
    summary = summarize(rows, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(markdown(summary, args.labels, len(args.seeds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
