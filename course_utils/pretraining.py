"""Pre-train a TinyGPT on unlabelled text, checkpoint it safely, and fine-tune it with few labels.

- `pretrain`: AdamW, warm-up then cosine (or constant) learning rate, gradient clipping, a tqdm
  bar with the loss, periodic evaluation and a `PretrainHistory`.
- `save_checkpoint` / `load_checkpoint`: written atomically (temporary file, then `os.replace`),
  read with `torch.load(weights_only=True)`; a corrupt file or a different configuration is a
  clear error.
- `finetune_classifier`: one of five ways to use the labelled examples ("scratch",
  "linear_probe", "adapter", "lora", "full"), returning test accuracy and how many parameters
  were trained.
- `world_config`, `pretrain_world_model`, `load_pretrained`: the recipe behind the checkpoints
  shipped in data/ (made by `python tools/make_checkpoints.py`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.layers.adapters import add_adapters, add_lora, count_parameters, freeze
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.paths import DATA_DIR
from course_utils.text import (
    CausalLMDataset,
    ClassificationDataset,
    MaskedLMDataset,
    SentimentTask,
    WordTokenizer,
    make_corpus,
    tokenizer_from_dict,
)

CHECKPOINT_FORMAT = "course_utils.TinyGPT/1"
SCHEDULES = ("cosine", "constant")
METHODS = ("scratch", "linear_probe", "adapter", "lora", "full")
FINAL_CHECKPOINT = "tinygpt_world.pt"  # the shipped pre-trained model, in data/
SNAPSHOT_STEPS = (0, 100, 200, 300, 400, 600)  # snapshots shipped along the way (float16), for notebook 08

# ---------------------------------------------------------------------------------------------
# Pre-training
# ---------------------------------------------------------------------------------------------


@dataclass
class PretrainHistory:
    """What happened during pre-training."""

    step: list[int] = field(default_factory=list)  # optimizer steps done, after each step
    loss: list[float] = field(default_factory=list)  # training loss of that step's batch
    lr: list[float] = field(default_factory=list)  # learning rate used at that step
    eval_step: list[int] = field(default_factory=list)  # steps at which the model was evaluated
    eval_loss: list[float] = field(default_factory=list)  # held-out loss at those steps
    tokens_seen: int = 0  # input tokens processed
    seconds: float = 0.0  # wall-clock time spent in the loop
    cpu_seconds: float = 0.0  # CPU time of this process in the loop (all threads): steadier on a busy machine


def lr_at(
    step: int, lr: float, steps: int, warmup: int = 0, schedule: str = "cosine", min_lr_ratio: float = 0.1
) -> float:
    """Learning rate for (0-based) `step`: linear warm-up, then cosine decay to `min_lr_ratio * lr`, or constant."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_at: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if step < warmup:
        return lr * (step + 1) / warmup
    if schedule == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))  # 0 -> 1 over the decay
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _get_batch(dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(indices)
    items = [dataset[i] for i in indices.tolist()]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def make_optimizer(model: nn.Module, lr: float = 3e-3, weight_decay: float = 0.1) -> torch.optim.AdamW:
    """AdamW as `pretrain` uses it: decay on matrices only, betas (0.9, 0.95), fused on CUDA.

    Weights of Linear and Embedding layers are decayed; biases and LayerNorm gains are not (as in
    nanoGPT). Only parameters with `requires_grad` are included.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = bool(params) and params[0].device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), **({"fused": True} if fused else {}))


@torch.no_grad()
def evaluate_lm(
    model: TinyGPT,
    dataset,
    n_batches: int = 8,
    batch_size: int = 32,
    seed: int = 1234,
    device: torch.device | str | None = None,
) -> float:
    """Mean loss on `n_batches` fixed, seeded batches of a CausalLMDataset or MaskedLMDataset."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(n_batches):
        x, y = _get_batch(dataset, torch.randint(len(dataset), (batch_size,), generator=g))
        losses.append(model(x.to(device), y.to(device))[1].item())
    model.train(was_training)
    return sum(losses) / len(losses)


def pretrain(
    model: TinyGPT,
    dataset,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 3e-3,
    weight_decay: float = 0.1,
    warmup: int = 50,
    schedule: str = "cosine",
    min_lr_ratio: float = 0.1,
    grad_clip: float | None = 1.0,
    eval_dataset=None,
    eval_every: int = 100,
    eval_batches: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool = False,
    on_step: Callable[[int, TinyGPT, PretrainHistory], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
    progress: bool = True,
) -> PretrainHistory:
    """Self-supervised pre-training: random windows of `dataset`, AdamW, scheduled learning rate.

    Args:
        model: a TinyGPT, causal for a CausalLMDataset, bidirectional (causal=False) for a MaskedLMDataset.
        dataset: yields (x, y) pairs of shape (T,) each, with y = -100 where nothing is predicted.
        steps: optimizer steps.
        batch_size: windows per step (sampled uniformly with replacement, from `seed`).
        lr: peak learning rate; `schedule` "cosine" decays it to `min_lr_ratio * lr` after `warmup`
            linear warm-up steps, "constant" keeps it.
        weight_decay: AdamW's decoupled decay, applied to matrices only (not biases, LayerNorms).
        grad_clip: clip the gradients' global norm to this (None: no clipping).
        eval_dataset: held-out data, evaluated every `eval_every` steps and at the end.
        seed: seeds the batch order; call `set_seed` before building the model for its init.
        device: where to train (None: where the model is).
        amp: bf16 autocast on CUDA (ignored elsewhere).
        on_step: called as `on_step(step, model, history)` once before training (step 0) and after
            every step (e.g. to save snapshots).
        optimizer: an optimizer over `model`'s parameters, e.g. from `make_optimizer` with its state
            loaded from a checkpoint (None: a fresh one from `make_optimizer`).
        start_step: steps already done, to resume after an interruption: training continues at
            this step with the same learning rate and the same batches as an uninterrupted run
            (bit for bit on a CPU, given the model and optimizer state saved at that step).
        progress: show a tqdm bar with the loss.

    Returns:
        A `PretrainHistory` of the steps run in this call (from `start_step` on).

    Raises:
        FloatingPointError: the loss became NaN or infinite (usually a learning rate too high).
    """
    if not isinstance(model, TinyGPT):
        raise TypeError(f"pretrain: model must be a TinyGPT, got {type(model).__name__}")
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("eval_every", eval_every),
        ("eval_batches", eval_batches),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"pretrain: {name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"pretrain: lr must be > 0, got {lr!r}")
    if isinstance(start_step, bool) or not isinstance(start_step, int) or not 0 <= start_step <= steps:
        raise ValueError(f"pretrain: start_step must be an int in [0, steps={steps}], got {start_step!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"pretrain: warmup must be an int >= 0, got {warmup!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"pretrain: schedule must be one of {SCHEDULES}, got {schedule!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"pretrain: grad_clip must be > 0 or None, got {grad_clip!r}")
    if isinstance(dataset, MaskedLMDataset) and model.config.causal:
        raise ValueError("pretrain: a MaskedLMDataset needs a bidirectional model (GPTConfig(causal=False))")
    if isinstance(dataset, CausalLMDataset) and not model.config.causal:
        raise ValueError(
            "pretrain: a CausalLMDataset needs a causal model (GPTConfig(causal=True)); "
            "a bidirectional one would see the token it must predict"
        )
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = make_optimizer(model, lr=lr, weight_decay=weight_decay)
    use_amp = amp and device.type == "cuda"
    g = torch.Generator().manual_seed(seed)
    for _ in range(start_step):  # replay the batch draws already done, so a resumed run sees the same batches
        torch.randint(len(dataset), (batch_size,), generator=g)
    history = PretrainHistory()
    start, cpu_start = time.perf_counter(), time.process_time()
    model.train()
    if start_step == 0:
        if eval_dataset is not None:  # the starting point, so curves begin at step 0
            history.eval_step.append(0)
            history.eval_loss.append(evaluate_lm(model, eval_dataset, eval_batches, batch_size, device=device))
        if on_step is not None:
            on_step(0, model, history)
    bar = tqdm(
        range(start_step, steps),
        desc="pre-training",
        disable=not progress,
        leave=False,
        initial=start_step,
        total=steps,
    )
    for step in bar:
        lr_now = lr_at(step, lr, steps, warmup, schedule, min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        x, y = _get_batch(dataset, torch.randint(len(dataset), (batch_size,), generator=g))  # (B, T) each
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            _, loss = model(x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"pretrain: the loss became {loss.item()} at step {step}; "
                f"training stopped. Try a lower lr (now {lr_now:.2e}) or grad_clip."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        history.step.append(step + 1)
        history.loss.append(loss.item())
        history.lr.append(lr_now)
        history.tokens_seen += x.numel()
        if eval_dataset is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            history.eval_step.append(step + 1)
            history.eval_loss.append(evaluate_lm(model, eval_dataset, eval_batches, batch_size, device=device))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", eval=f"{history.eval_loss[-1]:.3f}")
        elif step % 10 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
        if on_step is not None:
            on_step(step + 1, model, history)
    history.seconds = time.perf_counter() - start
    history.cpu_seconds = time.process_time() - cpu_start
    return history


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model rebuilt from its config, and what was saved with it."""

    model: TinyGPT
    config: GPTConfig
    step: int
    extra: dict


def save_checkpoint(
    path: str | Path,
    model: TinyGPT,
    config: GPTConfig | None = None,
    step: int = 0,
    extra: dict | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a checkpoint atomically: to a temporary file in the same folder, then `os.replace`.

    A crash or a kill mid-write leaves any earlier file at `path` intact.

    Args:
        path: where to write (parent folders are created).
        model: the TinyGPT whose `state_dict` is saved.
        config: its GPTConfig (None: `model.config`); stored as a plain dict.
        step: training step reached.
        extra: plain data to keep alongside (numbers, strings, lists, dicts, tensors), e.g. the
            tokenizer's `to_dict()` and a history; it must load under `weights_only=True`.
        dtype: store floating-point weights in this dtype (e.g. torch.float16 to halve the size);
            `load_checkpoint` converts them back to float32.

    Returns:
        The path written.
    """
    if not isinstance(model, TinyGPT):
        raise TypeError(f"save_checkpoint: model must be a TinyGPT, got {type(model).__name__}")
    config = model.config if config is None else config
    if not isinstance(config, GPTConfig):
        raise TypeError(f"save_checkpoint: config must be a GPTConfig, got {type(config).__name__}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"save_checkpoint: extra must be a dict or None, got {type(extra).__name__}")
    _check_plain(extra)
    if dtype is not None and dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(
            f"save_checkpoint: dtype must be None, torch.float16, torch.bfloat16 or torch.float32, got {dtype}"
        )
    state = {
        k: (v.detach().to("cpu", dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    state.pop("lm_head.weight", None)  # tied to transformer.wte.weight: store it once
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "model": state,
        "step": step,
        "extra": extra or {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0600); give it normal permissions
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_plain(value, where: str = "extra") -> None:
    """Refuse anything `torch.load(weights_only=True)` would not read back (before writing a byte)."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"save_checkpoint: {where} has a key of type {type(k).__name__}; use str or int keys")
            _check_plain(item, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"save_checkpoint: {where} is a {type(value).__name__}, which torch.load(weights_only=True) "
        "refuses; use plain numbers, strings, lists, dicts and tensors"
    )


def _describe_mismatch(saved: dict, expected: GPTConfig) -> list[str]:
    want = expected.to_dict()
    return [
        f"{k} is {saved.get(k)!r} in the checkpoint but {want[k]!r} expected" for k in want if saved.get(k) != want[k]
    ]


def load_checkpoint(
    path: str | Path, expected_config: GPTConfig | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` and rebuild its TinyGPT (float32, eval mode).

    Args:
        path: the file.
        expected_config: if given, every field of the saved config must equal it.
        map_location: device for the loaded model.

    Returns:
        A `Checkpoint` (model, config, step, extra).

    Raises:
        FileNotFoundError: no file. ValueError: not a checkpoint (corrupt, truncated, another
        format), or its config differs from `expected_config` (the differing fields are named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, a pickle weights_only refuses: all unreadable
        raise ValueError(
            f"load_checkpoint: {path.name} is not a readable checkpoint (corrupt, truncated, or not made by "
            f"this course; it is only ever loaded with weights_only=True) [{type(err).__name__}]"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {path.name} is not a {CHECKPOINT_FORMAT} checkpoint")
    missing = sorted({"config", "model", "step", "extra"} - set(payload))
    if missing or not isinstance(payload["config"], dict):
        raise ValueError(f"load_checkpoint: {path.name} is incomplete (missing {missing or ['a config dict']})")
    saved = payload["config"]
    if expected_config is not None:
        if not isinstance(expected_config, GPTConfig):
            raise TypeError(
                f"load_checkpoint: expected_config must be a GPTConfig, got {type(expected_config).__name__}"
            )
        problems = _describe_mismatch(saved, expected_config)
        if problems:
            raise ValueError(f"load_checkpoint: {path.name} does not match the expected config: " + "; ".join(problems))
    try:
        config = GPTConfig.from_dict(saved)
    except (TypeError, ValueError) as err:
        raise ValueError(f"load_checkpoint: {path.name} holds an invalid config: {err}") from None
    model = TinyGPT(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["model"].items()}
    state["lm_head.weight"] = state.get("transformer.wte.weight")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"load_checkpoint: {path.name}'s weights do not fit its config: {str(err).splitlines()[0]}"
        ) from None
    model.to(map_location).eval()
    return Checkpoint(model=model, config=config, step=int(payload["step"]), extra=payload["extra"])


# ---------------------------------------------------------------------------------------------
# Fine-tuning with few labels
# ---------------------------------------------------------------------------------------------


@dataclass
class FinetuneResult:
    """How one fine-tuning run went."""

    method: str  # one of METHODS
    n_labels: int  # labelled training examples used
    seed: int
    test_accuracy: float  # on test examples with feeling words never seen in the labelled data
    test_seen_accuracy: float  # on new test examples with the seen feeling words
    train_accuracy: float
    trainable_params: int  # parameters the method changed
    total_params: int  # parameters of the whole model
    losses: list[float]  # training loss per step
    model: TinyGPT  # the fine-tuned model (a copy; the one passed in is untouched)


@torch.no_grad()
def classifier_accuracy(model: TinyGPT, dataset: ClassificationDataset, batch_size: int = 256) -> float:
    """Share of `dataset` that `model.classify` gets right."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(dataset), batch_size):
        ids, labels = dataset.ids[start : start + batch_size].to(device), dataset.labels[start : start + batch_size]
        correct += (model.classify(ids).argmax(-1).cpu() == labels).sum().item()
    model.train(was_training)
    return correct / len(dataset)


# Defaults per method, found by the measurements reported in data/README.md: the frozen
# feature extractors take a larger learning rate than full fine-tuning, which must not wander
# far from its pre-trained start with only a few examples.
FINETUNE_DEFAULTS = {
    "scratch": {"lr": 1e-3, "steps": 150},
    "linear_probe": {"lr": 1e-2, "steps": 150},
    "adapter": {"lr": 3e-3, "steps": 150},
    "lora": {"lr": 3e-3, "steps": 150},
    "full": {"lr": 3e-4, "steps": 150},
}


def finetune_classifier(
    model: TinyGPT | None,
    task: SentimentTask,
    method: str,
    *,
    n_labels: int = 32,
    seed: int = 0,
    tokenizer: WordTokenizer | None = None,
    config: GPTConfig | None = None,
    steps: int | None = None,
    lr: float | None = None,
    bottleneck: int = 16,
    rank: int = 4,
    alpha: float | None = None,
    weight_decay: float = 0.01,
    device: torch.device | str | None = None,
) -> FinetuneResult:
    """Train a classifier on the first `n_labels` labelled examples of `task` and test it.

    Methods (trainable parts in brackets):
        "scratch": a freshly initialised TinyGPT of the same shape [everything];
        "linear_probe": the pre-trained model frozen [classification head];
        "adapter": frozen, with bottleneck adapters in every block [adapters + head];
        "lora": frozen, with LoRA on the attention projections [LoRA factors + head];
        "full": the pre-trained model [everything].

    Training is full-batch AdamW on the labelled examples for `steps` steps; the classification
    head reads `model.features` (the last token for a causal model). The model passed in is
    copied, never changed.

    Args:
        model: the pre-trained TinyGPT (for "scratch" it only gives the shape; it may be None if
            `config` is given).
        task: a `SentimentTask` from `make_sentiment_task`.
        method: one of METHODS.
        n_labels: how many labelled examples to train on (the task's first n_labels, balanced if even).
        seed: seeds the new weights (head, adapters, LoRA, the scratch model) and nothing else.
        tokenizer: encodes the texts (None: `WordTokenizer.from_world()`); must match the model's vocabulary.
        config: the shape for "scratch" when `model` is None.
        steps, lr: training length and learning rate (None: `FINETUNE_DEFAULTS[method]`).
        bottleneck: adapter width ("adapter" only).
        rank, alpha: LoRA rank and scale ("lora" only).
        weight_decay: AdamW's decay.
        device: where to train (None: the model's device, or the CPU).

    Returns:
        A `FinetuneResult` with test accuracy on unseen and seen feeling words and parameter counts.
    """
    if method not in METHODS:
        raise ValueError(f"finetune_classifier: method must be one of {METHODS}, got {method!r}")
    if not isinstance(task, SentimentTask):
        raise TypeError(f"finetune_classifier: task must be a SentimentTask, got {type(task).__name__}")
    if model is None and (method != "scratch" or config is None):
        raise ValueError(
            f"finetune_classifier: method {method!r} needs a pre-trained model"
            + (" (or, for 'scratch', a config)" if method == "scratch" else "")
        )
    if model is not None and not isinstance(model, TinyGPT):
        raise TypeError(f"finetune_classifier: model must be a TinyGPT or None, got {type(model).__name__}")
    tokenizer = tokenizer if tokenizer is not None else WordTokenizer.from_world()
    base_config = config if model is None else model.config
    if base_config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"finetune_classifier: the model's vocab_size ({base_config.vocab_size}) differs from the "
            f"tokenizer's ({tokenizer.vocab_size}); use the tokenizer it was pre-trained with"
        )
    steps = FINETUNE_DEFAULTS[method]["steps"] if steps is None else steps
    lr = FINETUNE_DEFAULTS[method]["lr"] if lr is None else lr
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"finetune_classifier: steps must be a positive int, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"finetune_classifier: lr must be > 0, got {lr!r}")
    if device is None:
        device = next(model.parameters()).device if model is not None else torch.device("cpu")
    device = torch.device(device)

    texts, labels = task.train_subset(n_labels)
    n_classes = len(task.label_names)
    # Padded to the longest example of each set (shorter than block_size: far less work than padding to it).
    train = ClassificationDataset(texts, labels, tokenizer)
    test = ClassificationDataset(task.test_texts, task.test_labels, tokenizer)
    test_seen = ClassificationDataset(task.test_seen_texts, task.test_seen_labels, tokenizer)
    longest = max(d.ids.shape[1] for d in (train, test, test_seen))
    if longest > base_config.block_size:
        raise ValueError(
            f"finetune_classifier: an example has {longest} tokens, more than block_size ({base_config.block_size})"
        )

    torch.manual_seed(seed)  # every new weight below comes from this seed
    if method == "scratch":
        clf = TinyGPT(dataclasses.replace(base_config, n_classes=n_classes, dropout=0.0))
    else:
        clf = copy.deepcopy(model)
        clf.add_classifier(n_classes)
    clf.to(device)
    if method == "linear_probe":
        freeze(clf, [clf.classifier])
    elif method == "adapter":
        add_adapters(clf, bottleneck)
    elif method == "lora":
        add_lora(clf, rank, alpha)
    else:  # "scratch", "full"
        for p in clf.parameters():
            p.requires_grad_(True)
    trainable = [p for p in clf.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    ids, y = train.ids.to(device), train.labels.to(device)  # (N, T), (N,)
    losses = []
    if method == "linear_probe":
        # The body is frozen, so its features never change: compute them once (in eval mode, a
        # fixed feature extractor) and train only the head on them.
        clf.eval()
        with torch.no_grad():
            feats = clf.features(ids)  # (N, C)
        logits_fn = lambda: clf.classifier(feats)  # noqa: E731
    else:
        clf.train()
        logits_fn = lambda: clf.classify(ids)  # noqa: E731
    for _ in range(steps):
        loss = F.cross_entropy(logits_fn(), y)  # logits (N, n_classes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    clf.eval()
    return FinetuneResult(
        method=method,
        n_labels=n_labels,
        seed=seed,
        test_accuracy=classifier_accuracy(clf, test),
        test_seen_accuracy=classifier_accuracy(clf, test_seen),
        train_accuracy=classifier_accuracy(clf, train),
        trainable_params=count_parameters(clf),
        total_params=count_parameters(clf, False),
        losses=losses,
        model=clf,
    )


@torch.no_grad()
def nearest_words(model: TinyGPT, tokenizer, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The `k` tokens whose embeddings (rows of `wte`) have the highest cosine similarity to `word`'s.

    After pre-training, words used in the same contexts end up close: "joyful" next to "glad".

    Returns:
        [(token, cosine similarity), ...], most similar first, `word` itself and special tokens excluded.
    """
    if word not in tokenizer.token_to_id:
        raise ValueError(f"nearest_words: {word!r} is not in the tokenizer's vocabulary")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"nearest_words: k must be a positive int, got {k!r}")
    emb = F.normalize(model.transformer.wte.weight.detach().float(), dim=1)  # (V, C), unit rows
    i = tokenizer.token_to_id[word]
    sims = emb @ emb[i]  # (V,) cosine similarities
    sims[i] = -2.0  # not itself
    sims[: tokenizer.n_special] = -2.0  # nor <pad>, <unk>, ...
    top = sims.topk(min(k, len(sims) - tokenizer.n_special - 1))
    return [(tokenizer.vocab[j], round(v, 4)) for v, j in zip(top.values.tolist(), top.indices.tolist())]


# ---------------------------------------------------------------------------------------------
# The course's recipe: the model shipped in data/
# ---------------------------------------------------------------------------------------------


def world_config(tokenizer: WordTokenizer | None = None, **overrides) -> GPTConfig:
    """The TinyGPT shape used for the generated world (small enough to pre-train in a minute on a CPU)."""
    tokenizer = tokenizer if tokenizer is not None else WordTokenizer.from_world()
    settings = dict(
        vocab_size=tokenizer.vocab_size,
        block_size=32,
        n_layer=2,
        n_head=4,
        n_embd=64,
        dropout=0.0,
        bias=True,
        causal=True,
        pad_id=tokenizer.pad_id,
    )
    settings.update(overrides)
    return GPTConfig(**settings)


def pretrain_world_model(
    steps: int = 800,
    n_chars: int = 1_000_000,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 3e-3,
    config: GPTConfig | None = None,
    on_step=None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> tuple[TinyGPT, WordTokenizer, PretrainHistory]:
    """Generate the corpus, pre-train a causal TinyGPT on it, and return (model, tokenizer, history).

    The same arguments give the same weights on the same machine. 5% of the corpus (a separate
    seed) is held out for the evaluation loss.
    """
    from course_utils.repro import set_seed

    tokenizer = WordTokenizer.from_world()
    config = config if config is not None else world_config(tokenizer)
    train_tokens = tokenizer.encode(make_corpus(n_chars, seed=seed))
    eval_tokens = tokenizer.encode(make_corpus(max(n_chars // 20, 10 * config.block_size), seed=seed + 10_000))
    if config.causal:
        train_ds, eval_ds = (
            CausalLMDataset(train_tokens, config.block_size),
            CausalLMDataset(eval_tokens, config.block_size),
        )
    else:
        train_ds = MaskedLMDataset(train_tokens, config.block_size, tokenizer, seed=seed)
        eval_ds = MaskedLMDataset(eval_tokens, config.block_size, tokenizer, seed=seed + 1)
    set_seed(seed)
    model = TinyGPT(config)
    history = pretrain(
        model,
        train_ds,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        eval_dataset=eval_ds,
        eval_every=max(1, steps // 10),
        seed=seed,
        on_step=on_step,
        progress=progress,
        device=device,
    )
    model.eval()
    return model, tokenizer, history


def snapshot_name(step: int) -> str:
    """File name of the snapshot saved after `step` pre-training steps (see tools/make_checkpoints.py)."""
    return f"tinygpt_world_step{step:04d}.pt"


def list_snapshots(data_dir: str | Path | None = None) -> list[tuple[int, Path]]:
    """(step, path) of every shipped snapshot, in step order, the final checkpoint included."""
    data_dir = Path(data_dir if data_dir is not None else DATA_DIR)
    found = [(int(p.stem.rsplit("step", 1)[1]), p) for p in data_dir.glob("tinygpt_world_step*.pt")]
    final = data_dir / FINAL_CHECKPOINT
    if final.is_file():
        found.append((load_checkpoint(final).step, final))
    return sorted(found)


def load_pretrained(
    name: str = FINAL_CHECKPOINT, data_dir: str | Path | None = None
) -> tuple[TinyGPT, WordTokenizer, Checkpoint]:
    """The shipped pre-trained TinyGPT (or a snapshot, by file name) with its tokenizer.

    Returns:
        (model, tokenizer, checkpoint); `checkpoint.extra` holds the recipe and the loss history.
    """
    path = Path(data_dir if data_dir is not None else DATA_DIR) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"load_pretrained: no {name} in data/; run `make checkpoints` "
            "(python tools/make_checkpoints.py) to create it"
        )
    ckpt = load_checkpoint(path)
    tokenizer = tokenizer_from_dict(ckpt.extra["tokenizer"])
    return ckpt.model, tokenizer, ckpt
