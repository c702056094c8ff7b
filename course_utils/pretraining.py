"""Pre-training for notebook 08, and the model shipped in data/.

- `pretrain(model, dataset, ...)`: keyword arguments for notebook 08's live run over the course's
  one loop, `course_utils.lm_training.train_lm` (AdamW, warm-up and cosine, clipping, evaluation,
  a NaN stop, checkpoints and resume, a tqdm bar, one `on_step` callback).
- `world_config`, `pretrain_world_model`, `load_pretrained`, `list_snapshots`: the model shipped in
  data/, whose recipe is `PretrainConfig()`'s defaults (made by `python tools/make_checkpoints.py`).
- `nearest_words`: the embedding neighbours of a word.

Checkpoints live in `course_utils.checkpointing`, fine-tuning in `course_utils.finetuning`; the
names notebooks use from here (`finetune_classifier`, `load_checkpoint`, ...) are re-exported.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from course_utils import validate as v
from course_utils.checkpointing import Checkpoint, load_checkpoint, save_checkpoint
from course_utils.finetuning import METHODS, FinetuneResult, finetune_classifier
from course_utils.lm_training import (
    PretrainConfig,
    PretrainHistory,
    evaluate_lm,
    gpt_config,
    lr_at,
    make_optimizer,
    pretrain_from_config,
    train_lm,
)
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.paths import DATA_DIR
from course_utils.text import CausalLMDataset, MaskedLMDataset, WordTokenizer, tokenizer_from_dict

__all__ = [  # re-exported for the notebooks that import them from here
    "Checkpoint", "FinetuneResult", "METHODS", "PretrainHistory", "evaluate_lm", "finetune_classifier",
    "load_checkpoint", "lr_at", "make_optimizer", "save_checkpoint",
]  # fmt: skip

FINAL_CHECKPOINT = "tinygpt_world.pt"  # the shipped pre-trained model, in data/
SNAPSHOT_STEPS = (0, 100, 200, 300, 400, 600)  # snapshots shipped along the way (float16), for notebook 08


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
    on_step=None,
    log_every: int = 10,
    out_dir: str | Path | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    progress: bool = True,
) -> PretrainHistory:
    """Self-supervised pre-training of `model` on random windows of `dataset` (`train_lm` with these settings).

    Args:
        model: a TinyGPT, causal for a CausalLMDataset, bidirectional (causal=False) for a MaskedLMDataset.
        dataset: a CausalLMDataset or MaskedLMDataset (anything with `get_batch(indices)` and `len`).
        steps: optimizer steps.
        batch_size: windows per step (sampled uniformly with replacement, from `seed`).
        lr: peak learning rate; `schedule` "cosine" decays it to `min_lr_ratio * lr` after `warmup`
            linear warm-up steps, "constant" keeps it.
        weight_decay: AdamW's decoupled decay, applied to matrices only (not biases, LayerNorms).
        grad_clip: clip the gradients' global norm to this (None: no clipping).
        eval_dataset: held-out data, evaluated at step 0, every `eval_every` steps and at the end.
        seed: seeds the batch order; call `set_seed` before building the model for its init.
        device: where to train (None: where the model is).
        amp: bf16 autocast where supported (CUDA).
        on_step: `on_step(step, model, history)` at step 0 and every `log_every` steps (and at
            each evaluation and the end), e.g. a `LiveLossPlot`.
        out_dir, checkpoint_every, resume: write DIR/checkpoint.pt every `checkpoint_every` steps;
            `resume=True` continues from it as if never interrupted.
        progress: show a tqdm bar with the loss.

    Returns:
        The run's `PretrainHistory`.

    Raises:
        FloatingPointError: the loss became NaN or infinite (usually a learning rate too high).
    """
    where = "pretrain"
    v.instance_of(where, "model", model, TinyGPT)
    if isinstance(dataset, MaskedLMDataset) and model.config.causal:
        raise ValueError(f"{where}: a MaskedLMDataset needs a bidirectional model (GPTConfig(causal=False))")
    if isinstance(dataset, CausalLMDataset) and not model.config.causal:
        raise ValueError(
            f"{where}: a CausalLMDataset needs a causal model (GPTConfig(causal=True)); "
            "a bidirectional one would see the token it must predict"
        )
    if resume and out_dir is None:
        raise ValueError(f"{where}: resume=True needs the out_dir that holds the checkpoint")
    v.positive_int(where, "steps", steps)  # PretrainConfig checks the others, by the same names
    device = torch.device(device) if device is not None else next(model.parameters()).device
    config = PretrainConfig(
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        schedule=schedule,
        min_lr_ratio=min_lr_ratio,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        seed=seed,
        eval_every=eval_every,
        eval_batches=eval_batches,
        log_every=log_every,
        checkpoint_every=checkpoint_every,
        device=str(device),
        amp=amp,
    )
    return train_lm(
        model, dataset, eval_dataset, config, out_dir=out_dir, resume=resume, on_step=on_step, progress=progress
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
    v.positive_int("nearest_words", "k", k)
    emb = F.normalize(model.transformer.wte.weight.detach().float(), dim=1)  # (V, C), unit rows
    i = tokenizer.token_to_id[word]
    sims = emb @ emb[i]  # (V,) cosine similarities
    sims[i] = -2.0  # not itself
    sims[: tokenizer.n_special] = -2.0  # nor <pad>, <unk>, ...
    top = sims.topk(min(k, len(sims) - tokenizer.n_special - 1))
    return [(tokenizer.vocab[j], round(s, 4)) for s, j in zip(top.values.tolist(), top.indices.tolist())]


# ---------------------------------------------------------------------------------------------
# The model shipped in data/: its recipe is PretrainConfig()'s defaults
# ---------------------------------------------------------------------------------------------


def world_config(tokenizer: WordTokenizer | None = None, **overrides) -> GPTConfig:
    """The TinyGPT shape of the shipped model (small enough to pre-train in a minute on a CPU), with `overrides`."""
    tokenizer = tokenizer if tokenizer is not None else WordTokenizer.from_world()
    return dataclasses.replace(gpt_config(PretrainConfig(), tokenizer), **overrides)


def pretrain_world_model(
    steps: int | None = None,
    n_chars: int | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    *,
    on_step=None,
    progress: bool = True,
) -> tuple[TinyGPT, WordTokenizer, PretrainHistory]:
    """Generate the world corpus, pre-train a causal TinyGPT on it, and return (model, tokenizer, history).

    The recipe is `PretrainConfig()`, the shipped model's (800 steps); the arguments that are not
    None change it. `on_step` is the loop's callback (e.g. to keep snapshots). The same recipe
    gives the same weights on the same machine; 5% of the corpus size (another seed) is held out
    for the evaluation loss.
    """
    changes = dict(max_steps=steps, n_chars=n_chars, seed=seed, batch_size=batch_size, lr=lr)
    recipe = dataclasses.replace(PretrainConfig(), **{k: x for k, x in changes.items() if x is not None})
    run = pretrain_from_config(recipe, on_step=on_step, progress=progress)
    return run.model, run.tokenizer, run.history


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
    return ckpt.model, tokenizer_from_dict(ckpt.extra["tokenizer"]), ckpt
