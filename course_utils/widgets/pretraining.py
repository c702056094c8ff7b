"""Widgets for notebook 08, Pre-training: samples along training, word embeddings, a live loss curve.

`make_snapshot_explorer` slides over the TinyGPT snapshots shipped in data/ (made by
`python tools/make_checkpoints.py`) and shows what each one writes, at a chosen temperature,
beside the loss curve of the run. `make_embedding_explorer` projects the word embeddings of a
snapshot to 2-D and measures how tightly words of one kind (animals, places, feelings) group.
`compute_transfer_along_training` probes each snapshot on the two downstream tasks.
`LiveLossPlot` draws the loss of a training run while it runs. The pure `compute_...` functions
behind them are unit-tested without a kernel.
"""

from __future__ import annotations

import functools
import math
import textwrap

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checkpointing import load_checkpoint
from course_utils.models.gpt import TinyGPT
from course_utils.plotting import PALETTE, label, new_figure
from course_utils.pretraining import list_snapshots
from course_utils.repro import single_thread
from course_utils.text import (
    ANIMALS,
    FOODS,
    NEGATIVE_WORDS,
    PLACES,
    POSITIVE_WORDS,
    WordTokenizer,
    make_corpus,
    tokenizer_from_dict,
)
from course_utils.widgets.explorer import Explorer

# Prompts of equal length (4 tokens each), so one batched `generate` call continues all three.
SAMPLE_PROMPTS = ("tom went to the", "anna played with a", "after school, ben")
TEMPERATURES = (0.5, 0.8, 1.0, 1.5)
# Words of the world grouped by kind; the embedding plots colour them by group.
WORD_CATEGORIES = {
    "animals": ANIMALS,
    "places": PLACES,
    "foods": FOODS,
    "positive feelings": POSITIVE_WORDS,
    "negative feelings": NEGATIVE_WORDS,
}
CATEGORY_COLORS = dict(
    zip(
        WORD_CATEGORIES,
        (PALETTE["sky"], PALETTE["green"], PALETTE["purple"], PALETTE["orange"], PALETTE["blue"]),
    )
)
BLANK = "___"


# ---------------------------------------------------------------------------------------------
# Snapshots and what they write
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def load_snapshots(data_dir: str | None = None) -> tuple[list[int], list[TinyGPT], WordTokenizer, dict]:
    """The shipped snapshots, loaded once per session: (steps, models, tokenizer, loss history of the run).

    Args:
        data_dir: folder of the checkpoints (None: the course's data/).

    Returns:
        steps in increasing order, the TinyGPT of each (eval mode, CPU), the tokenizer, and the
        final checkpoint's history dict ("step", "loss", "eval_step", "eval_loss").
    """
    found = list_snapshots(data_dir)
    if len(found) < 2:
        raise FileNotFoundError(
            "load_snapshots: fewer than two checkpoints in data/; run `make checkpoints` "
            "(python tools/make_checkpoints.py) to create them"
        )
    checkpoints = [load_checkpoint(path) for _, path in found]
    tokenizer = tokenizer_from_dict(checkpoints[-1].extra["tokenizer"])
    return [c.step for c in checkpoints], [c.model for c in checkpoints], tokenizer, checkpoints[-1].extra["history"]


def _check_model(where: str, model) -> None:
    if not isinstance(model, TinyGPT):
        raise TypeError(f"{where}: model must be a TinyGPT, got {type(model).__name__}")


def _check_temperature(where: str, temperature) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"{where}: temperature must be a number > 0, got {temperature!r}")


