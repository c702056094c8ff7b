"""Pre-train the course's TinyGPT and write data/: the checkpoint, snapshots, and data/README.md.

    python tools/make_checkpoints.py            # what `make checkpoints` runs
    python tools/make_checkpoints.py --no-measure   # skip the fine-tuning table (faster)

Deterministic: the corpus comes from a seed, training runs on one CPU thread (so the number of
cores cannot change the arithmetic), and the same machine writes the same bytes. It writes

- data/tinygpt_world.pt              the final model (float32), with tokenizer, recipe and history
- data/tinygpt_world_stepNNNN.pt     snapshots along training (float16), for notebook 08's slider
- data/README.md                     every data set the course uses: origin, size, SHA-256

Each file is written atomically, so an interrupted run leaves the previous files intact.
tests/test_data_checksums.py checks data/ against the README.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.checkpointing import load_checkpoint, save_checkpoint  # noqa: E402
from course_utils.finetuning import METHODS, finetune_classifier  # noqa: E402
from course_utils.lm_training import PretrainConfig  # noqa: E402
from course_utils.pretraining import FINAL_CHECKPOINT, SNAPSHOT_STEPS, pretrain_world_model, snapshot_name  # noqa: E402
from course_utils.text import make_corpus, make_sentiment_task  # noqa: E402

RECIPE = PretrainConfig()  # the shipped model's recipe: the defaults, written once in course_utils.lm_training
CORPUS_ARGS = {"n_chars": RECIPE.n_chars, "seed": RECIPE.seed}
TASK_ARGS = {"n_train": 256, "n_test": 400, "seed": 0}
COMMAND = "`python tools/make_checkpoints.py`"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def corpus_digest(n_chars: int, seed: int) -> tuple[int, str]:
    """(characters, SHA-256 of the UTF-8 text) of the generated corpus."""
    text = make_corpus(n_chars=n_chars, seed=seed)
    return len(text), sha256_bytes(text.encode("utf-8"))


def task_digest(n_train: int, n_test: int, seed: int) -> tuple[int, str]:
    """(examples, SHA-256 of the task as canonical JSON) of the labelled task."""
    task = make_sentiment_task(n_train=n_train, n_test=n_test, seed=seed)
    parts = [
        task.train_texts,
        task.train_labels,
        task.test_texts,
        task.test_labels,
        task.test_seen_texts,
        task.test_seen_labels,
    ]
    return len(task.train_texts) + 2 * len(task.test_texts), sha256_bytes(json.dumps(parts).encode("utf-8"))


def digits_digest() -> tuple[str, str]:
    """(shape, SHA-256 of the pixel values and labels as uint8) of scikit-learn's bundled digits."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = bunch.data.astype(np.uint8).tobytes() + bunch.target.astype(np.uint8).tobytes()
    return f"{bunch.data.shape[0]} x {bunch.data.shape[1]}", sha256_bytes(data)


