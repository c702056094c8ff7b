"""Pre-training a language model: the course's one training loop, read top to bottom like nanoGPT's train.py.

Notebook 08 (`course_utils.pretraining.pretrain`), notebook 10, `tools/make_checkpoints.py` and
`python -m course_utils.capstone` all train through `train_lm`:

    config = PretrainConfig(max_steps=500)                      # the defaults are the shipped model's recipe
    run = pretrain_from_config(config, out_dir="runs/cap")      # then run.history.eval_loss, .tokens_per_s, .mfu

One optimizer step: draw `batch_size` window indices from a generator seeded with `seed` (the same
draw on every process), let process r of W take its share, run it in micro-batches (gradient
accumulation; DDP averages over processes on the last one), clip, step. The loss stays on the
device and is read once per log interval (`log_every`), where a NaN or infinite value stops training
with an explanation (non-finite weights are never saved). Checkpoints hold the weights, the optimizer,
the step, the random states and the data order: a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from course_utils import validate as v
from course_utils.checkpointing import load_checkpoint, save_checkpoint
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.text import CausalLMDataset, CharTokenizer, WordTokenizer, load_text_file, make_corpus

CHECKPOINT_NAME = "checkpoint.pt"  # in a run folder: the latest state, enough to resume
SCHEDULES = ("cosine", "constant")
# Dense bf16 peak FLOP/s per device (data sheets, no sparsity), matched against get_device_name(); else no MFU.
PEAK_FLOPS = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


@dataclass
class PretrainConfig:
    """A pre-training run. The defaults are the recipe of the model shipped in data/ (`make checkpoints`)."""

    corpus: str | None = None  # a UTF-8 text file, tokenized by characters (None: the generated world, by words)
    n_chars: int = 1_000_000  # characters of generated corpus (ignored with `corpus`)
    block_size: int = 32  # context length T in tokens
    n_layer: int = 2  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 64  # channels per token
    dropout: float = 0.0  # 0 keeps a CPU run bit-for-bit reproducible
    max_steps: int = 800  # optimizer steps
    batch_size: int = 32  # global batch: windows per optimizer step, over all processes
    micro_batch_size: int | None = None  # windows per forward pass and process (None: the whole local batch)
    lr: float = 3e-3  # peak learning rate (AdamW)
    warmup: int = 50  # linear warm-up steps
    schedule: str = "cosine"  # after warm-up: "cosine" decay to min_lr_ratio * lr, or "constant"
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1  # AdamW's decoupled decay, on matrices only
    grad_clip: float | None = 1.0  # clip the gradients' global norm (None: no clipping)
    seed: int = 0  # the initial weights and the data order
    eval_every: int = 80  # held-out loss every this many steps (and at the end)
    eval_batches: int = 8  # batches per evaluation (of min(batch_size, 64) windows)
    log_every: int = 10  # read the loss (one device sync), check it, update the bar and the callback
    checkpoint_every: int = 100  # write DIR/checkpoint.pt every this many steps (and at the end)
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps"; under torchrun each process takes its local GPU
    threads: int | None = None  # torch CPU threads (1 for tiny models on a busy machine; None: leave as is)
    amp: bool = False  # bf16 autocast, where the device supports it
    compile: bool = False  # torch.compile the model (not on Windows or MPS)
    tf32: bool = False  # TF32 matrix multiplies (CUDA)
    peak_flops: float | None = None  # one device's peak FLOP/s for MFU (None: from PEAK_FLOPS)

    def __post_init__(self):
        where = type(self).__name__
        for name in ("n_chars", "block_size", "n_layer", "n_head", "n_embd", "max_steps", "batch_size"):
            v.positive_int(where, name, getattr(self, name))
        for name in ("eval_every", "eval_batches", "log_every", "checkpoint_every"):
            v.positive_int(where, name, getattr(self, name))
        v.positive_int(where, "micro_batch_size", self.micro_batch_size, optional=True)
        v.positive_int(where, "threads", self.threads, optional=True)
        v.nonnegative_int(where, "warmup", self.warmup)
        v.nonnegative_int(where, "seed", self.seed)
        v.positive_number(where, "lr", self.lr)
        v.positive_number(where, "grad_clip", self.grad_clip, optional=True)
        v.positive_number(where, "peak_flops", self.peak_flops, optional=True)
        v.fraction(where, "min_lr_ratio", self.min_lr_ratio)
        v.fraction(where, "weight_decay", self.weight_decay)
        v.one_of(where, "schedule", self.schedule, SCHEDULES)
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise v.InvalidArgument(where, "dropout", "a number in [0, 1)", self.dropout)
        if self.n_embd % self.n_head:
            raise v.InvalidArgument(where, "n_head", f"a divisor of n_embd ({self.n_embd})", self.n_head)

    def to_dict(self) -> dict:
        """Plain types, for JSON and checkpoints."""
        return {k: list(x) if isinstance(x, tuple) else x for k, x in dataclasses.asdict(self).items()}


# Settings that must match to resume a run: anything else would change the batches or the updates.
RESUME_FIELDS = ("batch_size", "lr", "warmup", "schedule", "min_lr_ratio", "weight_decay", "grad_clip", "seed")


@dataclass
class PretrainHistory:
    """What happened during pre-training (a resumed run includes the steps before the checkpoint)."""

    step: list[int] = field(default_factory=list)  # optimizer steps done, after each step
    loss: list[float] = field(default_factory=list)  # training loss of that step's global batch
    lr: list[float] = field(default_factory=list)  # learning rate used at that step
    eval_step: list[int] = field(default_factory=list)  # steps at which the model was evaluated
    eval_loss: list[float] = field(default_factory=list)  # held-out loss at those steps
    tokens_seen: int = 0  # tokens this process trained on in this call
    seconds: float = 0.0  # wall time of this call's loop
    cpu_seconds: float = 0.0  # CPU time of this process in the loop (steadier on a busy machine)
    tokens_per_s: float = 0.0  # per process, steady state (first log interval, evaluation, checkpoints excluded)
    mfu: float | None = None  # tokens_per_s x FLOPs per token / one device's peak (None: peak unknown)
    world_size: int = 1  # processes that trained together

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class TrainingError(RuntimeError):
    """Training cannot go on (out of memory, torch.compile failed); the message says what to try."""


# ---------------------------------------------------------------------------------------------
# Pieces: schedule, optimizer, evaluation, FLOPs
# ---------------------------------------------------------------------------------------------


def lr_at(step: int, lr: float, steps: int, warmup: int = 0, schedule: str = "cosine", min_lr_ratio: float = 0.1):
    """Learning rate for (0-based) `step`: linear warm-up, then cosine decay to `min_lr_ratio * lr`, or constant."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))  # 0 -> 1 over the decay
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: nn.Module, lr: float = 3e-3, weight_decay: float = 0.1) -> torch.optim.AdamW:
    """AdamW as nanoGPT sets it up: decay on matrices only, betas (0.9, 0.95), fused on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = bool(params) and params[0].device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **({"fused": True} if fused else {}))


@torch.no_grad()
def evaluate_lm(model: TinyGPT, dataset, n_batches: int = 8, batch_size: int = 32, seed: int = 1234, device=None):
    """Mean loss on `n_batches` fixed, seeded batches of a CausalLMDataset or MaskedLMDataset."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(n_batches):
        x, y = dataset.get_batch(torch.randint(len(dataset), (batch_size,), generator=g))  # (B, T) each
        losses.append(model(x.to(device), y.to(device))[1].item())
    model.train(was_training)
    return sum(losses) / len(losses)


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> float:
    """Training FLOPs per token: 6 N for the weights plus 12 L C T for attention (PaLM, Appendix B)."""
    return 6.0 * n_params + 12.0 * n_layer * n_embd * block_size


