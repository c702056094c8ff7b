"""Widgets for notebook 07, Attention Mechanism: an illustration, two toy models, and a pre-trained model's own attention.

- `make_attention_explorer`: an illustration, four hand-made (not trained) attention heads over the
  sentence "the cat sat on the mat because it was tired": pick a head, a query word, a temperature,
  and whether the mask is causal.
- `make_reversal_explorer`: a one-layer model's attention while it learns to reverse digit sequences,
  attention by position (see `course_utils.models.toy_attention`).
- `make_recall_explorer`: a one-layer model's attention while it learns associative recall, attention
  by content: the question finds the pair that holds its key.
- `make_gpt_attention_explorer`: the shipped pre-trained TinyGPT's weights on corpus text, every layer,
  head and query; with `pronoun_queries` and `compute_name_attention`, which measure how much each head
  puts on the name from the position before a pronoun.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.patches import Rectangle

from course_utils.layers.attention import scaled_dot_product_attention
from course_utils.models.toy_attention import (
    KEY_LETTERS,
    RecallResult,
    ReversalResult,
    train_recall_model,
    train_reversal_model,
)
from course_utils.plotting import PALETTE, SEQUENTIAL_CMAP, BarCollection, label, new_figure
from course_utils.repro import single_thread
from course_utils.text import PEOPLE, make_corpus
from course_utils.widgets.explorer import Explorer

SENTENCE = "the cat sat on the mat because it was tired".split()
# Part of speech of each word above, and which words are animate (can be tired).
WORD_TYPES = ["det", "noun", "verb", "prep", "det", "noun", "conj", "pron", "verb", "adj"]
ANIMATE = {"cat"}
_TYPE_NAMES = sorted(set(WORD_TYPES))

# How strongly a matching query and key attract each other: a match adds this much to the
# scaled score q.k / sqrt(d) at temperature 1 (3 gives about 70% of the weight to one match among ten words).
MATCH_STRENGTH = 3.0

HEADS = {
    "it → who?": "the pronoun 'it' asks for an animate noun (only 'cat' is one; 'mat' is a noun, half a match); "
    "every other word looks at itself",
    "previous word": "each word asks for the position just before its own; every key advertises its position",
    "same word type": "each word asks for its own part of speech (det, noun, verb, ...), and keys advertise theirs",
    "all → nouns": "every word asks 'where are the nouns?': the same query everywhere, so whole columns light up",
}


def _features() -> dict[str, torch.Tensor]:
    """Interpretable one-hot features of the sentence: position, word type, animacy; each (L, dim)."""
    n = len(SENTENCE)
    types = torch.zeros(n, len(_TYPE_NAMES))
    types[torch.arange(n), torch.tensor([_TYPE_NAMES.index(t) for t in WORD_TYPES])] = 1.0
    animate = torch.tensor([[1.0 if w in ANIMATE else 0.0] for w in SENTENCE])
    return {"position": torch.eye(n), "type": types, "animate": animate}


def sentence_queries_keys(head: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-made queries and keys of one head over `SENTENCE`.

    A key advertises features of its word; a query says which features its word looks for. A
    query and key that share a feature have dot product 1 per shared feature, scaled so that at
    temperature 1 each shared feature adds `MATCH_STRENGTH` to the scaled score.

    Args:
        head: a name from `HEADS`.

    Returns:
        `(q, k)`, each of shape (L, d) with L = len(SENTENCE).
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {list(HEADS)}, got {head!r}")
    f = _features()
    n = len(SENTENCE)
    noun = f["type"][:, [_TYPE_NAMES.index("noun")]]  # (L, 1)
    if head == "previous word":
        k = f["position"]
        q = torch.roll(f["position"], shifts=-1, dims=1)  # row i has its 1 in column i - 1 ...
        q[0] = f["position"][0]  # ... and the first word, with nothing before it, looks at itself
    elif head == "same word type":
        q = k = f["type"]
    elif head == "all → nouns":
        k = noun
        q = torch.ones(n, 1)
    else:  # "it → who?": keys advertise (animate, noun, position); 'it' asks for (animate, noun)
        k = torch.cat([f["animate"], noun, f["position"]], dim=1)  # (L, 2 + L)
        is_pronoun = torch.tensor([[1.0 if t == "pron" else 0.0] for t in WORD_TYPES])
        q = torch.cat([is_pronoun, is_pronoun, f["position"] * (1 - is_pronoun)], dim=1)
    d = q.shape[1]
    # q.k / sqrt(d) should be MATCH_STRENGTH per shared feature: split that factor between q and k.
    gain = math.sqrt(MATCH_STRENGTH * math.sqrt(d))
    return q * gain, k * gain


def compute_attention_pattern(head: str = "it → who?", temperature: float = 1.0, causal: bool = False) -> dict:
    """Attention weights of a hand-made head over `SENTENCE`, computed with `scaled_dot_product_attention`.

    Args:
        head: a name from `HEADS`.
        temperature: T > 0; the scores are multiplied by 1 / (T sqrt(d)). T < 1 sharpens the
            softmax towards the best match, T > 1 flattens it towards a uniform average.
        causal: block each word from attending to the words after it.

    Returns:
        {"tokens": list of L words, "weights": (L, L) tensor (rows: queries, columns: keys, rows sum to 1),
         "allowed": (L, L) bool tensor (False where the causal mask blocks),
         "effective_keys": (L,) tensor, exp(entropy) of each row: 1 = all weight on one key, L = uniform}
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    q, k = sentence_queries_keys(head)
    n, d = q.shape
    with single_thread():
        # v = identity: each output row is then the weight row itself; only the weights are drawn
        _, weights = scaled_dot_product_attention(
            q, k, torch.eye(n), causal=causal, scale=1.0 / (temperature * math.sqrt(d))
        )  # (L, L)
        allowed = torch.ones(n, n, dtype=torch.bool).tril() if causal else torch.ones(n, n, dtype=torch.bool)
        entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)  # (L,)
    return {"tokens": list(SENTENCE), "weights": weights, "allowed": allowed, "effective_keys": entropy.exp()}