def history_dict(history, upto: int) -> dict:
    """The history up to step `upto`, as plain lists (weights_only-loadable)."""
    keep = [i for i, s in enumerate(history.step) if s <= upto]
    keep_eval = [i for i, s in enumerate(history.eval_step) if s <= upto]
    return {
        "step": [history.step[i] for i in keep],
        "loss": [history.loss[i] for i in keep],
        "eval_step": [history.eval_step[i] for i in keep_eval],
        "eval_loss": [history.eval_loss[i] for i in keep_eval],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="where to write (default: data/)")
    parser.add_argument("--no-measure", action="store_true", help="skip the fine-tuning measurements")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the same arithmetic whatever the machine's core count

    # stored in every file, as the files have always stored it
    r = RECIPE
    recipe = {"steps": r.max_steps, "seed": r.seed, "n_chars": r.n_chars, "batch_size": r.batch_size, "lr": r.lr}
    pending: dict[int, torch.nn.Module] = {}  # snapshots taken during training, saved afterwards
    assert all(s % RECIPE.log_every == 0 for s in SNAPSHOT_STEPS), "snapshots are taken at log points"

    def on_step(step, model, history):
        if step in SNAPSHOT_STEPS:
            pending[step] = copy.deepcopy(model).cpu()

    print(f"pre-training: {recipe}", flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model, tokenizer, history = pretrain_world_model(on_step=on_step, progress=True)  # the recipe: RECIPE
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"pre-trained {recipe['steps']} steps in {wall:.1f} s wall, {cpu:.1f} s CPU (1 thread); "
        f"held-out loss {history.eval_loss[-1]:.3f}",
        flush=True,
    )

    written = []
    for step, snap in sorted(pending.items()):
        path = save_checkpoint(
            data_dir / snapshot_name(step),
            snap,
            step=step,
            dtype=torch.float16,
            extra={"tokenizer": tokenizer.to_dict(), "recipe": recipe, "history": history_dict(history, step)},
        )
        written.append((path, f"snapshot after {step} steps (float16)"))
    final = save_checkpoint(
        data_dir / FINAL_CHECKPOINT,
        model,
        step=recipe["steps"],
        extra={"tokenizer": tokenizer.to_dict(), "recipe": recipe, "history": history_dict(history, recipe["steps"])},
    )
    written.append((final, f"the pre-trained model, {recipe['steps']} steps (float32)"))
    total = sum(p.stat().st_size for p, _ in written)
    print(f"wrote {len(written)} checkpoints, {total / 1e6:.2f} MB in all", flush=True)

    # Measurements on the files as shipped (the float16 snapshots included).
    task = make_sentiment_task(**TASK_ARGS)
    probe_rows = []
    for path, _ in written:
        ck = load_checkpoint(path)
        acc = finetune_classifier(ck.model, task, "linear_probe", seed=0, tokenizer=tokenizer).test_accuracy
        probe_rows.append(
            (ck.step, ck.extra["history"]["eval_loss"][-1] if ck.extra["history"]["eval_loss"] else None, acc)
        )
        print(f"  step {ck.step:4d}: linear probe on unseen words {acc:.3f}", flush=True)
    method_rows = []
    if not args.no_measure:
        pretrained = load_checkpoint(final).model
        for method in METHODS:
            results = [
                finetune_classifier(pretrained, task, method, n_labels=32, seed=s, tokenizer=tokenizer)
                for s in range(3)
            ]
            mean = sum(r.test_accuracy for r in results) / 3
            mean_seen = sum(r.test_seen_accuracy for r in results) / 3
            method_rows.append(
                (method, [r.test_accuracy for r in results], mean, mean_seen, results[0].trainable_params)
            )
            print(
                f"  {method:12s} unseen {mean:.3f} seen {mean_seen:.3f} trainable {results[0].trainable_params}",
                flush=True,
            )

    write_readme(data_dir / "README.md", written, recipe, probe_rows, method_rows)
    print(f"wrote {data_dir / 'README.md'}")
    return 0


HAND_WRITTEN = "<!-- Sections below are written by hand; `make checkpoints` rewrites the page above and keeps them. -->"