def model_flops_per_token(model: TinyGPT) -> float:
    """`flops_per_token` of a TinyGPT: the position embedding (a lookup) excluded, the tied head counted once."""
    cfg = model.config
    n = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    return flops_per_token(n, cfg.n_layer, cfg.n_embd, cfg.block_size)


def mfu(tokens_per_s: float, flops_token: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation of one device: its tokens/s x FLOPs per token over its peak (None: peak unknown)."""
    return None if peak is None else tokens_per_s * flops_token / peak


def peak_flops(device: torch.device | str) -> float | None:
    """One device's dense bf16 peak from `PEAK_FLOPS` (None: a CPU, an Apple GPU, an unlisted GPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS if key in name), None)


# ---------------------------------------------------------------------------------------------
# Data and model of a run
# ---------------------------------------------------------------------------------------------


def build_data(config: PretrainConfig) -> tuple[WordTokenizer | CharTokenizer, CausalLMDataset, CausalLMDataset, dict]:
    """(tokenizer, training set, held-out set, source): the generated world by words, or `config.corpus` by characters.

    Raises:
        FileNotFoundError, ValueError: `config.corpus` is missing, empty, binary, or too short.
    """
    if config.corpus is None:
        tokenizer = WordTokenizer.from_world()
        text = make_corpus(config.n_chars, seed=config.seed)
        held_out = make_corpus(max(config.n_chars // 20, 20 * config.block_size), seed=config.seed + 10_000)
    else:  # a user's file: its last tenth held out (all of it for a short file)
        text = load_text_file(config.corpus, config.block_size)
        tokenizer = CharTokenizer.from_text(text)
        cut = max(len(text) - max(len(text) // 10, config.block_size + 1), config.block_size + 1)
        text, held_out = text[:cut], text[cut:]
        held_out = held_out if len(held_out) > config.block_size else text
    digest = hashlib.sha256((text + held_out).encode("utf-8")).hexdigest()
    source = {"kind": "generated" if config.corpus is None else "file", "sha256": digest}
    train = CausalLMDataset(tokenizer.encode(text), config.block_size)
    return tokenizer, train, CausalLMDataset(tokenizer.encode(held_out), config.block_size), source


def gpt_config(config: PretrainConfig, tokenizer) -> GPTConfig:
    """The causal TinyGPT shape of a run."""
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


@dataclass
class PretrainRun:
    """A finished run of `pretrain_from_config`."""

    model: TinyGPT  # trained, eval mode, on the training device
    tokenizer: WordTokenizer | CharTokenizer
    history: PretrainHistory


def pretrain_from_config(config: PretrainConfig, out_dir=None, *, data=None, resume=False, **loop_args) -> PretrainRun:
    """Build the data (or take `data` from `build_data`) and a model seeded with `config.seed`, then `train_lm`.

    `loop_args` go to `train_lm` (on_step, progress, log).
    """
    from course_utils.repro import set_seed

    tokenizer, train_ds, eval_ds, source = data if data is not None else build_data(config)
    set_seed(config.seed)
    model = TinyGPT(gpt_config(config, tokenizer))
    extra = {"tokenizer": tokenizer.to_dict(), "source": source}
    history = train_lm(model, train_ds, eval_ds, config, out_dir=out_dir, resume=resume, extra=extra, **loop_args)
    return PretrainRun(model.eval(), tokenizer, history)


# ---------------------------------------------------------------------------------------------
# Processes, faults
# ---------------------------------------------------------------------------------------------


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, this process's device); joins the process group under torchrun (NCCL or gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world, device


def is_out_of_memory(err: BaseException) -> bool:
    """True for an accelerator's out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(err, oom) or (isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


def explain_failure(err: Exception, micro: int, config: PretrainConfig, compiled: bool) -> TrainingError | None:
    """A `TrainingError` saying what to try after `err` in a training step (None: not one we can explain)."""
    if is_out_of_memory(err):
        if micro == 1:
            return TrainingError("out of memory even with micro-batch 1: use a smaller model or --block-size")
        return TrainingError(
            f"out of memory with micro-batch {micro}: try --micro-batch-size {micro // 2} (micro_batch_size="
            f"{micro // 2}); the global batch of {config.batch_size} stays, with twice the gradient accumulation"
        )
    if compiled:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return TrainingError(
            f"torch.compile failed ({type(err).__name__}: {first[:200]}); run again with --no-compile "
            "(compile=False): an error that remains is in the model, one that goes is in the compiler"
        )
    return None


def nan_message(loss: float, step: int, lr: float, amp: bool) -> str:
    """Why training stopped on a non-finite loss, and what to try."""
    precision = "bf16 autocast was on: try --no-amp to see if precision is the cause; " if amp else ""
    return (
        f"the training loss became {loss} at step {step} (learning rate {lr:.2e}); training stopped and the last "
        f"checkpoint is kept. Lower the learning rate (lr, --lr), keep gradient clipping (grad_clip), {precision}"
        "check the data for empty windows."
    )


def _resume(path: Path, model, optimizer, data_gen, config, extra, history, device) -> int:
    """Load DIR/checkpoint.pt into the model, optimizer, random states and history; returns its step."""
    ckpt = load_checkpoint(path, expected_config=model.config)  # refuses another shape, naming the fields
    state = ckpt.extra.get("train_state")
    if not isinstance(state, dict):
        raise ValueError(f"resume: {path.name} holds weights only (no optimizer or data state)")
    saved = state["config"]
    changed = [
        f"{k} ({saved.get(k)!r} -> {getattr(config, k)!r})" for k in RESUME_FIELDS if saved.get(k) != getattr(config, k)
    ]
    changed += [f"the {k}" for k in (extra or {}) if ckpt.extra.get(k) != extra[k]]  # e.g. the corpus text
    if changed:
        raise ValueError(f"resume: {path.name} was trained with other settings: " + ", ".join(changed))
    if ckpt.step > config.max_steps:
        raise ValueError(f"resume: {path.name} is at step {ckpt.step}, past max_steps {config.max_steps}")
    model.load_state_dict(ckpt.model.state_dict())
    optimizer.load_state_dict(state["optimizer"])
    data_gen.set_state(state["data_rng"])
    torch.set_rng_state(state["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    for name in ("step", "loss", "lr", "eval_step", "eval_loss"):
        setattr(history, name, list(state["history"][name]))
    return ckpt.step


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------


# The pre-training step (notebook 08 teaches these lines in a mechanism cell; a test keeps them identical).
def forward_backward(model, x, y, share=1.0, amp=False):
    """Forward and backward of a batch of next-token pairs x, y (B, T); returns the loss (detached)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):  # bf16 where amp is on and supported
        logits, loss = model(x, y)  # logits (B, T, V); loss: the mean over B*T positions of -log p(true next token)
        loss = loss * share  # a micro-batch's share of the batch (1.0 when the batch is one micro-batch)
    loss.backward()  # d loss / d weight, added into every weight's .grad
    return loss.detach()


def clip_and_step(optimizer, params, grad_clip=1.0):
    """Clip the gradients' global norm to `grad_clip` (None: no clipping), update the weights, clear the gradients."""
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(params, grad_clip)  # one factor for all gradients when their joint norm is too big
    optimizer.step()  # AdamW: a step along the bias-corrected m / sqrt(v), and decoupled weight decay
    optimizer.zero_grad(set_to_none=True)  # the next backward starts from nothing


def train_lm(
    model: TinyGPT,
    train_ds,
    eval_ds,
    config: PretrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    extra: dict | None = None,
    on_step: Callable[[int, TinyGPT, PretrainHistory], None] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PretrainHistory:
    """Pre-train `model` on `train_ds` as `config` says; the one loop behind every pre-training in the course.

    Args:
        model: a TinyGPT (causal for a CausalLMDataset, bidirectional for a MaskedLMDataset); trained in place.
        train_ds, eval_ds: datasets with `get_batch(indices)`; `eval_ds` may be None (no evaluation).
        config: the run's settings (the data and shape fields are not used here).
        out_dir: where DIR/checkpoint.pt is written every `checkpoint_every` steps and at the end (rank 0).
        resume: continue from DIR/checkpoint.pt (it must have the same settings, `RESUME_FIELDS`).
        extra: plain data stored in every checkpoint (the tokenizer, the corpus's checksum); a resumed
            run must bring the same.
        on_step: the one callback, `on_step(step, model, history)`, at step 0 and at every log point
            (every `log_every` steps, each evaluation and checkpoint, the end), on rank 0; the history
            is up to date there (e.g. a live plot, snapshots).
        progress: a tqdm bar with the loss.
        log: where messages go (rank 0 only).

    Returns:
        The `PretrainHistory` (tokens/s and MFU per process and device).

    Raises:
        FloatingPointError: the loss became NaN or infinite. TrainingError: out of memory or
        torch.compile failed (the message says what to try). ValueError: a checkpoint that cannot resume.
    """
    rank, world, device = init_distributed(torch.device(config.device))
    log = log if rank == 0 else (lambda _msg: None)
    local_batch = config.batch_size // world  # the capstone checks divisibility before starting
    micro = min(config.micro_batch_size or local_batch, local_batch)
    use_amp = config.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()
    if config.amp and not use_amp:
        log(f"bf16 autocast is not supported on {device}: training in float32")
    if config.threads is not None and device.type == "cpu":
        torch.set_num_threads(config.threads)  # for the process, as torch.set_num_threads always is
    if config.tf32 and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    model.to(device)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)  # fused AdamW on CUDA
    data_gen = torch.Generator().manual_seed(config.seed)  # the data order: the same draw on every process
    history, start = PretrainHistory(world_size=world), 0
    ckpt_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
    if resume:
        start = _resume(ckpt_path, model, optimizer, data_gen, config, extra, history, device)
        log(f"resuming from step {start} of {config.max_steps}")

    runner = model
    compiled = config.compile and platform.system() != "Windows" and device.type != "mps"
    if config.compile and not compiled:
        log("torch.compile skipped: not supported well on Windows or MPS")
    if compiled:
        runner = torch.compile(model)
    if world > 1:
        runner = nn.parallel.DistributedDataParallel(
            runner, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for p in model.parameters() if p.requires_grad]
    flops_token, peak = model_flops_per_token(model), config.peak_flops or peak_flops(device)

    def evaluate():
        loss = evaluate_lm(model, eval_ds, config.eval_batches, min(config.batch_size, 64), device=device)
        history.eval_step.append(step_done)
        history.eval_loss.append(loss)

    def save():
        if not all(bool(torch.isfinite(p).all()) for p in params):  # a bad update behind a finite loss
            raise FloatingPointError(f"non-finite weights after step {step_done}; the last good checkpoint is kept")
        state = {
            "config": config.to_dict(),
            "optimizer": optimizer.state_dict(),
            "data_rng": data_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": {k: getattr(history, k) for k in ("step", "loss", "lr", "eval_step", "eval_loss")},
        }
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        save_checkpoint(ckpt_path, model, step=step_done, extra={**(extra or {}), "train_state": state})

    step_done, pending = start, []  # pending: (step, lr, loss on the device) not yet read
    if start == 0 and rank == 0:
        if eval_ds is not None:
            evaluate()
        if on_step is not None:
            on_step(0, model, history)
    bar = tqdm(
        total=config.max_steps, initial=start, desc="pre-training", disable=not progress or rank > 0, leave=False
    )
    intervals = []  # (tokens, seconds) of each log interval: training only
    wall, cpu = time.perf_counter(), time.process_time()
    tick = time.perf_counter()
    model.train()
    for step in range(start, config.max_steps):
        lr = lr_at(step, config.lr, config.max_steps, config.warmup, config.schedule, config.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        indices = torch.randint(len(train_ds), (config.batch_size,), generator=data_gen)  # (B,) the global batch
        x, y = train_ds.get_batch(indices[rank * local_batch : (rank + 1) * local_batch])  # (B / W, T) each
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        step_loss = 0.0
        try:
            for i in range(0, local_batch, micro):  # gradient accumulation over micro-batches
                if world > 1:  # DDP averages the gradients over processes on the last micro-batch only
                    runner.require_backward_grad_sync = i + micro >= local_batch
                share = min(micro, local_batch - i) / local_batch  # its share of the local batch
                step_loss = step_loss + forward_backward(runner, x[i : i + micro], y[i : i + micro], share, use_amp)
        except Exception as err:
            explained = explain_failure(err, micro, config, compiled)
            if explained is None:
                raise
            raise explained from err
        clip_and_step(optimizer, params, config.grad_clip)
        pending.append((step + 1, lr, step_loss))
        history.tokens_seen += x.numel()
        step_done = step + 1
        evaluating = eval_ds is not None and (step_done % config.eval_every == 0 or step_done == config.max_steps)
        saving = ckpt_path is not None and (step_done % config.checkpoint_every == 0 or step_done == config.max_steps)
        if not (evaluating or saving or step_done % config.log_every == 0 or step_done == config.max_steps):
            continue
        # A log point: read the losses of the interval (one sync; one all-reduce under DDP), check them.
        losses = torch.stack([loss for _, _, loss in pending]).float()  # (steps in the interval,)
        if world > 1:
            dist.all_reduce(losses)
            losses /= world
        values = losses.tolist()
        intervals.append((len(pending) * x.numel(), time.perf_counter() - tick))
        bad = next((i for i, value in enumerate(values) if not math.isfinite(value)), None)
        if bad is not None:
            raise FloatingPointError(nan_message(values[bad], pending[bad][0], pending[bad][1], use_amp))
        history.step += [s for s, _, _ in pending]
        history.lr += [lr_ for _, lr_, _ in pending]
        history.loss += values
        bar.update(len(pending))
        pending = []
        if rank == 0:
            if evaluating:
                evaluate()
            if saving:
                save()
            bar.set_postfix(
                loss=f"{values[-1]:.3f}", **({"eval": f"{history.eval_loss[-1]:.3f}"} if evaluating else {})
            )
            if on_step is not None:
                on_step(step_done, model, history)
        tick = time.perf_counter()
    bar.close()
    history.seconds, history.cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    timed = intervals[1:] or intervals  # the first interval holds compilation and warm-up
    seconds = sum(s for _, s in timed)
    history.tokens_per_s = sum(t for t, _ in timed) / seconds if seconds > 0 else 0.0
    history.mfu = mfu(history.tokens_per_s, flops_token, peak)
    model.eval()
    return history