def _grid_as_lines(ax) -> list:
    """Replace `ax`'s grid with lines of the same style and place, and return them.

    The grid belongs to the axis, which an Explorer draws once into its cached background; artists
    listed as dynamic (bars) are drawn over the background and would hide it. A full redraw draws the
    grid over the bars (its zorder is higher), so these lines, listed as dynamic too, keep that look.
    Call it once the limits are final: it fixes the ticks where they are now, so that the layout (which
    shrinks the axes, and an automatic locator would then pick other ticks) cannot part them from the lines.
    """
    lines = []
    for axis, add_line, (low, high) in ((ax.xaxis, ax.axvline, ax.get_xlim()), (ax.yaxis, ax.axhline, ax.get_ylim())):
        style = axis.get_major_ticks()[0].gridline
        positions = [p for p in axis.get_ticklocs() if min(low, high) <= p <= max(low, high)]
        axis.set_ticks(positions)
        for position in positions:
            lines.append(
                add_line(
                    position,
                    color=style.get_color(),
                    alpha=style.get_alpha(),
                    linewidth=style.get_linewidth(),
                    linestyle=style.get_linestyle(),
                    zorder=axis.get_zorder(),
                )
            )
    ax.grid(False)
    return lines


def make_attention_explorer(head: str = "it → who?", query: int = 7) -> Explorer:
    """Attention weights over a sentence: heatmap (queries x keys) and the chosen query's weights as bars.

    Controls: the head, the query word, the temperature, and a causal mask. An update recomputes
    the 10 x 10 weights with `scaled_dot_product_attention` and updates the artists in place.

    Args:
        head: the head shown first, a name from `HEADS`.
        query: the index of the query word shown first (7 is "it").
    """
    if head not in HEADS:
        raise ValueError(f"make_attention_explorer: head must be one of {list(HEADS)}, got {head!r}")
    n = len(SENTENCE)
    if isinstance(query, bool) or not isinstance(query, int) or not 0 <= query < n:
        raise ValueError(f"make_attention_explorer: query must be a word index in [0, {n - 1}], got {query!r}")
    labels = list(SENTENCE)
    fig, (ax_map, ax_bar) = new_figure(2, width=10.0, height=3.5)  # with its controls, under 600 px tall
    cmap = colormaps[SEQUENTIAL_CMAP].with_extremes(bad="#d9d9d9")  # blocked (masked) cells in light grey
    image = ax_map.imshow(np.zeros((n, n)), cmap=cmap, vmin=0, vmax=1, aspect="equal")
    ax_map.grid(False)
    ax_map.set_xticks(range(n), labels, rotation=60, ha="right", rotation_mode="anchor")
    ax_map.set_yticks(range(n), labels)
    label(ax_map, "key (the word looked at)", "query (the word looking)")
    fig.colorbar(image, ax=ax_map, label="attention weight", shrink=0.85, pad=0.02)
    row_box = Rectangle((-0.5, query - 0.5), n, 1, fill=False, edgecolor=PALETTE["vermillion"], lw=2.5)
    ax_map.add_patch(row_box)

    bars = ax_bar.add_collection(BarCollection(range(n), facecolors=PALETTE["blue"]), autolim=False)
    values = [ax_bar.text(i, 0, "", ha="center", va="bottom", fontsize=9) for i in range(n)]
    ax_bar.set_xticks(range(n), labels, rotation=60, ha="right", rotation_mode="anchor")
    ax_bar.set_ylim(0, 1.15)  # room above the tallest bar (1.0) for its label
    ax_bar.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax_bar.set_xlim(-0.6, n - 0.4)
    uniform = ax_bar.axhline(1 / n, color="0.5", ls="--", lw=1)
    # above the panel, where neither the bars nor the grid lines drawn over them reach: it belongs to the background
    ax_bar.legend(
        [uniform],
        ["uniform (1 / number of keys)"],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        fontsize=9,
        borderaxespad=0.1,
        handlelength=1.5,
        handletextpad=0.5,
    )
    label(ax_bar, "key", "weight")  # "attention weight" is the colour bar's label just beside it
    grid = _grid_as_lines(ax_bar)  # the grid shows through the bars, as it did when the whole figure was redrawn
    # static titles (drawn once, in the background): the chosen head, word and temperature are in the caption
    ax_map.set_title("illustration: hand-made heads")
    ax_bar.set_title("outlined row", loc="left")

    def draw(head, query, temperature, causal):
        pattern = compute_attention_pattern(head, temperature, causal)
        weights, allowed = pattern["weights"].numpy(), pattern["allowed"].numpy()
        image.set_data(np.ma.masked_array(weights, mask=~allowed))
        row_box.set_y(query - 0.5)
        row = weights[query]
        best = int(row.argmax())
        visible = int(allowed[query].sum())
        colours = [
            PALETTE["orange"] if i == best else (PALETTE["blue"] if allowed[query, i] else "0.8") for i in range(n)
        ]
        bars.set_heights(row, colours)
        for i, text in enumerate(values):
            text.set_position((i, row[i] + 0.01))
            # label the weights that matter; a row of "0.00"s would only hide the pattern
            text.set_text("×" if not allowed[query, i] else f"{row[i]:.2f}" if row[i] >= 0.005 else "")
        uniform.set_ydata([1 / visible, 1 / visible])
        spread = pattern["effective_keys"][query].item()
        return (
            f"<b>{head}</b>, τ = {temperature:.1f} (an illustration: hand-made queries and keys, not a trained "
            f"model): {HEADS[head]}. The query '{SENTENCE[query]}' (word {query + 1}, the outlined row) "
            f"puts {row[best]:.0%} of its attention on '{SENTENCE[best]}' (word {best + 1}), "
            f"spread over about {spread:.1f} of the {visible} words it may see (exp of the entropy)."
            + (" Grey: later words, blocked by the causal mask." if causal else "")
        )

    controls = {
        "head": widgets.ToggleButtons(
            options=list(HEADS), value=head, description="head", style={"button_width": "136px"}
        ),
        "query": widgets.Dropdown(
            options=[(f"{i + 1}: {w}", i) for i, w in enumerate(SENTENCE)], value=query, description="query word"
        ),
        "temperature": widgets.FloatSlider(
            value=1.0,
            min=0.1,
            max=5.0,
            step=0.1,
            description="temperature",
            continuous_update=True,
            readout_format=".1f",
        ),
        "causal": widgets.Checkbox(value=False, description="causal mask"),
    }
    # dynamic: every artist draw changes (all four controls only touch these), plus what must stay on
    # top of them: the spines (over the image and the bars) and the bars' grid lines
    dynamic = [image, row_box, *ax_map.spines.values()]
    dynamic += [bars, *values, uniform, *grid, *ax_bar.spines.values()]
    return Explorer("attention-weights", controls, fig, draw, dynamic=dynamic)


