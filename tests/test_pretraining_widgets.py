"""Notebook 08's widgets and checks: samples, held-out loss, embeddings, blank filling, exercises."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from course_utils.exercises.pretraining import reference_mask_tokens
from course_utils.models.gpt import TinyGPT
from course_utils.pretraining import world_config
from course_utils.text import WordTokenizer
from course_utils.widgets.pretraining import (
    SAMPLE_PROMPTS,
    LiveLossPlot,
    _logistic_regression,
    category_similarity,
    compute_blank_scores,
    compute_embedding_projection,
    compute_heldout_loss,
    compute_next_word,
    compute_samples,
    compute_transfer_along_training,
    heldout_tokens,
    load_snapshots,
    make_embedding_explorer,
    make_snapshot_explorer,
    plot_transfer_along_training,
    sequence_log_prob,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tokenizer():
    return WordTokenizer.from_world()


@pytest.fixture(scope="module")
def tiny(tokenizer):
    torch.manual_seed(0)
    return TinyGPT(world_config(tokenizer, n_embd=16, n_head=2, n_layer=1, block_size=24)).eval()


# --- samples and loss ------------------------------------------------------------------------


def test_samples_are_deterministic_and_depend_on_temperature(tiny, tokenizer):
    a = compute_samples(tiny, tokenizer, 1.0, seed=0)
    assert a == compute_samples(tiny, tokenizer, 1.0, seed=0)
    assert len(a) == len(SAMPLE_PROMPTS)
    assert all(s.startswith(p) for s, p in zip(a, SAMPLE_PROMPTS))
    assert a != compute_samples(tiny, tokenizer, 0.2, seed=0)
    assert a != compute_samples(tiny, tokenizer, 1.0, seed=1)


def test_samples_bad_input(tiny, tokenizer):
    with pytest.raises(ValueError, match="temperature"):
        compute_samples(tiny, tokenizer, 0.0)
    with pytest.raises(ValueError, match="same number of tokens"):
        compute_samples(tiny, tokenizer, 1.0, prompts=("tom", "tom went"))
    with pytest.raises(TypeError, match="model"):
        compute_samples("model", tokenizer)
    with pytest.raises(TypeError, match="prompts"):
        compute_samples(tiny, tokenizer, prompts="tom went")


def test_heldout_loss_equals_cross_entropy_of_windows(tiny, tokenizer):
    tokens = heldout_tokens(tokenizer, n_chars=5_000)
    loss = compute_heldout_loss(tiny, tokens, n_windows=4)
    T = tiny.config.block_size
    logits, _ = tiny(tokens[: 4 * T].view(4, T))
    expected = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[1 : 4 * T + 1].view(4, T).reshape(-1))
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    # an untrained model is close to a uniform guess
    assert abs(loss - math.log(tokenizer.vocab_size)) < 0.5
    with pytest.raises(ValueError, match="tokens"):
        compute_heldout_loss(tiny, tokens[:10], n_windows=4)


# --- embeddings ------------------------------------------------------------------------------


def test_category_similarity_by_hand():
    v = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    within, between = category_similarity(v, ["a", "a", "b", "b"])
    assert within == pytest.approx(1.0)
    assert between == pytest.approx(0.0)
    v2 = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    within, between = category_similarity(v2, ["a", "a", "b"])
    assert within == pytest.approx(1 / math.sqrt(2))
    assert between == pytest.approx((0 + 1 / math.sqrt(2)) / 2)
    with pytest.raises(ValueError, match="labels"):
        category_similarity(v, ["a"])
    with pytest.raises(ValueError, match="two categories"):
        category_similarity(v, ["a", "a", "a", "a"])
    with pytest.raises(TypeError, match="2-D"):
        category_similarity(torch.ones(3), ["a", "b", "c"])


def test_embedding_projection_matches_pca(tiny, tokenizer):
    p = compute_embedding_projection(tiny, tokenizer)
    n = len(p["words"])
    assert p["xy"].shape == (n, 2) and len(p["labels"]) == n
    ids = torch.tensor([tokenizer.token_to_id[w] for w in p["words"]])
    x = tiny.transformer.wte.weight.detach()[ids].double()
    x = x - x.mean(0)
    # the projection keeps the variance of the top two eigenvalues of the covariance
    eig = torch.linalg.eigvalsh(x.T @ x).flip(0)
    assert p["xy"].double().pow(2).sum().item() == pytest.approx(eig[:2].sum().item(), rel=1e-4)
    assert p["explained"] == pytest.approx((eig[:2].sum() / eig.sum()).item(), rel=1e-4)
    assert compute_embedding_projection(tiny, tokenizer)["xy"].equal(p["xy"])  # deterministic signs
    with pytest.raises(ValueError, match="vocabulary"):
        compute_embedding_projection(tiny, tokenizer, {"x": ("dog", "unicorn"), "y": ("cat", "owl")})


# --- a causal model filling a blank -----------------------------------------------------------


def test_sequence_log_prob_is_sum_of_next_token_log_probs(tiny, tokenizer):
    text = "tom went to the park."
    ids = torch.tensor([tokenizer.encode(text)])
    logits, _ = tiny(ids)
    expected = sum(logits[0, t].log_softmax(-1)[ids[0, t + 1]].item() for t in range(ids.shape[1] - 1))
    assert sequence_log_prob(tiny, tokenizer, text) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="tokens"):
        sequence_log_prob(tiny, tokenizer, "tom")


def test_blank_scores_are_a_distribution_sorted(tiny, tokenizer):
    scores = compute_blank_scores(tiny, tokenizer, "tom felt ___.", ("happy", "sad", "dog"))
    probs = [p for _, p in scores]
    assert sum(probs) == pytest.approx(1.0)
    assert probs == sorted(probs, reverse=True)
    assert {w for w, _ in scores} == {"happy", "sad", "dog"}
    with pytest.raises(ValueError, match="exactly once"):
        compute_blank_scores(tiny, tokenizer, "tom felt sad.", ("happy",))
    with pytest.raises(TypeError, match="candidates"):
        compute_blank_scores(tiny, tokenizer, "tom felt ___.", "happy")


def test_next_word_matches_softmax(tiny, tokenizer):
    top = compute_next_word(tiny, tokenizer, "tom went to the", top_k=5)
    logits, _ = tiny(torch.tensor([tokenizer.encode("tom went to the")]))
    probs = logits[0, -1].softmax(-1)
    assert [w for w, _ in top] == [tokenizer.vocab[i] for i in probs.topk(5).indices.tolist()]
    assert top[0][1] == pytest.approx(probs.max().item())
    with pytest.raises(ValueError, match="top_k"):
        compute_next_word(tiny, tokenizer, "tom", top_k=0)


# --- the shipped snapshots ---------------------------------------------------------------------


def test_shipped_model_learned_the_world():
    steps, models, tokenizer, history = load_snapshots()
    assert steps[0] == 0 and steps == sorted(steps)
    tokens = heldout_tokens(tokenizer)
    first, last = compute_heldout_loss(models[0], tokens), compute_heldout_loss(models[-1], tokens)
    assert first > 4.5 and last < 1.5
    p0 = compute_embedding_projection(models[0], tokenizer)
    p1 = compute_embedding_projection(models[-1], tokenizer)
    assert abs(p0["within"] - p0["between"]) < 0.1  # random vectors: no grouping
    assert p1["within"] > p1["between"] + 0.3  # pre-trained: related words group together
    assert p1["opposite_feelings"] < p1["within"]
    blank = compute_blank_scores(models[-1], tokenizer, "tom lost his kite, so he felt ___.", ("happy", "sad"))
    assert blank[0][0] == "sad"


def test_explorers_update_and_caption():
    explorer = make_snapshot_explorer()
    before = explorer.png
    explorer.set(step=explorer.controls["step"].options[-1], temperature=0.5)
    assert explorer.png != before
    assert "held-out loss" in explorer.caption.value
    with pytest.raises(ValueError, match="temperature"):
        make_snapshot_explorer(temperatures=(1.0, -1.0))
    emb = make_embedding_explorer()
    before = emb.png
    emb.set(step=0)
    assert emb.png != before and "cosine" in emb.caption.value


def test_live_loss_plot_records_history():
    class History:
        step, loss, eval_step, eval_loss = [1, 2], [5.0, 4.0], [0], [5.2]

    plot = LiveLossPlot(steps=2, every=1)
    plot(2, None, History())
    assert list(plot.line.get_xdata()) == [1, 2]
    with pytest.raises(ValueError, match="steps"):
        LiveLossPlot(steps=0)
    with pytest.raises(ValueError, match="every"):
        LiveLossPlot(steps=5, every=0)


# --- transfer along pre-training ----------------------------------------------------------------


def test_logistic_regression_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 8, generator=g, dtype=torch.float64)
    y = (x[:, 0] - x[:, 1] + 0.5 * torch.randn(96, generator=g, dtype=torch.float64) > 0).double()
    for C in (0.01, 1.0, 10.0):
        w = _logistic_regression(x, y, C)
        sk = LogisticRegression(C=C, max_iter=10_000, tol=1e-10).fit(x.numpy(), y.numpy())
        assert torch.allclose(w[:-1], torch.from_numpy(sk.coef_[0]), atol=1e-4)
        assert abs(w[-1].item() - sk.intercept_[0]) < 1e-4


def test_transfer_along_training_shapes_and_chance(tokenizer):
    torch.manual_seed(0)
    tiny = TinyGPT(world_config(tokenizer, n_embd=16, n_head=2, n_layer=1)).eval()  # the task needs block_size 32
    out = compute_transfer_along_training(
        [tiny, tiny], tokenizer, seeds=(0,), n_labels={"sentiment": 8, "coherence": 8}
    )
    assert set(out) == {"sentiment", "coherence"}
    for task in out.values():
        for reader in ("probe", "static"):
            acc = task[reader]
            assert acc.shape == (2, 1) and ((acc >= 0) & (acc <= 1)).all()
            assert acc[0, 0] == acc[1, 0]  # the same model twice gives the same accuracy
    # a random tiny model knows nothing of the unseen feeling words: near chance
    assert abs(out["sentiment"]["probe"][0, 0] - 0.5) < 0.15


def test_transfer_along_training_bad_input(tiny, tokenizer):
    with pytest.raises(ValueError, match="models"):
        compute_transfer_along_training([], tokenizer)
    with pytest.raises(TypeError, match="model"):
        compute_transfer_along_training(["not a model"], tokenizer)
    with pytest.raises(ValueError, match="seeds"):
        compute_transfer_along_training([tiny], tokenizer, seeds=())


def test_plot_transfer_along_training_draws_every_curve():
    import numpy as np

    from course_utils.plotting import new_figure

    fig, (a, b) = new_figure(2)
    acc = np.array([[0.5, 0.52], [0.9, 0.95]])
    transfer = {t: {"probe": acc, "static": acc} for t in ("sentiment", "coherence")}
    plot_transfer_along_training(a, b, [0, 100], {"same group": [0.0, 0.9]}, transfer)
    assert len(a.lines) == 1 and len(b.lines) == 5  # four curves and the chance line


# --- the exercises' reference masking matches the data set's convention -------------------------


def test_reference_mask_agrees_with_the_dataset_convention(tokenizer):
    """Targets are -100 except where masked; the masked inputs show <mask> there (MaskedLMDataset's convention)."""
    tokens = torch.arange(10, 60)
    x, y = reference_mask_tokens(tokens, tokenizer.mask_id, 0.3, torch.Generator().manual_seed(0))
    chosen = y != -100
    assert bool((x[chosen] == tokenizer.mask_id).all()) and bool((x[~chosen] == tokens[~chosen]).all())
    assert bool((y[chosen] == tokens[chosen]).all()) and 0 < int(chosen.sum()) < 50