def compute_samples(
    model: TinyGPT,
    tokenizer: WordTokenizer,
    temperature: float = 1.0,
    prompts: tuple[str, ...] = SAMPLE_PROMPTS,
    max_new_tokens: int = 18,
    seed: int = 0,
) -> list[str]:
    """Continue each prompt with `model`, deterministically for a given seed.

    Args:
        model: a causal TinyGPT.
        tokenizer: its tokenizer.
        temperature: > 0; divides the logits before the softmax (low: safe and repetitive, high: wild).
        prompts: texts of the same number of tokens (they are continued as one batch).
        max_new_tokens: words (tokens) to add to each prompt.
        seed: seeds the sampling; the same seed, model and temperature give the same text.

    Returns:
        One string per prompt, the prompt included.
    """
    _check_model("compute_samples", model)
    _check_temperature("compute_samples", temperature)
    if isinstance(prompts, str) or not prompts:
        raise TypeError("compute_samples: prompts must be a non-empty sequence of strings")
    encoded = [tokenizer.encode(p) for p in prompts]
    if len({len(e) for e in encoded}) != 1:
        raise ValueError(
            f"compute_samples: prompts must have the same number of tokens, got {[len(e) for e in encoded]}"
        )
    idx = torch.tensor(encoded, dtype=torch.long)  # (B, T)
    generator = torch.Generator().manual_seed(seed)
    with single_thread():
        out = model.generate(idx, max_new_tokens, temperature=float(temperature), generator=generator)  # (B, T + n)
    return [tokenizer.decode(row) for row in out]


def heldout_tokens(tokenizer: WordTokenizer, n_chars: int = 40_000, seed: int = 10_000) -> torch.Tensor:
    """Token ids of a corpus the shipped model never trained on (a different seed from its corpus)."""
    return torch.tensor(tokenizer.encode(make_corpus(n_chars, seed=seed)), dtype=torch.long)