def compute_reversal_snapshot(result: ReversalResult, step_index: int, example: int, head: int = 0) -> dict:
    """What the reversal model did on one test sequence at one training snapshot.

    Args:
        result: from `train_reversal_model`.
        step_index: index into `result.snapshot_steps`.
        example: index of the test sequence, in [0, number of kept examples).
        head: which attention head.

    Returns:
        {"step": int, "tokens": (T,) input digits, "target": (T,) reversed digits, "prediction": (T,) predicted digits,
         "weights": (T, T) attention (rows: output positions, columns: input positions),
         "accuracy": test accuracy per digit at that step,
         "antidiagonal": mean weight on the reversal position T-1-i over the kept examples}
    """
    n_steps, (n_show, n_heads) = len(result.snapshot_steps), result.snapshot_weights[0].shape[:2]
    for pname, value, bound in (
        ("step_index", step_index, n_steps),
        ("example", example, n_show),
        ("head", head, n_heads),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            raise ValueError(f"compute_reversal_snapshot: {pname} must be an int in [0, {bound - 1}], got {value!r}")
    all_weights = result.snapshot_weights[step_index][:, head]  # (n_show, T, T)
    return {
        "step": result.snapshot_steps[step_index],
        "tokens": result.test_x[example],
        "target": result.test_y[example],
        "prediction": result.snapshot_predictions[step_index][example],
        "weights": all_weights[example],
        "accuracy": result.snapshot_accuracy[step_index],
        "antidiagonal": all_weights.flip(-1).diagonal(dim1=-2, dim2=-1).mean().item(),
    }


def make_reversal_explorer(result: ReversalResult | None = None) -> Explorer:
    """Slide through training of the reversal model: its attention on a test sequence, and test accuracy.

    Args:
        result: a trained `ReversalResult`; default trains one with `train_reversal_model()` (a few seconds).
    """
    result = train_reversal_model() if result is None else result
    if not isinstance(result, ReversalResult):
        raise ValueError(f"make_reversal_explorer: result must be a ReversalResult, got {type(result).__name__}")
    seq_len = result.config.seq_len
    fig, (ax_map, ax_acc) = new_figure(2, width=9.6, height=4.0)
    image = ax_map.imshow(np.zeros((seq_len, seq_len)), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1, aspect="equal")
    ax_map.grid(False)
    fig.colorbar(image, ax=ax_map, label="attention weight", shrink=0.85, pad=0.02)
    targets = [  # outline where a perfect reverser looks: output i <- input T-1-i
        ax_map.add_patch(
            Rectangle((seq_len - 1 - i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", lw=1.2, ls=(0, (2, 2)))
        )
        for i in range(seq_len)
    ]
    label(ax_map, "input position: digit", "output position: target digit")
    ax_acc.plot(result.snapshot_steps, result.snapshot_accuracy, color=PALETTE["blue"], marker="o", ms=3)
    ax_acc.axhline(1 / result.config.vocab_size, color="0.5", ls="--", lw=1, label="chance\n(1 / 10)")
    marker = ax_acc.axvline(0, color=PALETTE["vermillion"], lw=2, label="shown\nstep")
    ax_acc.set_ylim(0, 1.05)
    # beside the panel, where the moving step marker never reaches: the legend belongs to the background
    ax_acc.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2)
    label(ax_acc, "training step", "test accuracy per digit", "learning to reverse")
    ax_map.set_title("where each output looks")  # static: the step's prediction is in the caption
    # the tick positions are fixed here; draw only relabels them (the digits of the chosen example):
    # set_xticks would move the view limits too, and that redraws the whole figure
    ax_map.set_xticks(range(seq_len))
    ax_map.set_yticks(range(seq_len))
    ax_map.tick_params(axis="x", labelrotation=60)
    n_show = result.snapshot_weights[0].shape[0]
    labelled = {"example": None}  # the example whose digits the heatmap's tick labels show

    def draw(step, example):
        snap = compute_reversal_snapshot(result, result.snapshot_steps.index(step), example)
        weights = snap["weights"].numpy()
        image.set_data(weights)
        if example != labelled["example"]:  # relabelling marks the figure stale: only when the example changes
            ax_map.set_xticklabels(
                [f"{j}: {d}" for j, d in enumerate(snap["tokens"].tolist())], ha="right", rotation_mode="anchor"
            )
            ax_map.set_yticklabels([f"{i}: {d}" for i, d in enumerate(snap["target"].tolist())])
            labelled["example"] = example
        hits = int((snap["prediction"] == snap["target"]).sum())
        predicted = " ".join(map(str, snap["prediction"].tolist()))
        marker.set_xdata([step, step])
        return (
            f"<b>Step {snap['step']}</b>: on this input the model predicts <b>{predicted}</b> ({hits}/{seq_len} "
            f"digits right); test accuracy {snap['accuracy']:.0%}. Output position i should copy input "
            f"position {seq_len - 1} − i: the anti-diagonal (dashed squares). On average {snap['antidiagonal']:.0%} of each "
            f"position's attention is there (over the {n_show} shown test sequences; 1/{seq_len} "
            f"= {1 / seq_len:.0%} would be uniform)."
        )

    controls = {
        "step": widgets.SelectionSlider(
            options=result.snapshot_steps,
            value=result.snapshot_steps[-1],
            description="training step",
            continuous_update=True,
        ),
        "example": widgets.Dropdown(
            options=[(" ".join(map(str, result.test_x[i].tolist())), i) for i in range(n_show)],
            value=0,
            description="test input",
        ),
    }
    # dynamic: what draw changes with the step (the weights, the step marker), and what must stay on top of
    # them: the dashed target squares and the spines over the image. The heatmap's tick labels (the example's
    # digits, most of a redraw's time: text) belong to the background kept per example, all drawn when the
    # explorer is built, so neither control redraws the axes.
    dynamic = [image, *targets, *ax_map.spines.values(), marker]
    explorer = Explorer(
        "reversal-attention", controls, fig, draw, dynamic=dynamic, background_key=lambda example, **_: example
    )
    explorer.prepare_backgrounds("example")
    return explorer


# ---------------------------------------------------------------- associative recall
def compute_recall_snapshot(result: RecallResult, step_index: int, example: int) -> dict:
    """What the recall model did on one test context at one training snapshot, asking for each of its keys.

    Args:
        result: from `train_recall_model`.
        step_index: index into `result.snapshot_steps`.
        example: index of the test context, in [0, number of kept contexts).

    Returns:
        {"step": int, "pairs": list of P labels such as "b7", "weights": (P, P) (row j: the attention
         when asking for the key of pair j; columns: the pairs), "answers": (P,) predicted values,
         "values": (P,) the true values, "accuracy": test accuracy at that step,
         "on_target": share of test questions whose largest weight is on the asked pair}
    """
    n_steps, n_show = len(result.snapshot_steps), result.snapshot_weights[0].shape[0]
    for pname, value, bound in (("step_index", step_index, n_steps), ("example", example, n_show)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
            raise ValueError(f"compute_recall_snapshot: {pname} must be an int in [0, {bound - 1}], got {value!r}")
    keys, values = result.test.keys[example].tolist(), result.test.values[example].tolist()
    return {
        "step": result.snapshot_steps[step_index],
        "pairs": [f"{KEY_LETTERS[k]}{v}" for k, v in zip(keys, values)],
        "weights": result.snapshot_weights[step_index][example],
        "answers": result.snapshot_answers[step_index][example],
        "values": result.test.values[example],
        "accuracy": result.snapshot_accuracy[step_index],
        "on_target": result.snapshot_on_target[step_index],
    }


def make_recall_explorer(result: RecallResult | None = None) -> Explorer:
    """Slide through training of the recall model: where the question looks in one context, for each key asked.

    Args:
        result: a trained `RecallResult`; default trains one with `train_recall_model()` (a few seconds).
    """
    result = train_recall_model() if result is None else result
    if not isinstance(result, RecallResult):
        raise ValueError(f"make_recall_explorer: result must be a RecallResult, got {type(result).__name__}")
    num_pairs = result.config.num_pairs
    n_show = result.snapshot_weights[0].shape[0]
    fig, (ax_map, ax_acc) = new_figure(2, width=9.6, height=3.4)
    image = ax_map.imshow(np.zeros((num_pairs, num_pairs)), cmap=SEQUENTIAL_CMAP, vmin=0, vmax=1, aspect="equal")
    ax_map.grid(False)
    fig.colorbar(image, ax=ax_map, label="attention weight", shrink=0.85, pad=0.02)
    row_box = Rectangle((-0.5, -0.5), num_pairs, 1, fill=False, edgecolor=PALETTE["vermillion"], lw=2.5)
    ax_map.add_patch(row_box)
    label(ax_map, "pair (key, value)", "question asks for key ...")
    ax_map.set_xticks(range(num_pairs))
    ax_map.set_yticks(range(num_pairs))
    steps = result.snapshot_steps
    ax_acc.plot(steps, result.snapshot_accuracy, color=PALETTE["blue"], marker="o", ms=3, label="answer\nright")
    ax_acc.plot(
        steps, result.snapshot_on_target, color=PALETTE["orange"], ls="--", label="largest\nweight on\nthe asked\npair"
    )
    ax_acc.axhline(1 / result.config.num_values, color="0.5", ls=":", lw=1, label="chance\n(1 / 10)")
    marker = ax_acc.axvline(0, color=PALETTE["vermillion"], lw=2)
    ax_acc.set_ylim(0, 1.05)
    # beside the panel, where the moving step marker never reaches: the legend belongs to the background
    ax_acc.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9, borderaxespad=0.2)
    label(ax_acc, "training step", "share of test questions", "learning to recall")
    # static: the step, the answer and whether it is right are in the caption
    ax_map.set_title("where each question looks")

    shown_example = [None]  # the context whose pairs label the axes: relabel only when it changes

    def draw(step, example, ask):
        snap = compute_recall_snapshot(result, steps.index(step), example)
        image.set_data(snap["weights"].numpy())
        row_box.set_y(ask - 0.5)
        if shown_example[0] != example:  # the labels belong to the background kept for this context
            ax_map.set_xticklabels(snap["pairs"])
            ax_map.set_yticklabels([p[0] for p in snap["pairs"]])
            shown_example[0] = example
        answer, truth = int(snap["answers"][ask]), int(snap["values"][ask])
        looked = int(snap["weights"][ask].argmax())
        marker.set_xdata([step, step])
        verdict = "right" if answer == truth else f"wrong, the value is {truth}"
        return (
            f"<b>Step {snap['step']}</b>: the question '{snap['pairs'][ask][0]}' (the outlined row) puts "
            f"{float(snap['weights'][ask, looked]):.0%} of its attention on '{snap['pairs'][looked]}' and answers "
            f"<b>{answer}: {verdict}</b>. "
            f"Each row asks for another key of the same context: a model that finds pairs by content lights up "
            f"the diagonal, wherever the pair sits. Test accuracy {snap['accuracy']:.0%}; largest weight on "
            f"the asked pair for {snap['on_target']:.0%} of the test questions."
        )

    controls = {
        "step": widgets.SelectionSlider(options=steps, value=steps[-1], description="training step"),
        "example": widgets.Dropdown(
            options=[(" ".join(compute_recall_snapshot(result, 0, i)["pairs"]), i) for i in range(n_show)],
            value=0,
            description="context",
        ),
        "ask": widgets.ToggleButtons(
            options=[(f"pair {j + 1}", j) for j in range(num_pairs)],
            value=0,
            description="ask for",
            style={"button_width": "64px"},
        ),
    }
    # the tick labels (the pairs) depend on the context alone: each context's background is drawn once and kept
    dynamic = [image, row_box, *ax_map.spines.values(), marker]
    explorer = Explorer(
        "recall-attention", controls, fig, draw, dynamic=dynamic, background_key=lambda example, **_: example
    )
    explorer.prepare_backgrounds("example")  # each context's picture drawn now: the first switch is quick too
    return explorer


# ---------------------------------------------------------------- the pre-trained TinyGPT's own attention
PRONOUNS = ("he", "she", "his", "her")


def corpus_windows(tokenizer, n_windows: int, length: int, seed: int = 1) -> torch.Tensor:
    """`n_windows` random windows of `length` tokens from a corpus generated with `seed` (the model trained on seed 0).

    Returns:
        (n_windows, length) token ids, the kind of input the model saw in pre-training.
    """
    for pname, value in (("n_windows", n_windows), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"corpus_windows: {pname} must be an int >= 2, got {value!r}")
    ids = torch.tensor(tokenizer.encode(make_corpus(max(20_000, 60 * n_windows), seed=seed)))
    starts = torch.randint(0, len(ids) - length, (n_windows,), generator=torch.Generator().manual_seed(seed))
    return ids[starts[:, None] + torch.arange(length)]  # (N, length)


def pronoun_queries(windows: torch.Tensor, tokenizer) -> list[dict]:
    """Every position right before a pronoun whose window already holds the protagonist's name.

    That position's job, in a next-token model, is to predict the pronoun; he or she depends on the
    name. In this corpus a pronoun always refers to the latest name (each story has one person).

    Returns:
        One dict per such position: {"window": row in `windows`, "query": the position before the
        pronoun, "name": the position of the latest name before it, "others": positions of earlier,
        different names (the previous story's person) in the window, "span_end": where the next
        name starts (or T): the positions from name + 1 up to it have this name as their latest}.
    """
    names = {tokenizer.encode(person[0])[0] for person in PEOPLE}
    pronouns = {tokenizer.encode(word)[0] for word in PRONOUNS}
    found = []
    for row, window in enumerate(windows.tolist()):
        name_positions = [t for t, token in enumerate(window) if token in names]
        for t, token in enumerate(window):
            seen = [p for p in name_positions if p < t - 1]
            if token in pronouns and seen:
                later = [p for p in name_positions if p > seen[-1]]
                others = [p for p in seen[:-1] if window[p] != window[seen[-1]]]
                found.append(
                    {
                        "window": row,
                        "query": t - 1,
                        "name": seen[-1],
                        "others": others,
                        "span_end": later[0] if later else len(window),
                    }
                )
    return found


def compute_name_attention(weights: torch.Tensor, queries: list[dict]) -> dict:
    """How much each head of a model puts on the name from the positions right before a pronoun.

    Args:
        weights: (N, n_layer, n_head, T, T) from `TinyGPT.attention_weights` on the windows.
        queries: from `pronoun_queries` on the same windows.

    Returns:
        {"on_name": (n_layer, n_head) mean weight on the name, "argmax_on_name": (n_layer, n_head) share of
         queries whose largest weight is on the name, "uniform": the mean of 1 / (number of visible keys),
         "elsewhere": (n_layer, n_head) mean weight on the latest name from all other positions after it,
         "on_other_name", "on_name_with_other": (n_layer, n_head) weights on an earlier person's name and on the
         latest name, over the queries whose window holds both, "count": number of queries, "count_with_other"}
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() != 5:
        raise ValueError(
            f"compute_name_attention: weights must be (N, layers, heads, T, T), got {getattr(weights, 'shape', weights)}"
        )
    if not queries:
        raise ValueError("compute_name_attention: queries is empty: no pronoun with a name before it")
    if any(set(q) != {"window", "query", "name", "others", "span_end"} for q in queries):
        raise ValueError("compute_name_attention: queries must come from pronoun_queries")
    rows = torch.tensor([q["window"] for q in queries])
    at = torch.tensor([q["query"] for q in queries])
    name = torch.tensor([q["name"] for q in queries])
    w = weights[rows, :, :, at]  # (Q, L, H, T): each query's weights in every head
    on_name = w[torch.arange(len(queries)), :, :, name]  # (Q, L, H)
    is_max = w.argmax(-1) == name[:, None, None]  # (Q, L, H)
    with_other = [i for i, q in enumerate(queries) if q["others"]]
    other = torch.stack([w[i][..., queries[i]["others"]].sum(-1) for i in with_other]) if with_other else None
    # the same head, from every other position whose latest name is this one: does it look at the name from anywhere?
    elsewhere = torch.zeros(weights.shape[0], weights.shape[-1], weights.shape[-1], dtype=torch.bool)  # (N, T, T)
    for q in queries:
        elsewhere[q["window"], q["name"] + 1 : q["span_end"], q["name"]] = True
    for q in queries:
        elsewhere[q["window"], q["query"], :] = False  # not the positions before a pronoun
    r, t, k = elsewhere.nonzero(as_tuple=True)
    on_name_elsewhere = weights[r, :, :, t, k].mean(0) if len(r) else torch.full_like(on_name[0], float("nan"))
    return {
        "on_name": on_name.mean(0),
        "argmax_on_name": is_max.float().mean(0),
        "uniform": (1.0 / (at + 1).float()).mean().item(),
        "elsewhere": on_name_elsewhere,
        "on_other_name": other.mean(0) if other is not None else None,
        "on_name_with_other": on_name[with_other].mean(0) if with_other else None,
        "count": len(queries),
        "count_with_other": len(with_other),
    }


def example_windows(tokenizer, n: int = 5, length: int = 20, seed: int = 1) -> torch.Tensor:
    """`n` corpus windows of `length` tokens that start a sentence and hold two people of different genders.

    The second person's story is the current one, and a pronoun follows their name: the case where a
    head that looks at the right name must choose between two.
    """
    names = {tokenizer.encode(p[0])[0]: p[1] for p in PEOPLE}  # id -> he / she
    pronouns = {tokenizer.encode(word)[0] for word in PRONOUNS}
    full_stop = tokenizer.encode(".")[0]
    ids = tokenizer.encode(make_corpus(20_000 * n, seed=seed))
    chosen, next_start = [], 1
    for start in range(1, len(ids) - length):
        if start < next_start or ids[start - 1] != full_stop:  # windows do not overlap
            continue
        window = ids[start : start + length]
        people = [(t, names[tok]) for t, tok in enumerate(window) if tok in names]
        if len(people) >= 2 and people[0][1] != people[-1][1]:
            if any(tok in pronouns for tok in window[people[-1][0] + 2 :]):
                chosen.append(window)
                next_start = start + length
                if len(chosen) == n:
                    break
    if len(chosen) < n:
        raise ValueError(f"example_windows: found only {len(chosen)} windows of {length} tokens, asked for {n}")
    return torch.tensor(chosen)


def make_gpt_attention_explorer(
    model=None, tokenizer=None, windows: torch.Tensor | None = None, layer: int | None = None, head: int | None = None
) -> Explorer:
    """The pre-trained TinyGPT's own attention on corpus text: choose a text, layer, head and query position.

    Every weight is computed once, when the widget is built (`TinyGPT.attention_weights`); a move only
    picks a slice and redraws.

    Args:
        model, tokenizer: default the shipped model, `course_utils.pretraining.load_pretrained()`.
        windows: (N, T) token ids to show; default `example_windows(tokenizer)`.
        layer, head: shown first; default the head that puts the most weight on the name from the
            positions before a pronoun in these windows.
    """
    if model is None or tokenizer is None:
        from course_utils.pretraining import load_pretrained  # the shipped checkpoint, loaded only when needed

        model, tokenizer, _ = load_pretrained()
    windows = example_windows(tokenizer) if windows is None else windows
    if not isinstance(windows, torch.Tensor) or windows.dim() != 2 or windows.dtype != torch.long:
        raise ValueError(f"make_gpt_attention_explorer: windows must be an (N, T) long tensor, got {windows!r}")
    with torch.no_grad(), single_thread():
        all_weights = model.attention_weights(windows).numpy()  # (N, n_layer, n_head, T, T), once
    n, n_layer, n_head, length = all_weights.shape[:4]
    texts = [[tokenizer.decode([t]).replace("\n", "↵") for t in row] for row in windows.tolist()]
    stats = compute_name_attention(torch.from_numpy(all_weights), pronoun_queries(windows, tokenizer))
    best_layer, best_head = divmod(int(stats["on_name"].argmax()), n_head)
    for pname, value, bound in (("layer", layer, n_layer), ("head", head, n_head)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound):
            raise ValueError(f"make_gpt_attention_explorer: {pname} must be an int in [0, {bound - 1}], got {value!r}")
    best_layer = best_layer if layer is None else layer
    best_head = best_head if head is None else head
    first = pronoun_queries(windows[:1], tokenizer)
    start_query = first[-1]["query"] if first else length - 1

    fig, (ax_map, ax_bar) = new_figure(2, width=10.0, height=3.4)
    fig.get_layout_engine().set(w_pad=0.02, wspace=0.02)
    cmap = colormaps[SEQUENTIAL_CMAP].with_extremes(bad="#d9d9d9")
    future = np.triu(np.ones((length, length), dtype=bool), 1)  # blocked by the causal mask: drawn grey
    image = ax_map.imshow(np.zeros((length, length)), cmap=cmap, vmin=0, vmax=1, aspect="equal")
    ax_map.grid(False)
    ax_map.set_xticks(range(length))
    ax_map.set_yticks(range(length))
    ax_map.tick_params(labelsize=7)
    ax_map.tick_params(axis="x", labelrotation=90)
    label(ax_map, None, "query (row)")  # the keys are the columns (the title says so): no room below the tokens
    # static titles, drawn once in the background: the chosen layer, head and query are in the caption
    ax_map.set_title("rows: queries, columns: keys", fontsize=10)
    row_box = Rectangle((-0.5, 0), length, 1, fill=False, edgecolor=PALETTE["vermillion"], lw=2)
    ax_map.add_patch(row_box)
    bars = ax_bar.add_collection(BarCollection(range(length), facecolors=PALETTE["blue"]), autolim=False)
    ax_bar.set_xlim(-0.6, length - 0.4)
    ax_bar.set_ylim(0, 1.05)
    ax_bar.set_xticks(range(length))
    ax_bar.tick_params(axis="x", labelrotation=90, labelsize=8)
    label(ax_bar, None, "weight")
    ax_bar.set_title("the outlined row: what the query attends to", fontsize=10)

    shown_text = [None]  # the text whose tokens label the axes: relabel only when it changes

    def draw(text, layer, head, query):
        weights = all_weights[text, layer, head]  # (T, T)
        image.set_data(np.ma.masked_array(weights, mask=future))
        row_box.set_y(query - 0.5)
        tokens = texts[text]
        if shown_text[0] != text:  # the labels belong to the background kept for this text (background_key)
            ax_map.set_xticklabels(tokens)
            ax_map.set_yticklabels(tokens)
            ax_bar.set_xticklabels(tokens)
            shown_text[0] = text
        row = weights[query]
        best = int(row[: query + 1].argmax())
        colours = [PALETTE["orange"] if i == best else PALETTE["blue"] for i in range(length)]
        bars.set_heights(np.where(np.arange(length) <= query, row, 0.0), colours)
        return (
            f"<b>Layer {layer}, head {head}</b>: the query '{tokens[query]}' (position {query}, the outlined row) "
            f"puts {row[best]:.0%} of its "
            f"attention on '{tokens[best]}' (position {best}); spread evenly over the {query + 1} tokens it may "
            f"see, each would get {1 / (query + 1):.0%}. Grey cells: later tokens, blocked by the causal mask."
        )

    controls = {
        "text": widgets.Dropdown(
            options=[(" ".join(t[:7]) + " ...", i) for i, t in enumerate(texts)], value=0, description="text"
        ),
        "layer": widgets.ToggleButtons(
            options=list(range(n_layer)), value=best_layer, description="layer", style={"button_width": "36px"}
        ),
        "head": widgets.ToggleButtons(
            options=list(range(n_head)), value=best_head, description="head", style={"button_width": "36px"}
        ),
        "query": widgets.IntSlider(
            value=start_query, min=0, max=length - 1, description="query position", continuous_update=True
        ),
    }
    # the tick labels (the tokens) depend on the text alone: each text's background is drawn once and kept
    dynamic = [image, row_box, *ax_map.spines.values(), bars, *ax_bar.spines.values()]
    explorer = Explorer("gpt-attention", controls, fig, draw, dynamic=dynamic, background_key=lambda text, **_: text)
    explorer.prepare_backgrounds("text")  # each text's picture drawn now: the first switch is quick too
    return explorer