def write_readme(path: Path, written, recipe: dict, probe_rows, method_rows) -> None:
    """data/README.md: the files with their checksums, the generated data sets, and what the model can do."""
    n_chars, corpus_sha = corpus_digest(**CORPUS_ARGS)
    n_examples, task_sha = task_digest(**TASK_ARGS)
    digits_shape, digits_sha = digits_digest()
    lines = [
        "# Data",
        "",
        "Nothing is downloaded, at run time or ever. Small data sets are generated from a seed or come",
        "bundled with scikit-learn; the only files here are the pre-trained TinyGPT checkpoints, made by",
        f"{COMMAND} (`make checkpoints`), which also writes this page. `tests/test_data_checksums.py`",
        "checks every SHA-256 below.",
        "",
        "## Files in data/",
        "",
        "| file | origin | size (bytes) | sha256 |",
        "|---|---|---|---|",
    ]
    for p, what in written:
        lines.append(f"| `{p.name}` | {what}; {COMMAND} | {p.stat().st_size} | `{sha256_file(p)}` |")
    lines += [
        "",
        "Load them with `course_utils.pretraining.load_pretrained()` (the final model and its tokenizer),",
        '`load_pretrained("tinygpt_world_step0300.pt")` or `list_snapshots()`; each file holds the',
        "`GPTConfig` as a plain dict, the tokenizer's vocabulary, the recipe and the loss history, and loads",
        "with `torch.load(weights_only=True)`.",
        "",
        "## Data sets made at run time",
        "",
        "The checksum is of the generated content (see the column), so a test can regenerate it and compare.",
        "",
        "| data set | origin | size | sha256 |",
        "|---|---|---|---|",
        f"| `world-corpus` | `course_utils.text.make_corpus(n_chars={CORPUS_ARGS['n_chars']}, seed={CORPUS_ARGS['seed']})`,"
        f" short stories about a small world; sha256 of the UTF-8 text | {n_chars} characters | `{corpus_sha}` |",
        f"| `sentiment-task` | `course_utils.text.make_sentiment_task(n_train={TASK_ARGS['n_train']}, "
        f"n_test={TASK_ARGS['n_test']}, seed={TASK_ARGS['seed']})`; sha256 of the JSON list [train_texts, "
        f"train_labels, test_texts, test_labels, test_seen_texts, test_seen_labels] | {n_examples} examples | `{task_sha}` |",
        f"| `digits` | scikit-learn's bundled copy (`sklearn.datasets.load_digits`, UCI optical digits, Alpaydin & "
        f"Kaynak 1998), via `course_utils.data.load_digits`; sha256 of pixels then labels as uint8 | "
        f"{digits_shape} | `{digits_sha}` |",
        "| `coherence-task` | `course_utils.text.make_coherence_task(n_train=256, n_val=200, n_test=400, seed=s)`: an "
        "opening and a feeling with its cause, in the corpus's own sentence shapes; label 1 when the feeling fits the "
        "cause; generated at run time, each split from its own random stream | 856 examples | - |",
        "| `toy-2d` | `course_utils.data.make_toy_2d(name, n_samples, noise, seed)`: moons, circles, spirals, xor, "
        "blobs, generated with a torch.Generator at run time | as asked | - |",
        "",
        "## How the checkpoints were made",
        "",
        f"`course_utils.pretraining.pretrain_world_model(steps={recipe['steps']}, n_chars={recipe['n_chars']}, "
        f"seed={recipe['seed']}, batch_size={recipe['batch_size']}, lr={recipe['lr']})`: a causal TinyGPT "
        "(`world_config()`: 2 layers, 4 heads, 64 channels, context 32 word tokens) trained for next-token",
        "prediction on the world corpus, AdamW with warm-up and cosine decay, on one CPU thread.",
        "",
        "The sentiment task's test examples use feeling words that its labelled examples never contain",
        "(they do occur in the corpus). Accuracy of a linear probe (32 labelled examples, seed 0) on those",
        "unseen words, for each shipped file:",
        "",
        "| step | held-out LM loss | linear probe, unseen words |",
        "|---|---|---|",
    ]
    for step, loss, acc in probe_rows:
        lines.append(f"| {step} | {'-' if loss is None else f'{loss:.3f}'} | {acc:.3f} |")
    if method_rows:
        lines += [
            "",
            "Fine-tuning the final model with 32 labelled examples (`finetune_classifier`, defaults; seeds 0, 1, 2):",
            "",
            "| method | test accuracy, unseen words (per seed) | mean | mean, seen words | trainable parameters |",
            "|---|---|---|---|---|",
        ]
        for method, accs, mean, mean_seen, n in method_rows:
            lines.append(f"| {method} | {', '.join(f'{a:.3f}' for a in accs)} | {mean:.3f} | {mean_seen:.3f} | {n} |")
    text = "\n".join(lines) + "\n"
    kept = path.read_text(encoding="utf-8").partition(HAND_WRITTEN)[2] if path.exists() else ""
    if kept:  # the hand-written sections (the tasks, transfer tables, attention) stay as they are
        text += "\n" + HAND_WRITTEN + kept
    path_tmp = path.with_suffix(".md.tmp")
    path_tmp.write_text(text, encoding="utf-8")
    path_tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