@torch.no_grad()
def compute_heldout_loss(model: TinyGPT, tokens: torch.Tensor, n_windows: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) on the first `n_windows` non-overlapping windows of `tokens`.

    Args:
        model: a causal TinyGPT.
        tokens: 1-D token ids, at least `n_windows * block_size + 1` of them.
        n_windows: how many windows of `block_size` tokens to score.
    """
    _check_model("compute_heldout_loss", model)
    T = model.config.block_size
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 1 or len(tokens) < n_windows * T + 1:
        raise ValueError(f"compute_heldout_loss: tokens must be a 1-D tensor of at least {n_windows * T + 1} ids")
    starts = torch.arange(n_windows) * T  # (N,)
    rows = starts[:, None] + torch.arange(T + 1)  # (N, T + 1)
    chunk = tokens[rows]
    with single_thread():
        _, loss = model(chunk[:, :-1], chunk[:, 1:])
    return loss.item()


def make_snapshot_explorer(temperatures: tuple[float, ...] = TEMPERATURES, data_dir: str | None = None) -> Explorer:
    """Slide over the training steps of the shipped snapshots: samples get better as the loss falls.

    Every (step, temperature) sample is generated once when the widget is built (about a second),
    so moving a slider only redraws text.

    Args:
        temperatures: the choices of the temperature slider, each > 0.
        data_dir: folder of the checkpoints (None: the course's data/).
    """
    if not temperatures:
        raise ValueError("make_snapshot_explorer: temperatures must not be empty")
    for t in temperatures:
        _check_temperature("make_snapshot_explorer", t)
    steps, models, tokenizer, history = load_snapshots(data_dir)
    tokens = heldout_tokens(tokenizer)
    losses = {s: compute_heldout_loss(m, tokens) for s, m in zip(steps, models)}
    samples = {(s, t): compute_samples(m, tokenizer, t) for s, m in zip(steps, models) for t in temperatures}

    fig, (ax_loss, ax_text) = new_figure(2, width=11.0, height=3.9)
    fig.get_layout_engine().set(w_pad=0.1)
    train_steps = np.array(history["step"])
    train_loss = np.array(history["loss"])
    window = 20  # a moving average: single batches are noisy
    smooth = np.convolve(train_loss, np.ones(window) / window, mode="valid")
    ax_loss.plot(train_steps, train_loss, color=PALETTE["sky"], lw=0.8, alpha=0.5, label="training batch")
    ax_loss.plot(train_steps[window - 1 :], smooth, color=PALETTE["blue"], label=f"training, mean of {window}")
    ax_loss.plot(
        steps, [losses[s] for s in steps], "o--", color=PALETTE["orange"], lw=1.2, label="held-out (snapshots)"
    )
    (marker,) = ax_loss.plot([], [], "o", ms=12, mfc="none", mec=PALETTE["vermillion"], mew=2.5)
    cursor = ax_loss.axvline(0, color=PALETTE["vermillion"], lw=1.2)
    ax_loss.set_ylim(0.0, 6.0)
    ax_loss.set_yticks([0, 1, 2, 3, 4, 5, 6])
    ax_loss.set_xticks(steps)
    ax_loss.axhline(math.log(tokenizer.vocab_size), color="0.5", ls=":", lw=1)
    uniform_text = ax_loss.text(
        steps[-1], math.log(tokenizer.vocab_size) * 1.04, "uniform guess", ha="right", fontsize=9
    )
    legend = ax_loss.legend(frameon=False, fontsize=9, loc="center right")
    label(ax_loss, "pre-training step", "loss (nats per token)", "next-token loss")

    ax_text.set_axis_off()
    ax_text.set_xlim(0, 1)
    ax_text.set_ylim(0, 1)
    title = ax_text.text(0.0, 1.0, "", fontsize=12, weight="bold", va="top")
    boxes = [
        ax_text.text(
            0.0,
            0.86 - 0.3 * i,
            "",
            fontsize=10,
            va="top",
            family="monospace",
            bbox=dict(boxstyle="round,pad=0.4", fc="#f4f4f4", ec=PALETTE["blue"], lw=1),
        )
        for i in range(len(SAMPLE_PROMPTS))
    ]

    def draw(step, temperature):
        loss = losses[step]
        marker.set_data([step], [loss])
        cursor.set_xdata([step, step])
        title.set_text(f"step {step}, temperature {temperature}: held-out loss {loss:.2f}")
        for box, text in zip(boxes, samples[(step, temperature)]):
            box.set_text(textwrap.fill(text.replace("\n", " / "), width=52, max_lines=4, placeholder=" ..."))
        return (
            f"After <b>{step}</b> steps the held-out loss is <b>{loss:.2f}</b> nats per token, a perplexity of "
            f"<b>{math.exp(loss):.1f}</b>: the model is as unsure as a fair choice among that many words "
            f"(out of {tokenizer.vocab_size}). A slash marks the end of a story."
        )

    controls = {
        "step": widgets.SelectionSlider(options=steps, value=steps[0], description="step"),
        "temperature": widgets.SelectionSlider(
            options=list(temperatures), value=1.0 if 1.0 in temperatures else temperatures[0], description="temperature"
        ),
    }
    # dynamic: what draw changes, and the legend and label the cursor passes under at the last steps
    dynamic = [marker, cursor, uniform_text, legend, title, *boxes]
    # the samples' text is slow to draw (over 100 ms a picture): every (step, temperature) is drawn once, now
    return Explorer("pretraining-snapshots", controls, fig, draw, dynamic=dynamic, keep_pictures=True)


# ---------------------------------------------------------------------------------------------
# Word embeddings
# ---------------------------------------------------------------------------------------------


def category_similarity(vectors: torch.Tensor, labels: list[str]) -> tuple[float, float]:
    """Mean cosine similarity of pairs in the same category and of pairs in different categories.

    Args:
        vectors: (N, C) one vector per word.
        labels: N category names.

    Returns:
        (within, between): the mean over distinct same-category pairs, and over cross-category pairs.
    """
    if not isinstance(vectors, torch.Tensor) or vectors.dim() != 2:
        raise TypeError("category_similarity: vectors must be a 2-D tensor (N, C)")
    if len(labels) != vectors.shape[0]:
        raise ValueError(f"category_similarity: labels must have {vectors.shape[0]} entries, got {len(labels)}")
    unit = F.normalize(vectors.double(), dim=1)
    sim = unit @ unit.T  # (N, N) cosine similarities
    codes = {name: i for i, name in enumerate(dict.fromkeys(labels))}
    lab = torch.tensor([codes[name] for name in labels])
    same = lab[:, None] == lab[None, :]  # (N, N)
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    if not bool((same & off_diagonal).any()) or not bool((~same).any()):
        raise ValueError("category_similarity: need at least two categories and one with two or more words")
    return sim[same & off_diagonal].mean().item(), sim[~same].mean().item()


def compute_embedding_projection(
    model: TinyGPT, tokenizer: WordTokenizer, categories: dict[str, tuple[str, ...]] | None = None
) -> dict:
    """The token embeddings of the words in `categories`, projected onto their first two principal components.

    PCA by SVD of the centred vectors; each component's sign is fixed (its largest entry positive)
    so the picture does not flip between runs.

    Args:
        model: a TinyGPT (its `transformer.wte` rows are the word vectors).
        tokenizer: maps the words to rows.
        categories: name -> words (None: `WORD_CATEGORIES`); every word must be in the vocabulary.

    Returns:
        {"words": N words, "labels": N category names, "xy": (N, 2) tensor, "explained": share of
         the variance the two components keep, "within": mean same-category cosine similarity,
         "between": mean cross-category cosine similarity (both in the full C dimensions),
         "opposite_feelings": mean cosine similarity of a positive and a negative feeling word
         (NaN unless both "positive feelings" and "negative feelings" are categories)}
    """
    _check_model("compute_embedding_projection", model)
    categories = WORD_CATEGORIES if categories is None else categories
    words = [w for ws in categories.values() for w in ws]
    labels = [name for name, ws in categories.items() for _ in ws]
    unknown = [w for w in words if w not in tokenizer.token_to_id]
    if unknown:
        raise ValueError(f"compute_embedding_projection: words not in the vocabulary: {unknown}")
    ids = torch.tensor([tokenizer.token_to_id[w] for w in words])
    vectors = model.transformer.wte.weight.detach()[ids].double()  # (N, C)
    centred = vectors - vectors.mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # rows of vh: principal directions
    components = vh[:2]  # (2, C)
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))  # (2, 1)
    xy = centred @ (components * signs).T  # (N, 2)
    within, between = category_similarity(vectors, labels)
    opposite = float("nan")
    if "positive feelings" in categories and "negative feelings" in categories:
        keep = [i for i, lab in enumerate(labels) if lab.endswith("feelings")]
        _, opposite = category_similarity(vectors[keep], [labels[i] for i in keep])
    return {
        "words": words,
        "labels": labels,
        "xy": xy.float(),
        "explained": (s[:2] ** 2).sum().item() / (s**2).sum().item(),
        "within": within,
        "between": between,
        "opposite_feelings": opposite,
    }


def plot_embedding_projection(ax, projection: dict, annotate: bool = True) -> list:
    """Scatter a `compute_embedding_projection` result on `ax`, coloured by category; returns the artists."""
    artists = []
    labels = projection["labels"]
    xy = projection["xy"].numpy()
    for name in dict.fromkeys(labels):
        keep = [i for i, lab in enumerate(labels) if lab == name]
        artists.append(ax.scatter(xy[keep, 0], xy[keep, 1], s=28, color=CATEGORY_COLORS.get(name), label=name))
    if annotate:
        for (x, y), word in zip(xy, projection["words"]):
            artists.append(ax.annotate(word, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=8))
    return artists


def make_embedding_explorer(data_dir: str | None = None) -> Explorer:
    """Word embeddings of each shipped snapshot in 2-D: the groups appear as pre-training goes on.

    Args:
        data_dir: folder of the checkpoints (None: the course's data/).
    """
    steps, models, tokenizer, _ = load_snapshots(data_dir)
    projections = {s: compute_embedding_projection(m, tokenizer) for s, m in zip(steps, models)}
    fig, (ax_map, ax_bar) = new_figure(2, width=10.5, height=4.4)
    fig.get_layout_engine().set(w_pad=0.1)
    first = projections[steps[0]]
    labels = first["labels"]
    groups = {name: [i for i, lab in enumerate(labels) if lab == name] for name in dict.fromkeys(labels)}
    scatters = {
        name: ax_map.scatter(np.zeros(len(idx)), np.zeros(len(idx)), s=28, color=CATEGORY_COLORS.get(name), label=name)
        for name, idx in groups.items()
    }
    ax_map.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    # limits that hold every snapshot's points, fixed here: moving the slider then only moves points, and
    # the growing spread of the vectors along training shows (the axes do not zoom in on the first ones)
    every_xy = np.concatenate([p["xy"].numpy() for p in projections.values()])
    low, high = every_xy.min(0), every_xy.max(0)
    pad = 0.08 * (high - low)
    ax_map.set_xlim(low[0] - pad[0], high[0] + pad[0])
    ax_map.set_ylim(low[1] - pad[1], high[1] + pad[1])
    ax_map.set_title("", fontsize=11)  # draw sets the text
    label(ax_map, "principal component 1", "principal component 2")

    bar_names = ("same group", "different\ngroups", "positive vs\nnegative feelings")
    bars = ax_bar.bar(bar_names, [0, 0, 0], color=[PALETTE["green"], "0.6", PALETTE["vermillion"]], width=0.6)
    values = [ax_bar.text(i, 0, "", ha="center", va="bottom") for i in range(len(bar_names))]
    ax_bar.set_ylim(-0.1, 1.1)
    zero_line = ax_bar.axhline(0, color="0.3", lw=0.8)
    label(ax_bar, "pairs of words", "mean cosine similarity", "how alike are the vectors?")

    def draw(step):
        p = projections[step]
        xy = p["xy"].numpy()
        for name, idx in groups.items():
            scatters[name].set_offsets(xy[idx])
        ax_map.title.set_text(f"step {step}: 2 components keep {p['explained']:.0%} of the variance")
        for bar, text, v in zip(bars, values, (p["within"], p["between"], p["opposite_feelings"])):
            bar.set_height(v)
            text.set_position((text.get_position()[0], max(v, 0) + 0.02))
            text.set_text(f"{v:.2f}")
        return (
            f"Step {step}: words of the same group have mean cosine similarity <b>{p['within']:.2f}</b>, "
            f"words of different groups <b>{p['between']:.2f}</b>, a positive and a negative feeling word "
            f"<b>{p['opposite_feelings']:.2f}</b>."
        )

    controls = {"step": widgets.SelectionSlider(options=steps, value=steps[-1], description="step")}
    # dynamic: what draw changes, and the zero line, which stays on top of the bars' bases. One picture per
    # snapshot, drawn now and kept
    dynamic = [*scatters.values(), ax_map.title, *bars, zero_line, *values]
    return Explorer("pretraining-embeddings", controls, fig, draw, dynamic=dynamic, keep_pictures=True)


# ---------------------------------------------------------------------------------------------
# Transfer along pre-training: a linear probe on each snapshot, beside the static baseline
# ---------------------------------------------------------------------------------------------

PROBE_TASKS = ("sentiment", "coherence")
PROBE_LABELS = {"sentiment": 32, "coherence": 128}  # labelled examples per task (coherence needs more)
PROBE_C = (0.01, 0.1, 1.0, 10.0)  # inverse regularisation strengths tried; chosen on the validation split


def _probe_task(name: str, seed: int):
    from course_utils.text import make_coherence_task, make_sentiment_task

    return (make_sentiment_task if name == "sentiment" else make_coherence_task)(seed=seed)


def _logistic_regression(x: torch.Tensor, y: torch.Tensor, C: float, iterations: int = 50) -> torch.Tensor:
    """Weights (C_in + 1,) of scikit-learn's L2 logistic regression (intercept not penalised), by Newton's method.

    Minimises 0.5 |w|^2 + C * sum_i log(1 + exp(z_i)) - y_i z_i with z = x w + b; the objective is
    strictly convex, so Newton's method converges in a few steps (scikit-learn's lbfgs finds the
    same optimum, but is far slower on a busy machine).
    """
    xb = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)  # (N, C_in + 1): a column for the intercept
    penalty = torch.eye(xb.shape[1], dtype=x.dtype)
    penalty[-1, -1] = 0.0
    w = torch.zeros(xb.shape[1], dtype=x.dtype)
    for _ in range(iterations):
        p = torch.sigmoid(xb @ w)  # (N,)
        grad = penalty @ w + C * xb.T @ (p - y)
        hess = penalty + C * (xb.T * (p * (1 - p))) @ xb
        step = torch.linalg.solve(hess, grad)
        w = w - step
        if step.abs().max() < 1e-8:
            break
    return w


def _fit_on_validation(train, val, test) -> float:
    """Test accuracy of a standardised logistic regression whose C has the best validation accuracy."""
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = [(x.double(), y.double()) for x, y in (train, val, test)]
    mean, std = x_tr.mean(0), x_tr.std(0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))  # as StandardScaler: a constant feature stays as it is

    def accuracy(w, x, y):
        return ((((x - mean) / std) @ w[:-1] + w[-1] > 0).double() == y).double().mean().item()

    fits = [_logistic_regression((x_tr - mean) / std, y_tr, C) for C in PROBE_C]
    best = max(fits, key=lambda w: accuracy(w, x_va, y_va))  # the first best on ties (the smallest C)
    return accuracy(best, x_te, y_te)


@torch.no_grad()
def compute_transfer_along_training(
    models: list[TinyGPT],
    tokenizer: WordTokenizer,
    seeds: tuple[int, ...] = (0, 1, 2),
    n_labels: dict[str, int] | None = None,
) -> dict:
    """Downstream test accuracy of each model (e.g. each pre-training snapshot) on both tasks.

    Two readers of the same frozen model, each a standardised logistic regression (the objective of
    scikit-learn's, as in `course_utils.baselines.fit_static`) whose regularisation C is chosen on
    the task's validation split (`PROBE_C`):

    - "probe": the model's features (`model.features`: the last token's final hidden state, which
      has read the whole text);
    - "static": the mean of the text's token embeddings (rows of `wte`), the bag of embeddings of
      `course_utils.baselines`, which ignores word order and context.

    Args:
        models: TinyGPTs with the same tokenizer.
        tokenizer: their tokenizer.
        seeds: task seeds (which labelled, validation and test examples).
        n_labels: labelled examples per task (None: `PROBE_LABELS`).

    Returns:
        {task: {"probe": (n_models, n_seeds) array, "static": (n_models, n_seeds) array}} of test
        accuracies, for task in `PROBE_TASKS` (sentiment: the test stories with unseen feeling words).
    """
    from course_utils.text import ClassificationDataset

    if not models:
        raise ValueError("compute_transfer_along_training: models must not be empty")
    for m in models:
        _check_model("compute_transfer_along_training", m)
    if isinstance(seeds, int) or not seeds:
        raise ValueError(f"compute_transfer_along_training: seeds must be a non-empty tuple of ints, got {seeds!r}")
    n_labels = dict(PROBE_LABELS if n_labels is None else n_labels)
    out = {name: {"probe": np.zeros((len(models), len(seeds))), "static": np.zeros((len(models), len(seeds)))}
           for name in PROBE_TASKS}  # fmt: skip
    with single_thread():
        for j, seed in enumerate(seeds):
            for name in PROBE_TASKS:
                task = _probe_task(name, seed)
                texts, labels = task.train_subset(n_labels[name])
                splits = [(texts, labels), (task.val_texts, task.val_labels), (task.test_texts, task.test_labels)]
                data = [ClassificationDataset(t, y, tokenizer) for t, y in splits]  # padded ids (N, T), labels
                for i, model in enumerate(models):
                    model.eval()
                    wte = model.transformer.wte.weight.float()  # (V, C)
                    probe, static = [], []
                    for d in data:
                        real = (d.ids != tokenizer.pad_id).float()[..., None]  # (N, T, 1)
                        bag = (wte[d.ids] * real).sum(1) / real.sum(1)  # (N, C): mean of the real tokens' rows
                        probe.append((model.features(d.ids), d.labels))
                        static.append((bag, d.labels))
                    out[name]["probe"][i, j] = _fit_on_validation(*probe)
                    out[name]["static"][i, j] = _fit_on_validation(*static)
    return out


def plot_transfer_along_training(ax_emb, ax_acc, steps: list[int], similarities: dict, transfer: dict) -> None:
    """Embedding similarities (left) and downstream accuracy (right) against pre-training step.

    Args:
        ax_emb, ax_acc: the two axes.
        steps: the snapshots' steps.
        similarities: {"same group": [...], "different groups": [...], "positive vs negative": [...]} per step.
        transfer: `compute_transfer_along_training`'s result for the same steps.
    """
    colours = {"same group": PALETTE["green"], "different groups": "0.5", "positive vs negative": PALETTE["vermillion"]}
    for name, values in similarities.items():
        ax_emb.plot(steps, values, "o-", color=colours.get(name), label=name)
    ax_emb.set_ylim(-0.1, 1.05)
    ax_emb.legend(frameon=False, fontsize=9, loc="lower right")
    label(ax_emb, "pre-training step", "mean cosine similarity", "word vectors")
    styles = {
        ("sentiment", "probe"): (PALETTE["orange"], "o-"),
        ("sentiment", "static"): (PALETTE["orange"], "s:"),
        ("coherence", "probe"): (PALETTE["blue"], "o-"),
        ("coherence", "static"): (PALETTE["blue"], "s:"),
    }
    for (task, reader), (colour, style) in styles.items():
        acc = transfer[task][reader]  # (n_steps, n_seeds)
        ax_acc.fill_between(steps, acc.min(1), acc.max(1), color=colour, alpha=0.15, lw=0)
        name = "probe (features)" if reader == "probe" else "static (bag of embeddings)"
        ax_acc.plot(steps, acc.mean(1), style, color=colour, label=f"{task}: {name}")
    ax_acc.axhline(0.5, color="0.5", lw=0.8, ls="--")
    ax_acc.set_ylim(0.4, 1.03)
    ax_acc.legend(frameon=False, fontsize=8, loc="upper left")
    label(ax_acc, "pre-training step", "test accuracy (mean, band: min-max)", "downstream, frozen model")
    for ax in (ax_emb, ax_acc):
        ax.set_xticks(steps)


# ---------------------------------------------------------------------------------------------
# Filling a blank with a causal model
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def sequence_log_prob(model: TinyGPT, tokenizer: WordTokenizer, text: str) -> float:
    """log p(text) under a causal model: the sum of log p(token | the tokens before it), after the first token."""
    _check_model("sequence_log_prob", model)
    ids = torch.tensor([tokenizer.encode(text)], dtype=torch.long)  # (1, T)
    if ids.shape[1] < 2 or ids.shape[1] > model.config.block_size:
        raise ValueError(f"sequence_log_prob: text must have 2 to {model.config.block_size} tokens, got {ids.shape[1]}")
    with single_thread():
        logits, _ = model(ids[:, :-1])  # (1, T - 1, V)
    log_probs = logits.log_softmax(-1).gather(-1, ids[:, 1:, None])  # (1, T - 1, 1)
    return log_probs.sum().item()


def compute_blank_scores(
    model: TinyGPT, tokenizer: WordTokenizer, sentence: str, candidates: tuple[str, ...]
) -> list[tuple[str, float]]:
    """Rank words for the blank (`___`) in `sentence` by how likely the whole filled-in sentence is.

    A causal model reads left to right, so it cannot look at the words after a blank directly;
    scoring each complete sentence lets those words count too. The scores are turned into
    probabilities over the candidates (a softmax of the sentence log-probabilities).

    Args:
        model: a causal TinyGPT.
        tokenizer: its tokenizer.
        sentence: text containing `___` exactly once.
        candidates: words to try in the blank.

    Returns:
        (word, probability among the candidates), most likely first.
    """
    if not isinstance(sentence, str) or sentence.count(BLANK) != 1:
        raise ValueError(f"compute_blank_scores: sentence must contain {BLANK!r} exactly once, got {sentence!r}")
    if isinstance(candidates, str) or not candidates:
        raise TypeError("compute_blank_scores: candidates must be a non-empty sequence of words")
    scores = torch.tensor([sequence_log_prob(model, tokenizer, sentence.replace(BLANK, w)) for w in candidates])
    probs = scores.softmax(0)
    order = probs.argsort(descending=True).tolist()
    return [(candidates[i], probs[i].item()) for i in order]


@torch.no_grad()
def compute_next_word(model: TinyGPT, tokenizer: WordTokenizer, prompt: str, top_k: int = 8) -> list[tuple[str, float]]:
    """The `top_k` most likely next words after `prompt`, with their probabilities."""
    _check_model("compute_next_word", model)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"compute_next_word: top_k must be a positive int, got {top_k!r}")
    ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long)[:, -model.config.block_size :]  # (1, T)
    if ids.shape[1] == 0:
        raise ValueError("compute_next_word: prompt has no tokens")
    with single_thread():
        logits, _ = model(ids)
    probs = logits[0, -1].softmax(-1)  # (V,)
    top = probs.topk(min(top_k, len(probs)))
    return [(tokenizer.vocab[i], p) for i, p in zip(top.indices.tolist(), top.values.tolist())]


# ---------------------------------------------------------------------------------------------
# A loss curve drawn while training runs
# ---------------------------------------------------------------------------------------------


class LiveLossPlot:
    """The training loop's `on_step` callback (`pretrain`, `train_lm`): redraws the loss curves every few steps."""

    def __init__(self, steps: int, every: int = 25, title: str = "pre-training, live", ylim: tuple = (1.0, 6.0)):
        """
        Args:
            steps: the run's total steps (fixes the x axis).
            every: redraw after this many steps (a redraw costs tens of milliseconds).
            title: the plot's title.
            ylim: the loss axis range.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"LiveLossPlot: steps must be a positive int, got {steps!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"LiveLossPlot: every must be a positive int, got {every!r}")
        self.steps = steps
        self.every = every
        self.fig, self.ax = new_figure(width=6.0, height=3.0)
        (self.line,) = self.ax.plot([], [], color=PALETTE["blue"], lw=1.2, label="training batch loss")
        (self.eval_line,) = self.ax.plot([], [], "o-", color=PALETTE["orange"], label="held-out loss")
        self.ax.set_xlim(0, steps)
        self.ax.set_ylim(*ylim)
        self.ax.legend(frameon=False, loc="upper right")
        label(self.ax, "step", "loss (nats per token)", title)
        self.handle = None

    def show(self) -> None:
        """Display the (empty) figure; later redraws replace it in place."""
        from IPython.display import display

        self.handle = display(self.fig, display_id=True)

    def __call__(self, step: int, model, history) -> None:
        if step % self.every and step != self.steps:
            return
        self.line.set_data(history.step, history.loss)
        self.eval_line.set_data(history.eval_step, history.eval_loss)
        if self.handle is not None:
            self.handle.update(self.fig)
