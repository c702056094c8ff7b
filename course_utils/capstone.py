"""The capstone: pre-train a TinyGPT, then show what pre-training buys with few labels.

    python -m course_utils.capstone pretrain --out runs/cap            # causal LM on the generated corpus
    python -m course_utils.capstone finetune --out runs/cap --task coherence   # six ways to use 8..512 labels
    python -m course_utils.capstone all --out runs/cap                 # both, in one go
    torchrun --nproc_per_node=2 -m course_utils.capstone pretrain --out runs/cap   # data parallel
    python -m course_utils.capstone pretrain --out runs/gpt --n-layer 6 --n-head 6 --n-embd 384 \\
        --block-size 256 --batch-size 64                               # nanoGPT's shakespeare-char shape

Every flag is a field of `CapstoneConfig` (its comment is the flag's help); a preset per device
gives the defaults. Every command writes (or updates) DIR/results.json atomically: the device and
preset, the pre-training throughput (tokens/s per process, MFU per device) and held-out loss, one
row per fine-tuning run (task, method, labels, seed, test accuracy, trainable parameters) and the wall time.

The loop is `lm_training.train_lm`, fine-tuning `finetuning.run_finetuning`, the tables and plot `results`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils import validate as v
from course_utils.checkpointing import load_checkpoint, write_json_atomic
from course_utils.finetuning import ALL_METHODS, TASKS, make_task, run_finetuning
from course_utils.lm_training import CHECKPOINT_NAME, PretrainConfig, TrainingError, build_data, pretrain_from_config
from course_utils.models.gpt import TinyGPT
from course_utils.paths import DATA_DIR
from course_utils.pretraining import FINAL_CHECKPOINT
from course_utils.results import PLOT_NAME, RESULTS_NAME, plot_accuracy_vs_labels, read_results, report_lines
from course_utils.text import tokenizer_from_dict

PRESETS = ("cpu", "mps", "cuda")


@dataclass
class CapstoneConfig(PretrainConfig):
    """A capstone run: pre-training (the fields of `PretrainConfig`) and the fine-tuning comparison."""

    task: tuple[str, ...] = TASKS  # labelled tasks to fine-tune on: sentiment (easy), coherence (needs context)
    labels: tuple[int, ...] = (8, 32, 128)  # label counts compared in fine-tuning
    seeds: int = 3  # fine-tuning seeds per (task, method, label count); seed s also draws task s's examples
    methods: tuple[str, ...] = ALL_METHODS  # fine-tuning methods compared (static: word vectors, no context)
    finetune_steps: int | None = None  # steps per fine-tuning run (None: each method's default)
    sample_tokens: int = 24  # tokens generated per sample at the end of pre-training
    preset: str = "cpu"  # the preset these values started from
    reason: str = ""  # why this preset was chosen

    def __post_init__(self):
        super().__post_init__()
        where = type(self).__name__
        self.labels = v.ints_at_least(where, "labels", self.labels, 2)
        self.methods = v.subset_of(where, "methods", self.methods, ALL_METHODS)
        self.task = v.subset_of(where, "task", self.task, TASKS)
        v.positive_int(where, "seeds", self.seeds)
        v.positive_int(where, "finetune_steps", self.finetune_steps, optional=True)
        v.nonnegative_int(where, "sample_tokens", self.sample_tokens)
        v.one_of(where, "preset", self.preset, PRESETS)

    @classmethod
    def for_device(cls, device=None, preset: str | None = None, **overrides) -> CapstoneConfig:
        """The preset for `device` (None or "auto": CUDA, then MPS, then the CPU), with `overrides` on top.

        Args:
            device: "cpu", "cuda", "cuda:1", "mps", a `torch.device`, or None / "auto".
            preset: force a preset ("cpu", "mps", "cuda"; None: the device's own).
            **overrides: any field, e.g. `max_steps=200, labels=(8, 32)`.
        """
        from course_utils.repro import get_device

        v.one_of("CapstoneConfig.for_device", "preset", preset, (None, *PRESETS))
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"CapstoneConfig.for_device: unknown field(s) {unknown}")
        dev = torch.device(device) if isinstance(device, str) and ":" in device else get_device(device)
        name = preset or dev.type
        reason = {
            "cuda": f"a CUDA GPU was found ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else ''}): "
            "larger model, bf16, compile",
            "mps": "an Apple GPU (MPS) was found: a medium model, float32, no compile",
            "cpu": "no GPU found: the small CPU preset (the shipped model's shape, fewer steps)",
        }[name]
        if preset is not None:
            reason = f"preset {name!r} asked for explicitly, running on {dev}"
        return cls(**{**PRESET_VALUES[name], "preset": name, "device": str(dev), "reason": reason, **overrides})


# Each preset starts from the shipped model's recipe (PretrainConfig's defaults) and changes these.
PRESET_VALUES = {
    # The shipped model's shape for fewer steps: ~500 steps reach a held-out loss near 1.0, where a
    # linear probe already separates the unseen feeling words. Labels up to 128 keep fine-tuning short.
    "cpu": dict(max_steps=500, eval_every=50, threads=1),
    "mps": dict(
        n_chars=2_000_000, n_layer=4, n_embd=128, batch_size=64, max_steps=1500, lr=2e-3, warmup=100,
        eval_every=150, checkpoint_every=500, labels=(8, 32, 128, 512),
    ),
    "cuda": dict(
        n_chars=5_000_000, block_size=64, n_layer=6, n_head=8, n_embd=256, batch_size=256, max_steps=2000,
        lr=1e-3, warmup=200, eval_every=200, log_every=50, checkpoint_every=500, labels=(8, 32, 128, 512),
        amp=True, compile=True, tf32=True,
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The command line: one flag per field of CapstoneConfig
# ---------------------------------------------------------------------------------------------

FINETUNE_FIELDS = ("task", "labels", "seeds", "methods", "finetune_steps")
NOT_FLAGS = ("preset", "reason")  # --preset is its own flag (with "auto"); the reason is derived


class UsageError(Exception):
    """A bad command-line argument: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _comma_list(item_type):
    def parse(text: str) -> tuple:
        try:
            return tuple(item_type(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, e.g. 8,32,128; got {text!r}") from None

    parse.__name__ = "list"
    return parse


def _field_help(cls) -> dict[str, str]:
    """Each field's trailing comment in the class source: the flags' help."""
    found = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):  # no source files (a frozen install): flags without help
            continue
        for name, comment in re.findall(r"^    (\w+): [^\n=]+=[^\n#]*#\s*(.*)$", source, re.M):
            found[name] = comment.replace("%", "%%")  # argparse formats help with %
    return found


def _add_field_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    hints, helps = typing.get_type_hints(CapstoneConfig), _field_help(CapstoneConfig)
    for name in names:
        hint, flag, text = hints[name], "--" + name.replace("_", "-"), helps.get(name, "")
        base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)  # X | None -> X
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        elif typing.get_origin(hint) is tuple:
            item = typing.get_args(hint)[0]
            parser.add_argument(flag, type=_comma_list(item), default=argparse.SUPPRESS, metavar="A,B", help=text)
        else:
            parser.add_argument(flag, type=base, default=argparse.SUPPRESS, metavar=base.__name__.upper(), help=text)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m course_utils.capstone` parser: pretrain, finetune, all."""
    parser = _Parser(
        prog="python -m course_utils.capstone",
        description=__doc__.split("\n\nEvery flag")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    names = [f.name for f in dataclasses.fields(CapstoneConfig) if f.name not in NOT_FLAGS]
    pretrain_names = [n for n in names if n not in FINETUNE_FIELDS]
    finetune_names = ["device", "threads", *FINETUNE_FIELDS]
    for command, help_text, fields in (
        ("pretrain", "pre-train a TinyGPT (causal LM)", pretrain_names),
        ("finetune", "compare fine-tuning methods at several label counts", finetune_names),
        ("all", "pre-train, then fine-tune the result", names),
    ):
        p = sub.add_parser(command, help=help_text)
        p.add_argument("--out", required=True, help="run folder: checkpoint.pt, results.json, the plot")
        p.add_argument("--preset", choices=("auto", *PRESETS), default="auto", help="defaults (auto: from the device)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if command != "finetune":
            p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
        else:
            p.add_argument("--checkpoint", help="model to fine-tune (default: DIR/checkpoint.pt, else the shipped one)")
        _add_field_flags(p, fields)
    return parser


def load_for_finetuning(path: str | Path, device: str | torch.device = "cpu") -> tuple[TinyGPT, object]:
    """A checkpoint's model and tokenizer (a run's checkpoint.pt or the shipped data/tinygpt_world.pt)."""
    ckpt = load_checkpoint(path, map_location=device)
    if not isinstance(ckpt.extra.get("tokenizer"), dict):
        raise ValueError(f"{Path(path).name} has no tokenizer stored with it")
    if not ckpt.config.causal:
        raise ValueError(f"{Path(path).name} holds a bidirectional model; the capstone fine-tunes causal ones")
    return ckpt.model, tokenizer_from_dict(ckpt.extra["tokenizer"])


def finetuning_tasks(config: CapstoneConfig) -> list:
    """The labelled tasks the capstone compares methods on (seed 0's draw), each with a pool of at least max(labels)."""
    return [make_task(name, n_train=max(256, max(config.labels)), seed=0) for name in config.task]


def _check_task_fits(tasks, tok, block_size: int, flag: str) -> None:
    longest = max(len(tok.encode(t)) for x in tasks for s in ("train", "val", "test", "test_seen")
                  for t in getattr(x, f"{s}_texts", ()))  # fmt: skip
    if longest > block_size:
        raise UsageError(
            f"argument {flag}: the fine-tuning task's examples are up to {longest} tokens long, more than the "
            f"model's context of {block_size}; pre-train with --block-size {longest} or more (or run `pretrain` only)"
        )


def _setup(args) -> tuple[CapstoneConfig, int, tuple | None, tuple | None]:
    """Check every input once, before anything is written: (config, world size, data, (model, tokenizer, path))."""
    fields = {f.name for f in dataclasses.fields(CapstoneConfig)}
    overrides = {k: value for k, value in vars(args).items() if k in fields and k not in NOT_FLAGS}
    if overrides.get("corpus") is not None:
        overrides.setdefault("block_size", 64)  # characters: a longer context than the word-level default
    try:
        config = CapstoneConfig.for_device(
            overrides.pop("device", None), None if args.preset == "auto" else args.preset, **overrides
        )
    except v.InvalidArgument as err:
        raise UsageError(f"argument --{err.name.replace('_', '-')}: {err}") from None
    except (RuntimeError, ValueError) as err:  # get_device: no such device here
        raise UsageError(f"argument --device: {err}") from None
    out, world = Path(args.out), int(os.environ.get("WORLD_SIZE", "1"))
    if out.exists() and not out.is_dir():
        raise UsageError(f"argument --out: {out} exists and is not a folder")
    if config.batch_size % world:
        raise UsageError(f"argument --batch-size: {config.batch_size} is not divisible by the {world} processes")
    if getattr(args, "resume", False) and not (out / CHECKPOINT_NAME).is_file():
        raise UsageError(f"argument --resume: no {CHECKPOINT_NAME} in {out} to resume from")
    data = model = None
    if args.command in ("pretrain", "all"):
        try:
            data = build_data(config)  # the corpus, read once
        except (OSError, ValueError) as err:
            raise UsageError(f"argument --corpus: {err}") from None
        if args.command == "all":
            _check_task_fits(finetuning_tasks(config), data[0], config.block_size, "--block-size")
    if args.command == "finetune":
        own = out / CHECKPOINT_NAME
        path = Path(args.checkpoint) if args.checkpoint else own if own.is_file() else DATA_DIR / FINAL_CHECKPOINT
        try:
            model = (*load_for_finetuning(path, config.device), path)  # the checkpoint, read once
        except (OSError, ValueError) as err:
            raise UsageError(f"argument --checkpoint: {err}") from None
        _check_task_fits(finetuning_tasks(config), model[1], model[0].config.block_size, "--checkpoint")
    return config, world, data, model


def sample_text(model: TinyGPT, tokenizer, prompts: Sequence[str], n_tokens: int, seed: int = 0) -> list[str]:
    """Continue each prompt by `n_tokens` sampled tokens (temperature 0.8, top-k 10), seeded; one line each."""
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed) if device.type != "mps" else None
    out = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
        new = model.generate(ids, n_tokens, temperature=0.8, top_k=10, generator=g)
        out.append(tokenizer.decode(new[0].tolist(), skip_special=True).replace("\n", " / ").strip(" /"))
    return out


def _pretrain(config: CapstoneConfig, data, out: Path, args, log) -> dict:
    run = pretrain_from_config(config, out, data=data, resume=args.resume, progress=not args.quiet, log=log)
    h = run.history
    if not h.eval_loss:  # not the main process: it neither evaluates nor reports
        return {}
    prompts = ["tom went to the", "anna felt"] if config.corpus is None else ["\n"]
    summary = {
        "tokens_per_s": round(h.tokens_per_s, 1),  # per process
        "processes": h.world_size,
        "tokens_seen": h.tokens_seen,  # by this process
        "mfu": h.mfu,  # per device
        "val_loss": h.eval_loss[-1],
        "steps": config.max_steps,
        "seconds": round(h.seconds, 2),
        "cpu_seconds": round(h.cpu_seconds, 2),
        "samples": sample_text(run.model, run.tokenizer, prompts, config.sample_tokens, config.seed),
    }
    mfu_text = f"{h.mfu:.1%}" if h.mfu is not None else "unknown (peak of this device not known)"
    log(
        f"pre-trained {config.max_steps} steps: held-out loss {summary['val_loss']:.3f}, "
        f"{h.tokens_per_s:,.0f} tokens/s per process ({h.world_size}), MFU per device {mfu_text}"
    )
    for text in summary["samples"]:
        log(f"  sample: {text}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 training stopped, 2 bad arguments)."""
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        config, world, data, loaded = _setup(args)
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    main_process = int(os.environ.get("RANK", "0")) == 0
    log = print if main_process else (lambda _msg: None)
    out = Path(args.out)
    if config.threads is not None and torch.device(config.device).type == "cpu":
        torch.set_num_threads(config.threads)
    log(f"device {config.device}, preset {config.preset!r}: {config.reason}")
    results = read_results(out) if main_process else {}
    results.update({"device": config.device, "preset": config.preset, "config": config.to_dict()})
    try:
        if args.command in ("pretrain", "all"):
            results["pretrain"] = _pretrain(config, data, out, args, log)
            if world > 1:
                torch.distributed.barrier()
                torch.distributed.destroy_process_group()
            if main_process and args.command == "all":
                path = out / CHECKPOINT_NAME
                loaded = (*load_for_finetuning(path, config.device), path)
        if args.command in ("finetune", "all") and main_process:
            model, tokenizer, path = loaded
            log(f"fine-tuning {path.name} on {', '.join(config.task)}: labels {list(config.labels)}, "
                f"{config.seeds} seeds, {', '.join(config.methods)}")  # fmt: skip
            rows = run_finetuning(
                model, tokenizer, config.labels, config.seeds, config.methods, task=list(config.task),
                device=config.device, progress=not args.quiet, base_seed=config.seed, steps=config.finetune_steps,
            )  # fmt: skip
            results.update(finetune=rows, finetune_checkpoint=path.name)
            for line in report_lines(rows):
                log(line)
            out.mkdir(parents=True, exist_ok=True)
            plot_accuracy_vs_labels(rows).savefig(out / PLOT_NAME, dpi=100, bbox_inches="tight")
    except (FloatingPointError, TrainingError) as err:
        print(f"{prog}: training stopped: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # a checkpoint that cannot resume this run (other settings, unreadable)
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    if main_process:
        results["wall_s"] = round(time.perf_counter() - start_wall, 2)
        results["cpu_s"] = round(time.process_time() - start_cpu, 2)
        results.setdefault("pretrain", {"tokens_per_s": None, "val_loss": None, "steps": None})
        results.setdefault("finetune", [])
        write_json_atomic(out / RESULTS_NAME, results)
        log(f"wrote {RESULTS_NAME} in {out.name}/ ({results['wall_s']:.1f} s wall, {results['cpu_s']:.1f} s CPU)")
    return 0


def benchmark_throughput(device: str | torch.device | None = None, steps: int = 30, **overrides) -> dict:
    """Pre-training throughput of a short run on the device's preset, no files written (tools/bench.py)."""
    short = {"max_steps": steps, "eval_every": steps, "n_chars": 200_000}
    config = CapstoneConfig.for_device(device, **{**short, **overrides})
    h = pretrain_from_config(config, None, progress=False, log=lambda _msg: None).history
    return {"device": config.device, "preset": config.preset, "tokens_per_s": round(h.tokens_per_s, 1), "mfu": h.mfu,
            "steps": steps, "val_loss": round(h.eval_loss[-1], 4)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
