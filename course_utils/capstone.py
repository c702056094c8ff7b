"""The capstone: pre-train a TinyGPT, then show what pre-training buys with few labels.

    python -m course_utils.capstone pretrain --out runs/cap            # causal LM on the generated corpus
    python -m course_utils.capstone finetune --out runs/cap            # five ways to use 8..512 labels
    python -m course_utils.capstone all --out runs/cap                 # both, in one go
    torchrun --nproc_per_node=2 -m course_utils.capstone pretrain --out runs/cap   # data parallel

Every command writes (or updates) `DIR/results.json` atomically: the device and preset, the
pre-training throughput and held-out loss, one row per fine-tuning run (method, labels, seed,
test accuracy, trainable parameters) and the wall time.

The pieces come from the package: the corpus, task and tokenizers from `course_utils.text`,
the model from `course_utils.models.gpt`, the optimizer, evaluation, checkpoints and
`finetune_classifier` from `course_utils.pretraining`. What this module adds is what a real
pre-training run needs around them: a device-aware `CapstoneConfig`, gradient accumulation,
bf16 autocast, `torch.compile`, DistributedDataParallel, an exact resume (model, optimizer,
step, random states, data order), a retry with a smaller micro-batch after a CUDA
out-of-memory error, a clear stop on a NaN loss, and the throughput as tokens per second and
MFU (model FLOPs utilisation).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.pretraining import (
    DATA_DIR,
    FINAL_CHECKPOINT,
    METHODS,
    evaluate_lm,
    finetune_classifier,
    load_checkpoint,
    lr_at,
    make_optimizer,
    save_checkpoint,
)
from course_utils.text import (
    CausalLMDataset,
    CharTokenizer,
    WordTokenizer,
    load_text_file,
    make_corpus,
    make_sentiment_task,
    tokenizer_from_dict,
)

PRESETS = ("cpu", "mps", "cuda")
CHECKPOINT_NAME = "checkpoint.pt"  # in the run folder: the latest state, enough to resume
RESULTS_NAME = "results.json"
PLOT_NAME = "accuracy_vs_labels.png"

# Dense bf16 peak of known accelerators, in FLOP/s (vendor data sheets, without sparsity).
# Matched in order against torch.cuda.get_device_name(), so the more specific names come first.
PEAK_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM: "NVIDIA H100 80GB HBM3"
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class CapstoneConfig:
    """Everything a capstone run needs, with presets per device (`CapstoneConfig.for_device`)."""

    preset: str = "cpu"  # which preset these values started from ("cpu", "mps", "cuda")
    device: str = "cpu"  # where to train ("cpu", "cuda", "cuda:1", "mps")
    reason: str = ""  # why this preset was chosen (printed by the notebook and the command line)
    corpus: str | None = None  # a UTF-8 text file to pre-train on, character by character (None: the generated world)
    n_chars: int = 1_000_000  # size of the generated corpus in characters (ignored with `corpus`)
    block_size: int = 32  # context length in tokens (words for the world corpus, characters for a file)
    n_layer: int = 2  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 64  # channels per token
    dropout: float = 0.0  # dropout everywhere (0 keeps a CPU run bit-for-bit reproducible)
    batch_size: int = 32  # global batch: windows per optimizer step, over all processes
    micro_batch_size: int | None = None  # windows per forward pass and process (None: the whole local batch)
    max_steps: int = 500  # optimizer steps of pre-training
    lr: float = 3e-3  # peak learning rate (AdamW)
    warmup: int = 50  # linear warm-up steps before the cosine decay
    min_lr_ratio: float = 0.1  # the cosine decays to this share of `lr`
    weight_decay: float = 0.1  # AdamW's decoupled decay on matrices
    grad_clip: float | None = 1.0  # clip the gradients' global norm (None: no clipping)
    eval_every: int = 50  # evaluate the held-out loss every this many steps (and at the end)
    eval_batches: int = 8  # batches per evaluation
    checkpoint_every: int = 100  # write DIR/checkpoint.pt every this many steps (and at the end)
    sample_tokens: int = 24  # tokens generated per sample at the end
    seed: int = 0  # seeds the initial weights, the data order and the fine-tuning seeds' base
    labels: tuple[int, ...] = (8, 32, 128)  # label counts compared in fine-tuning
    seeds: int = 3  # fine-tuning seeds per (method, label count)
    methods: tuple[str, ...] = METHODS  # fine-tuning methods compared
    finetune_steps: int | None = None  # steps per fine-tuning run (None: each method's default in the package)
    amp: bool = False  # bf16 autocast (CUDA with bf16 support only)
    compile: bool = False  # torch.compile the model (skipped on Windows and MPS, or if it fails)
    tf32: bool = False  # allow TF32 matrix multiplies (CUDA)
    threads: int | None = 1  # torch CPU threads (1: tiny models gain nothing from more on a busy machine)

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"CapstoneConfig: preset must be one of {PRESETS}, got {self.preset!r}")
        for name in (
            "n_chars",
            "block_size",
            "n_layer",
            "n_head",
            "n_embd",
            "batch_size",
            "max_steps",
            "eval_every",
            "eval_batches",
            "checkpoint_every",
            "seeds",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CapstoneConfig: {name} must be a positive int, got {value!r}")
        for name in ("micro_batch_size", "threads", "finetune_steps"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"CapstoneConfig: {name} must be a positive int or None, got {value!r}")
        for name in ("warmup", "sample_tokens", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"CapstoneConfig: {name} must be an int >= 0, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"CapstoneConfig: lr must be > 0, got {self.lr!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"CapstoneConfig: grad_clip must be > 0 or None, got {self.grad_clip!r}")
        self.labels = tuple(self.labels)
        if not self.labels or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in self.labels):
            raise ValueError(f"CapstoneConfig: labels must be a non-empty sequence of ints >= 2, got {self.labels!r}")
        self.methods = tuple(self.methods)
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown:
            raise ValueError(f"CapstoneConfig: methods must be taken from {METHODS}, got {self.methods!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"CapstoneConfig: n_head ({self.n_head}) must divide n_embd ({self.n_embd})")

    @classmethod
    def for_device(
        cls, device: str | torch.device | None = None, preset: str | None = None, **overrides
    ) -> CapstoneConfig:
        """The preset for `device` (None: the best one found), with `overrides` applied on top.

        Args:
            device: "cpu", "cuda", "mps", a `torch.device`, or None / "auto" to pick CUDA, then
                MPS, then the CPU (as `course_utils.get_device` does).
            preset: force a preset ("cpu", "mps", "cuda"; None: the device's own).
            **overrides: any field, e.g. `max_steps=200, labels=(8, 32)`.

        Returns:
            A `CapstoneConfig` whose `reason` says which preset was chosen and why.
        """
        from course_utils.repro import get_device

        dev = get_device(None if device in (None, "auto") else device)
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"CapstoneConfig.for_device: preset must be one of {PRESETS} or None, got {preset!r}")
        name = preset or dev.type
        if preset is not None:
            reason = f"preset {name!r} asked for explicitly, running on {dev}"
        elif dev.type == "cuda":
            reason = f"a CUDA GPU was found ({torch.cuda.get_device_name(dev)}): larger model, bf16, compile"
        elif dev.type == "mps":
            reason = "an Apple GPU (MPS) was found: a medium model, float32, no compile"
        else:
            reason = "no GPU found: the small CPU preset, sized to pre-train and fine-tune in about 2 minutes"
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"CapstoneConfig.for_device: unknown field(s) {unknown}")
        settings = dict(_PRESET_VALUES[name], preset=name, device=str(dev), reason=reason)
        settings.update(overrides)
        return cls(**settings)

    def to_dict(self) -> dict:
        """Plain types (lists for tuples), for JSON and checkpoints."""
        d = dataclasses.asdict(self)
        d["labels"], d["methods"] = list(self.labels), list(self.methods)
        return d


_PRESET_VALUES = {
    # The CPU preset is the shipped checkpoint's recipe (world_config: 2 x 64 channels, context 32
    # words) for fewer steps: ~500 steps reach a held-out loss near 1.0, where a linear probe
    # already separates the unseen feeling words. Labels up to 128 keep fine-tuning short.
    "cpu": dict(
        n_chars=1_000_000,
        block_size=32,
        n_layer=2,
        n_head=4,
        n_embd=64,
        batch_size=32,
        max_steps=500,
        lr=3e-3,
        warmup=50,
        eval_every=50,
        checkpoint_every=100,
        labels=(8, 32, 128),
        seeds=3,
        amp=False,
        compile=False,
        tf32=False,
        threads=1,
    ),
    "mps": dict(
        n_chars=2_000_000,
        block_size=32,
        n_layer=4,
        n_head=4,
        n_embd=128,
        batch_size=64,
        max_steps=1500,
        lr=2e-3,
        warmup=100,
        eval_every=150,
        checkpoint_every=500,
        labels=(8, 32, 128, 512),
        seeds=3,
        amp=False,
        compile=False,
        tf32=False,
        threads=None,
    ),
    "cuda": dict(
        n_chars=5_000_000,
        block_size=64,
        n_layer=6,
        n_head=8,
        n_embd=256,
        batch_size=256,
        max_steps=2000,
        lr=1e-3,
        warmup=200,
        eval_every=200,
        checkpoint_every=500,
        labels=(8, 32, 128, 512),
        seeds=3,
        amp=True,
        compile=True,
        tf32=True,
        threads=None,
    ),
}


# ---------------------------------------------------------------------------------------------
# Throughput: FLOPs per token and MFU
# ---------------------------------------------------------------------------------------------


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> float:
    """Training FLOPs per token: 6 N for the weights plus 12 L C T for attention (PaLM, Appendix B).

    Forward and backward through a weight matrix cost 2 + 4 FLOPs per parameter and token; the
    attention scores and their weighted sum add 2 * 2 * T * C per layer forward, times 3 with
    the backward pass.

    Args:
        n_params: parameters of the model without the position embedding (a lookup, no FLOPs).
        n_layer, n_embd, block_size: the model's L, C and context length T.

    Returns:
        FLOPs per trained token.
    """
    for name, value in (("n_params", n_params), ("n_layer", n_layer), ("n_embd", n_embd), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"flops_per_token: {name} must be a positive int, got {value!r}")
    return 6.0 * n_params + 12.0 * n_layer * n_embd * block_size


def peak_flops(device: str | torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of `device` from `PEAK_FLOPS` (None: not a known GPU, e.g. a CPU)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS if key in name), None)


def mfu(tokens_per_s: float, flops_token: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: achieved FLOP/s (tokens/s x FLOPs per token) over the peak, or None if unknown."""
    if not tokens_per_s >= 0:
        raise ValueError(f"mfu: tokens_per_s must be >= 0, got {tokens_per_s!r}")
    if not flops_token > 0:
        raise ValueError(f"mfu: flops_token must be > 0, got {flops_token!r}")
    if peak is None:
        return None
    if not peak > 0:
        raise ValueError(f"mfu: peak must be > 0 or None, got {peak!r}")
    return tokens_per_s * flops_token / peak


def model_flops_per_token(model: TinyGPT) -> float:
    """`flops_per_token` for a TinyGPT (position embedding excluded, the tied head counted once)."""
    cfg = model.config
    n = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    return flops_per_token(n, cfg.n_layer, cfg.n_embd, cfg.block_size)


# ---------------------------------------------------------------------------------------------
# Distributed set-up (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK)
# ---------------------------------------------------------------------------------------------


@dataclass
class DistInfo:
    """Where this process sits in a (possibly one-process) data-parallel run."""

    rank: int = 0  # this process, 0..world_size-1; only rank 0 writes files
    world_size: int = 1  # processes in the run
    local_rank: int = 0  # this process on its machine: picks its GPU

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_from_env(environ: dict | None = None) -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them (absent: a single process)."""
    env = os.environ if environ is None else environ
    try:
        info = DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if info.world_size < 1 or not 0 <= info.rank < info.world_size:
        raise ValueError(f"RANK={info.rank} must be in [0, WORLD_SIZE={info.world_size})")
    return info


def _init_distributed(info: DistInfo, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, gloo on CPUs) and return this process's device."""
    if not info.enabled:
        return device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


# ---------------------------------------------------------------------------------------------
# Faults: NaN losses and CUDA out-of-memory errors
# ---------------------------------------------------------------------------------------------


def is_out_of_memory(err: BaseException) -> bool:
    """True for a CUDA (or other accelerator) out-of-memory error."""
    oom_types = tuple(
        t
        for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
        if t is not None
    )
    if oom_types and isinstance(err, oom_types):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def run_with_oom_retry(
    step_fn: Callable[[int], float],
    micro_batch: int,
    *,
    log: Callable[[str], None] = print,
    on_retry: Callable[[], None] | None = None,
) -> tuple[float, int]:
    """Run `step_fn(micro_batch)`; after an out-of-memory error, halve the micro-batch and retry.

    The global batch stays the same: half the micro-batch means twice the gradient accumulation,
    so the update is unchanged (up to rounding). Gives up (re-raises) at a micro-batch of 1.

    Args:
        step_fn: does one optimizer step's forward and backward passes with the given micro-batch
            and returns the loss; it must leave nothing half-done that a retry would double
            (the caller's `on_retry` clears gradients).
        micro_batch: the micro-batch to try first.
        log: where to say what happened.
        on_retry: called before each retry (zero the gradients, free cached memory).

    Returns:
        (loss, the micro-batch that worked).
    """
    while True:
        try:
            return step_fn(micro_batch), micro_batch
        except Exception as err:
            if not is_out_of_memory(err) or micro_batch <= 1:
                raise
            smaller = micro_batch // 2
            log(
                f"out of memory with micro-batch {micro_batch}: retrying this step with micro-batch {smaller} "
                f"and twice the gradient accumulation (same global batch)"
            )
            if on_retry is not None:
                on_retry()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            micro_batch = smaller


def nan_message(loss: float, step: int, lr: float, amp: bool) -> str:
    """Why training stopped on a non-finite loss, and what to try."""
    precision = "bf16 autocast was on: try without it (--no-amp) to see if precision is the cause; " if amp else ""
    return (
        f"the training loss became {loss} at step {step} (learning rate {lr:.2e}); training stopped, "
        f"the last checkpoint is kept. Lower the learning rate (--lr), keep gradient clipping, "
        f"{precision}check the data for empty windows."
    )


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_data(config: CapstoneConfig) -> tuple[WordTokenizer | CharTokenizer, CausalLMDataset, CausalLMDataset, dict]:
    """The tokenizer, training and held-out datasets, and a description of the corpus.

    The generated world is tokenized by words; a user's file (`config.corpus`) by characters,
    with its last 10% held out.
    """
    if config.corpus is None:
        tokenizer = WordTokenizer.from_world()
        text = make_corpus(config.n_chars, seed=config.seed)
        held_out = make_corpus(max(config.n_chars // 20, 20 * config.block_size), seed=config.seed + 10_000)
        source = {"kind": "generated", "n_chars": config.n_chars, "sha256": _sha256(text)}
    else:
        text = load_text_file(config.corpus, config.block_size)
        tokenizer = CharTokenizer.from_text(text)
        cut = max(len(text) - max(len(text) // 10, config.block_size + 1), config.block_size + 1)
        text, held_out = text[:cut], text[cut:]
        if len(held_out) < config.block_size + 1:  # a short file: evaluate on the training text
            held_out = text
        source = {"kind": "file", "name": Path(config.corpus).name, "sha256": _sha256(text + held_out)}
    train = CausalLMDataset(tokenizer.encode(text), config.block_size)
    evaluation = CausalLMDataset(tokenizer.encode(held_out), config.block_size)
    return tokenizer, train, evaluation, source


def gpt_config(config: CapstoneConfig, tokenizer) -> GPTConfig:
    """The TinyGPT shape of a capstone run."""
    return GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=config.block_size,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=config.n_embd,
        dropout=config.dropout,
        bias=True,
        causal=True,
        pad_id=tokenizer.pad_id,
    )


# ---------------------------------------------------------------------------------------------
# Pre-training
# ---------------------------------------------------------------------------------------------

# Fields that must match to resume a run: anything that changes the batches or the updates.
_RESUME_FIELDS = (  # (the corpus itself is compared by its SHA-256, whatever its path)
    "block_size",
    "n_layer",
    "n_head",
    "n_embd",
    "dropout",
    "batch_size",
    "lr",
    "warmup",
    "min_lr_ratio",
    "weight_decay",
    "grad_clip",
    "seed",
)


@dataclass
class PretrainOutcome:
    """What `run_pretraining` produced."""

    model: TinyGPT  # the trained model (eval mode, on the training device)
    tokenizer: WordTokenizer | CharTokenizer
    steps: int  # optimizer steps done in total (a resumed run counts the earlier ones)
    val_loss: float  # held-out loss at the end
    tokens_per_s: float  # training tokens per second, all processes together, evaluation excluded
    mfu: float | None  # model FLOPs utilisation (None: the device's peak is unknown)
    train_loss: list[float] = field(default_factory=list)  # per step, from step 1
    eval_step: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # generated text at the end
    seconds: float = 0.0  # wall time of this call's training loop
    cpu_seconds: float = 0.0  # CPU time of this process in the loop
    micro_batch_size: int = 0  # the micro-batch in use at the end (smaller after an OOM retry)

    def summary(self) -> dict:
        """The `pretrain` entry of results.json."""
        return {
            "tokens_per_s": self.tokens_per_s,
            "val_loss": self.val_loss,
            "steps": self.steps,
            "mfu": self.mfu,
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "micro_batch_size": self.micro_batch_size,
            "samples": self.samples,
        }


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def _amp_supported(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _maybe_compile(module: nn.Module, config: CapstoneConfig, device: torch.device, log) -> nn.Module:
    if not config.compile:
        return module
    if platform.system() == "Windows" or device.type == "mps":
        log(f"torch.compile skipped: not supported well on {'Windows' if platform.system() == 'Windows' else 'MPS'}")
        return module
    try:
        return torch.compile(module)
    except Exception as err:  # e.g. no compiler toolchain; the eager model works the same
        log(f"torch.compile failed ({type(err).__name__}: {err}); continuing without it")
        return module


def sample_text(model: TinyGPT, tokenizer, prompts: Sequence[str], n_tokens: int, seed: int = 0) -> list[str]:
    """Continue each prompt by `n_tokens` sampled tokens (temperature 0.8, top-k 10), seeded."""
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed) if device.type != "mps" else None
    out = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
        new = model.generate(ids, n_tokens, temperature=0.8, top_k=10, generator=g)
        out.append(
            tokenizer.decode(new[0].tolist(), skip_special=True).replace("\n", " / ").strip(" /")
        )  # one line each
    return out


def run_pretraining(
    config: CapstoneConfig,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_eval: Callable[[int, list[float], list[int], list[float]], None] | None = None,
    fault: Callable[[int, int], None] | None = None,
) -> PretrainOutcome:
    """Pre-train a causal TinyGPT as `config` says, checkpointing to `out_dir`; resumable, data parallel.

    Each optimizer step draws `config.batch_size` window indices from a generator seeded with
    `config.seed` (the same on every process); process r of W takes its share of them and runs
    it in micro-batches, averaging gradients over micro-batches (accumulation) and processes (DDP),
    so the update equals one on the whole global batch.

    Args:
        config: the run's settings.
        out_dir: where `checkpoint.pt` is written every `config.checkpoint_every` steps and at the
            end (None: nowhere, e.g. for a benchmark). Only rank 0 writes.
        resume: continue from `out_dir/checkpoint.pt` (model, optimizer, step, random states,
            data order): the result equals an uninterrupted run's, bit for bit on a CPU.
        progress: a tqdm bar with the loss.
        log: where messages go (rank 0 only).
        on_eval: called as `on_eval(step, train_losses, eval_steps, eval_losses)` after each
            evaluation (rank 0), e.g. for a live plot.
        fault: test hook, called as `fault(step, micro_batch)` before each micro-batch's forward
            pass; it may raise (e.g. an injected out-of-memory error).

    Returns:
        A `PretrainOutcome`.

    Raises:
        FloatingPointError: the loss became NaN or infinite (see `nan_message`).
        ValueError: a checkpoint that does not match `config` or is not readable.
    """
    from tqdm.auto import tqdm

    from course_utils.repro import set_seed

    info = dist_from_env()
    log = log if info.is_main else (lambda _msg: None)
    device = _init_distributed(info, torch.device(config.device))
    if config.threads is not None and device.type == "cpu":
        torch.set_num_threads(config.threads)
    if config.tf32 and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_amp = config.amp and _amp_supported(device)
    if config.amp and not use_amp:
        log(f"bf16 autocast not supported on {device.type}: training in float32")
    if config.batch_size % info.world_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) must be divisible by the number of processes ({info.world_size})"
        )
    local_batch = config.batch_size // info.world_size
    micro = min(config.micro_batch_size or local_batch, local_batch)

    tokenizer, train_ds, eval_ds, source = build_data(config)
    shape = gpt_config(config, tokenizer)
    set_seed(config.seed)
    model = TinyGPT(shape).to(device)
    optimizer = make_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)  # fused AdamW on CUDA
    data_gen = torch.Generator().manual_seed(config.seed)  # the data order: same on every process
    start_step, train_loss, eval_steps, eval_losses = 0, [], [], []
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if resume:
        if ckpt_path is None or not ckpt_path.is_file():
            raise ValueError(f"--resume: no checkpoint to resume from in {out_dir}")
        ckpt = load_checkpoint(ckpt_path, expected_config=shape)  # refuses another shape, naming the fields
        state = ckpt.extra.get("train_state")
        if not isinstance(state, dict):
            raise ValueError(f"--resume: {ckpt_path.name} holds weights only (no optimizer or data state)")
        saved = state["config"]
        changed = [
            f"{k} ({saved.get(k)!r} -> {getattr(config, k)!r})"
            for k in _RESUME_FIELDS
            if saved.get(k) != getattr(config, k)
        ]
        if state.get("source", {}).get("sha256") != source["sha256"]:
            changed.append("the corpus text")
        if changed:
            raise ValueError(f"--resume: {ckpt_path.name} was trained with other settings: " + ", ".join(changed))
        model.load_state_dict(ckpt.model.state_dict())
        model.to(device)
        optimizer.load_state_dict(state["optimizer"])
        data_gen.set_state(state["data_rng"])
        torch.set_rng_state(state["torch_rng"])
        start_step = ckpt.step
        train_loss, eval_steps, eval_losses = (
            list(state["train_loss"]),
            list(state["eval_step"]),
            list(state["eval_loss"]),
        )
        log(f"resuming from step {start_step} of {config.max_steps}")
        if start_step > config.max_steps:
            raise ValueError(f"--resume: the checkpoint is at step {start_step}, past --max-steps {config.max_steps}")

    wrapped: nn.Module = model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    runner = _maybe_compile(wrapped, config, device, log)

    def evaluate() -> float:
        return evaluate_lm(model, eval_ds, config.eval_batches, min(config.batch_size, 64), seed=1234, device=device)

    def save(step: int) -> None:
        if ckpt_path is None or not info.is_main:
            return
        state = {
            "config": config.to_dict(),
            "source": source,
            "optimizer": optimizer.state_dict(),
            "data_rng": data_gen.get_state(),
            "torch_rng": torch.get_rng_state(),  # CPU generator; the presets use no dropout, so no GPU randomness
            "train_loss": train_loss,
            "eval_step": eval_steps,
            "eval_loss": eval_losses,
        }
        save_checkpoint(ckpt_path, model, step=step, extra={"tokenizer": tokenizer.to_dict(), "train_state": state})

    def micro_steps(x: torch.Tensor, y: torch.Tensor, step: int, size: int) -> float:
        """Forward and backward over the local batch in chunks of `size`; returns the local mean loss."""
        total, n = 0.0, x.shape[0]
        chunks = list(range(0, n, size))
        for i, start in enumerate(chunks):
            xm, ym = x[start : start + size], y[start : start + size]  # (b, T) each
            if fault is not None:
                fault(step, size)
            last = i == len(chunks) - 1
            sync = wrapped.no_sync() if info.enabled and not last else contextlib.nullcontext()
            with sync:
                with _autocast(device, use_amp):
                    _, loss = runner(xm, ym)
                weight = xm.shape[0] / n  # chunks may differ in size: weight each by its share
                (loss * weight).backward()
            total += loss.item() * weight
        return total

    if start_step == 0 and not eval_steps:
        eval_steps.append(0)
        eval_losses.append(evaluate())
    flops_token = model_flops_per_token(model)
    peak = peak_flops(device)
    params = [p for p in model.parameters() if p.requires_grad]
    bar = tqdm(
        range(start_step, config.max_steps),
        desc="pre-training",
        initial=start_step,
        total=config.max_steps,
        disable=not (progress and info.is_main),
        leave=False,
    )
    step_seconds: list[float] = []  # per step of this call, evaluation and checkpointing excluded
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    model.train()
    for step in bar:
        t0 = time.perf_counter()
        lr_now = lr_at(step, config.lr, config.max_steps, config.warmup, "cosine", config.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        indices = torch.randint(len(train_ds), (config.batch_size,), generator=data_gen)  # (B,) global batch
        mine = indices[info.rank * local_batch : (info.rank + 1) * local_batch]  # this process's share
        x, y = train_ds.get_batch(mine)  # (B / W, T) each
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        try:
            loss, micro = run_with_oom_retry(
                lambda size, s=step, xb=x, yb=y: micro_steps(xb, yb, s, size),
                micro,
                log=log,
                on_retry=lambda: optimizer.zero_grad(set_to_none=True),
            )
        except Exception as err:
            if runner is wrapped or is_out_of_memory(err) or isinstance(err, FloatingPointError):
                raise
            log(f"torch.compile failed while training ({type(err).__name__}: {err}); continuing without it")
            runner = wrapped
            optimizer.zero_grad(set_to_none=True)
            loss = micro_steps(x, y, step, micro)
        if info.enabled:  # the global mean loss, so every process sees the same number (and stops together)
            import torch.distributed as dist

            t = torch.tensor([loss], device=device)
            dist.all_reduce(t)
            loss = t.item() / info.world_size
        if not math.isfinite(loss):
            raise FloatingPointError(nan_message(loss, step, lr_now, use_amp))
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        train_loss.append(loss)
        step_seconds.append(time.perf_counter() - t0)
        done = step + 1
        if done % config.eval_every == 0 or done == config.max_steps:
            if info.is_main:
                eval_steps.append(done)
                eval_losses.append(evaluate())
                bar.set_postfix(loss=f"{loss:.3f}", val=f"{eval_losses[-1]:.3f}")
                if on_eval is not None:
                    on_eval(done, train_loss, eval_steps, eval_losses)
        elif done % 10 == 0:
            bar.set_postfix(loss=f"{loss:.3f}")
        if done % config.checkpoint_every == 0 or done == config.max_steps:
            save(done)
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - wall_start, time.process_time() - cpu_start
    model.eval()
    val_loss = eval_losses[-1] if eval_steps and eval_steps[-1] == config.max_steps else evaluate()
    # Throughput over the steady state: the first tenth of the steps (at least one when there are
    # five or more) includes warm-up work such as torch.compile's compilation and memory allocation.
    timed = step_seconds[len(step_seconds) // 10 or (1 if len(step_seconds) >= 5 else 0) :]
    tokens_per_s = len(timed) * config.batch_size * config.block_size / sum(timed) if sum(timed) > 0 else 0.0
    prompts = ["tom went to the", "anna felt"] if config.corpus is None else ["\n"]
    samples = sample_text(model, tokenizer, prompts, config.sample_tokens, seed=config.seed) if info.is_main else []
    return PretrainOutcome(
        model=model,
        tokenizer=tokenizer,
        steps=config.max_steps,
        val_loss=val_loss,
        tokens_per_s=tokens_per_s,
        mfu=mfu(tokens_per_s, flops_token, peak),
        train_loss=train_loss,
        eval_step=eval_steps,
        eval_loss=eval_losses,
        samples=samples,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        micro_batch_size=micro,
    )


# ---------------------------------------------------------------------------------------------
# Fine-tuning comparison
# ---------------------------------------------------------------------------------------------


def run_finetuning(
    model: TinyGPT,
    tokenizer,
    labels: Sequence[int] = (8, 32, 128),
    seeds: int = 3,
    methods: Sequence[str] = METHODS,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    base_seed: int = 0,
    steps: int | None = None,
) -> list[dict]:
    """Fine-tune `model` on the sentiment task with every method, label count and seed.

    Args:
        model: a pre-trained causal TinyGPT (not changed: each run works on a copy).
        tokenizer: the model's tokenizer (its vocabulary must cover the task's words).
        labels: label counts to try (each >= 2; the labelled pool is made large enough).
        seeds: how many seeds per (method, label count): base_seed, base_seed + 1, ...
        methods: a subset of METHODS.
        device: where to fine-tune (None: the model's device).
        progress: a tqdm bar over the runs.
        base_seed: the first seed.
        steps: training steps per run (None: `FINETUNE_DEFAULTS` of each method).

    Returns:
        One dict per run: method, labels, seed, test_accuracy (unseen feeling words, 0..1),
        test_seen_accuracy, trainable_params, total_params, seconds.
    """
    from tqdm.auto import tqdm

    if not isinstance(model, TinyGPT):
        raise TypeError(f"run_finetuning: model must be a TinyGPT, got {type(model).__name__}")
    labels = tuple(labels)
    if not labels or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in labels):
        raise ValueError(f"run_finetuning: labels must be ints >= 2, got {labels!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"run_finetuning: seeds must be a positive int, got {seeds!r}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"run_finetuning: methods must be taken from {METHODS}, got {tuple(methods)!r}")
    task = make_sentiment_task(n_train=max(256, max(labels)), seed=0)
    jobs = [(m, n, base_seed + s) for n in labels for m in methods for s in range(seeds)]
    rows = []
    for method, n, seed in tqdm(jobs, desc="fine-tuning", disable=not progress, leave=False):
        start = time.perf_counter()
        r = finetune_classifier(
            model, task, method, n_labels=n, seed=seed, tokenizer=tokenizer, device=device, steps=steps
        )
        rows.append(
            {
                "method": method,
                "labels": n,
                "seed": seed,
                "test_accuracy": r.test_accuracy,
                "test_seen_accuracy": r.test_seen_accuracy,
                "trainable_params": r.trainable_params,
                "total_params": r.total_params,
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
    return rows


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
        means = [table[method][n]["mean"] for n in ns]
        color = COLORS[i % len(COLORS)]
        ax.plot(ns, means, marker="o", color=color, label=method)
        ax.fill_between(
            ns,
            [table[method][n]["min"] for n in ns],
            [table[method][n]["max"] for n in ns],
            color=color,
            alpha=0.15,
            linewidth=0,
        )
    ns = sorted({int(r["labels"]) for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.05)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    label(ax, "labelled examples (log scale)", "test accuracy (unseen words)", "Fine-tuning with few labels")
    ax.legend(fontsize=8, loc="lower right")
    return fig


# ---------------------------------------------------------------------------------------------
# results.json
# ---------------------------------------------------------------------------------------------


def write_json_atomic(path: str | Path, data: dict) -> Path:
    """Write `data` as JSON to a temporary file next to `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_results(out_dir: str | Path) -> dict:
    """DIR/results.json, or an empty dict if there is none (or it is unreadable)."""
    path = Path(out_dir) / RESULTS_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_for_finetuning(path: str | Path, device: str | torch.device = "cpu") -> tuple[TinyGPT, object]:
    """A checkpoint's model and tokenizer (a run's checkpoint.pt or the shipped data/tinygpt_world.pt)."""
    ckpt = load_checkpoint(path, map_location=device)
    tok = ckpt.extra.get("tokenizer")
    if not isinstance(tok, dict):
        raise ValueError(f"{Path(path).name} has no tokenizer stored with it")
    if not ckpt.config.causal:
        raise ValueError(f"{Path(path).name} holds a bidirectional model; the capstone fine-tunes causal ones")
    return ckpt.model, tokenizer_from_dict(tok)


# ---------------------------------------------------------------------------------------------
# Benchmark (tools/bench.py calls it)
# ---------------------------------------------------------------------------------------------


def benchmark_throughput(device: str | torch.device | None = None, steps: int = 30, **overrides) -> dict:
    """Pre-training throughput over a short run on the device's preset (no files written).

    Args:
        device: None for the best found, or "cpu", "cuda", "mps".
        steps: optimizer steps to time (the first few include warm-up and compilation).
        **overrides: CapstoneConfig fields, e.g. `batch_size=64`.

    Returns:
        {"device", "preset", "tokens_per_s", "mfu" (None if the peak is unknown), "steps", "val_loss"}.
    """
    config = CapstoneConfig.for_device(
        device,
        **{
            "max_steps": steps,
            "eval_every": steps,
            "checkpoint_every": steps,
            "n_chars": 200_000,
            "sample_tokens": 0,
            **overrides,
        },
    )
    outcome = run_pretraining(config, None, progress=False, log=lambda _msg: None)
    return {
        "device": config.device,
        "preset": config.preset,
        "tokens_per_s": round(outcome.tokens_per_s, 1),
        "mfu": outcome.mfu,
        "steps": outcome.steps,
        "val_loss": round(outcome.val_loss, 4),
    }


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


class UsageError(Exception):
    """A bad command-line argument: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _label_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers >= 2, e.g. 32,128,512; got {text!r}"
        ) from None
    if not values or any(v < 2 for v in values):
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 2, e.g. 32,128,512; got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The `python -m course_utils.capstone` parser: pretrain, finetune, all."""
    parser = _Parser(
        prog="python -m course_utils.capstone",
        description=__doc__.split("\n\nEvery command")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p):
        p.add_argument("--out", required=True, help="run folder: checkpoint.pt, results.json, the plot")
        p.add_argument(
            "--preset",
            choices=("auto",) + PRESETS,
            default="auto",
            help="configuration preset (auto: from the device found)",
        )
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the best found)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    def pretrain_args(p):
        p.add_argument("--corpus", default=None, help="a UTF-8 text file to pre-train on, by characters")
        p.add_argument("--batch-size", type=_positive_int, default=None, help="global batch (windows per step)")
        p.add_argument("--micro-batch-size", type=_positive_int, default=None, help="windows per forward pass")
        p.add_argument("--max-steps", type=_positive_int, default=None, help="optimizer steps")
        p.add_argument("--lr", type=_positive_float, default=None, help="peak learning rate")
        p.add_argument("--seed", type=int, default=None, help="random seed")
        p.add_argument("--n-chars", type=_positive_int, default=None, help="size of the generated corpus")
        p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
        p.add_argument("--no-amp", action="store_true", help="no bf16 autocast")
        p.add_argument("--no-compile", action="store_true", help="no torch.compile")

    def finetune_args(p, with_checkpoint: bool):
        if with_checkpoint:
            p.add_argument(
                "--checkpoint",
                default=None,
                help="model to fine-tune (default: DIR/checkpoint.pt, else the shipped data/tinygpt_world.pt)",
            )
        p.add_argument("--labels", type=_label_list, default=None, help="label counts, e.g. 32,128,512")
        p.add_argument("--seeds", type=_positive_int, default=None, help="seeds per method and label count")
        p.add_argument("--finetune-steps", type=_positive_int, default=None, help="steps per fine-tuning run")

    p = sub.add_parser("pretrain", help="pre-train a TinyGPT (causal LM)")
    common(p)
    pretrain_args(p)
    p = sub.add_parser("finetune", help="compare fine-tuning methods at several label counts")
    common(p)
    finetune_args(p, True)
    p = sub.add_parser("all", help="pre-train, then fine-tune the result")
    common(p)
    pretrain_args(p)
    finetune_args(p, False)
    return parser


def _config_from_args(args) -> CapstoneConfig:
    overrides = {}
    for name in (
        "corpus",
        "batch_size",
        "micro_batch_size",
        "max_steps",
        "lr",
        "seed",
        "n_chars",
        "labels",
        "seeds",
        "finetune_steps",
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "no_amp", False):
        overrides["amp"] = False
    if getattr(args, "no_compile", False):
        overrides["compile"] = False
    if overrides.get("corpus") is not None:
        overrides.setdefault("block_size", 64)  # characters: a longer context than the word-level default
    try:
        return CapstoneConfig.for_device(args.device, None if args.preset == "auto" else args.preset, **overrides)
    except ValueError as err:
        text = str(err)
        if "get_device" in text:
            raise UsageError(f"argument --device: {text}") from None
        flag = next((name for name in overrides if name in text), None)  # e.g. "seed must be an int >= 0"
        raise UsageError(f"argument --{flag.replace('_', '-')}: {text}" if flag else text) from None


def _validate(args, config: CapstoneConfig, info: DistInfo) -> Path | None:
    """Check every input before anything is written; returns the checkpoint to fine-tune (if any)."""
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"argument --out: {args.out} exists and is not a folder")
    if getattr(args, "corpus", None) is not None:
        try:
            load_text_file(args.corpus, config.block_size)
        except (OSError, ValueError) as err:
            raise UsageError(f"argument --corpus: {err}") from None
    if config.batch_size % info.world_size:
        raise UsageError(
            f"argument --batch-size: {config.batch_size} must be divisible by the number of "
            f"processes ({info.world_size})"
        )
    if getattr(args, "resume", False) and not (Path(args.out) / CHECKPOINT_NAME).is_file():
        raise UsageError(f"argument --resume: no {CHECKPOINT_NAME} in {args.out} to resume from")
    if args.command != "finetune":
        return None
    path = Path(args.checkpoint) if args.checkpoint else None
    if path is None:
        own = Path(args.out) / CHECKPOINT_NAME
        path = own if own.is_file() else DATA_DIR / FINAL_CHECKPOINT
    try:
        load_for_finetuning(path)
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"argument --checkpoint: {err}") from None
    return path


def _report_finetuning(rows: list[dict], out_dir: Path, log) -> None:
    table = summarize(rows)
    log("test accuracy on unseen feeling words (mean over seeds):")
    ns = sorted({int(r["labels"]) for r in rows})
    log("  " + "method".ljust(13) + "".join(f"{n:>8d}" for n in ns))
    for method in (m for m in METHODS if m in table):
        log("  " + method.ljust(13) + "".join(f"{table[method][n]['mean']:8.3f}" for n in ns))
    log("trainable parameters:")
    for method, trainable, total, share in parameter_table(rows):
        log(f"  {method:13s}{trainable:>9d} of {total} ({share:.2%})")
    if 32 in ns and "scratch" in table:
        gaps = gap_over_scratch(rows, 32)
        log("at 32 labels, over scratch: " + ", ".join(f"{m} {g * 100:+.1f} points" for m, g in gaps.items()))
    fig = plot_accuracy_vs_labels(rows)
    fig.savefig(out_dir / PLOT_NAME, dpi=100, bbox_inches="tight")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 training failed, 2 bad arguments)."""
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        info = dist_from_env()
        config = _config_from_args(args)
        checkpoint = _validate(args, config, info)
    except (UsageError, ValueError) as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2
    log = print if info.is_main else (lambda _msg: None)
    out_dir = Path(args.out)
    log(f"device {config.device}, preset {config.preset!r}: {config.reason}")
    results = read_results(out_dir) if info.is_main else {}
    results.update({"device": config.device, "preset": config.preset, "config": config.to_dict()})
    try:
        if args.command in ("pretrain", "all"):
            if info.is_main:
                out_dir.mkdir(parents=True, exist_ok=True)
            outcome = run_pretraining(config, out_dir, resume=args.resume, progress=not args.quiet, log=log)
            results["pretrain"] = outcome.summary()
            mfu_text = f"{outcome.mfu:.1%}" if outcome.mfu is not None else "unknown (peak of this device not known)"
            log(
                f"pre-trained {outcome.steps} steps: held-out loss {outcome.val_loss:.3f}, "
                f"{outcome.tokens_per_s:,.0f} tokens/s, MFU {mfu_text}"
            )
            for text in outcome.samples:
                log(f"  sample: {text}")
            if info.enabled:
                import torch.distributed as dist

                dist.barrier()
                dist.destroy_process_group()
            checkpoint = out_dir / CHECKPOINT_NAME
        if args.command in ("finetune", "all") and info.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            if config.threads is not None and torch.device(config.device).type == "cpu":
                torch.set_num_threads(config.threads)
            model, tokenizer = load_for_finetuning(checkpoint, config.device)
            log(
                f"fine-tuning {checkpoint.name}: labels {list(config.labels)}, {config.seeds} seeds, "
                f"methods {', '.join(config.methods)}"
            )
            rows = run_finetuning(
                model,
                tokenizer,
                config.labels,
                config.seeds,
                config.methods,
                device=config.device,
                progress=not args.quiet,
                base_seed=config.seed,
                steps=config.finetune_steps,
            )
            results["finetune"] = rows
            results["finetune_checkpoint"] = checkpoint.name
            _report_finetuning(rows, out_dir, log)
    except FloatingPointError as err:
        print(f"{parser.prog} {args.command}: training stopped: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # e.g. a checkpoint that does not match on --resume
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2
    if info.is_main:
        results["wall_s"] = round(time.perf_counter() - start_wall, 2)
        results["cpu_s"] = round(time.process_time() - start_cpu, 2)
        results.setdefault("pretrain", {"tokens_per_s": None, "val_loss": None, "steps": None})
        results.setdefault("finetune", [])
        write_json_atomic(out_dir / RESULTS_NAME, results)
        log(f"wrote {RESULTS_NAME} in {out_dir.name}/ ({results['wall_s']:.1f} s wall, {results['cpu_s']:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
