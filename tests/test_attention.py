"""Attention from scratch against PyTorch's own (values and gradients, float64), the toy model, widgets and checks."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.layers import MultiHeadAttention, scaled_dot_product_attention
from course_utils.layers.attention import attention, causal_mask, merge_heads, multi_head_attention, split_heads
from course_utils.models.toy_attention import (
    RecallConfig,
    RecallModel,
    ReversalConfig,
    ToyAttentionModel,
    ask_every_key,
    make_recall_batch,
    make_reversal_batch,
    reversal_accuracy,
    train_recall_model,
    train_reversal_model,
)
from course_utils.pretraining import load_pretrained
from course_utils.widgets.attention import (
    HEADS,
    SENTENCE,
    compute_attention_pattern,
    compute_name_attention,
    compute_recall_snapshot,
    compute_reversal_snapshot,
    corpus_windows,
    example_windows,
    make_attention_explorer,
    make_gpt_attention_explorer,
    make_recall_explorer,
    make_reversal_explorer,
    pronoun_queries,
)

# float64 throughout: differences are then rounding (~1e-15), so a real mistake cannot hide in the tolerance
ATOL, RTOL = 1e-10, 1e-8


def rand(*shape, seed=0, grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(grad)


def grads_of(fn, *inputs):
    """Values of fn(*inputs) and the gradients of a fixed random projection of them w.r.t. each input."""
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*inputs)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(99), dtype=out.dtype)
    (out * weight).sum().backward()
    return out.detach(), [x.grad for x in inputs]


# ---------------------------------------------------------------- scaled_dot_product_attention
@pytest.mark.parametrize("kind", ["plain", "bool_mask", "float_mask", "causal", "causal_rect", "scale", "broadcast"])
def test_sdpa_matches_torch_values_and_gradients(kind):
    q, k, v = rand(2, 3, 5, 8, seed=1), rand(2, 3, 7, 8, seed=2), rand(2, 3, 7, 4, seed=3)
    ours_kw, torch_kw = {}, {}
    if kind == "bool_mask":
        mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(4)) > 0.5
        mask[:, 0] = True  # no fully blocked row here (tested separately)
        ours_kw, torch_kw = {"mask": mask}, {"attn_mask": mask}
    elif kind == "float_mask":
        mask = rand(2, 1, 5, 7, seed=5, grad=False)
        ours_kw, torch_kw = {"mask": mask}, {"attn_mask": mask}
    elif kind in ("causal", "causal_rect"):
        if kind == "causal":
            k, v = rand(2, 3, 5, 8, seed=2), rand(2, 3, 5, 4, seed=3)
        ours_kw, torch_kw = {"causal": True}, {"is_causal": True}
    elif kind == "scale":
        ours_kw, torch_kw = {"scale": 0.7}, {"scale": 0.7}
    elif kind == "broadcast":  # one set of keys and values shared by every head
        k, v = rand(2, 1, 7, 8, seed=2), rand(2, 1, 7, 4, seed=3)
        k_full, v_full = k.expand(2, 3, 7, 8), v.expand(2, 3, 7, 4)
        ours, our_grads = grads_of(lambda a, b, c: scaled_dot_product_attention(a, b, c)[0], q, k, v)
        ref, ref_grads = grads_of(
            lambda a, b, c: F.scaled_dot_product_attention(a, b.expand_as(k_full), c.expand_as(v_full)), q, k, v
        )
        torch.testing.assert_close(ours, ref, atol=ATOL, rtol=RTOL)
        for a, b in zip(our_grads, ref_grads):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)
        return
    ours, our_grads = grads_of(lambda a, b, c: scaled_dot_product_attention(a, b, c, **ours_kw)[0], q, k, v)
    ref, ref_grads = grads_of(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **torch_kw), q, k, v)
    assert ours.shape == (2, 3, 5, 4)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=RTOL)
    for name, a, b in zip("qkv", our_grads, ref_grads):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL, msg=lambda m, name=name: f"grad of {name}: {m}")


def test_sdpa_weights_are_the_softmax_of_scaled_scores():
    q, k, v = rand(4, 6, seed=1, grad=False), rand(5, 6, seed=2, grad=False), rand(5, 3, seed=3, grad=False)
    out, weights = scaled_dot_product_attention(q, k, v, causal=True)
    scores = q @ k.T / math.sqrt(6)
    expected = torch.softmax(scores.masked_fill(~torch.ones(4, 5, dtype=torch.bool).tril(), float("-inf")), -1)
    torch.testing.assert_close(weights, expected, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, dtype=torch.float64))
    assert bool((weights.triu(1) == 0).all())
    torch.testing.assert_close(out, weights @ v)


def test_sdpa_mask_combined_with_causal_blocks_both():
    q, k, v = rand(4, 3, seed=1, grad=False), rand(4, 3, seed=2, grad=False), rand(4, 2, seed=3, grad=False)
    mask = torch.tensor([True, False, True, True]).expand(4, 4)  # key 1 is padding
    _, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=True)
    assert bool((weights[:, 1] == 0).all()) and bool((weights.triu(1) == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, dtype=torch.float64))


def test_sdpa_fully_masked_row_gives_zeros_like_torch_and_finite_gradients():
    q, k, v = rand(1, 3, 4, seed=1), rand(1, 5, 4, seed=2), rand(1, 5, 2, seed=3)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    ours, our_grads = grads_of(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask=mask)[0], q, k, v)
    ref, ref_grads = grads_of(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), q, k, v)
    assert bool((ours[0, 1] == 0).all())
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=RTOL)
    for a, b in zip(our_grads, ref_grads):
        assert bool(torch.isfinite(a).all())
        torch.testing.assert_close(a, b, atol=ATOL, rtol=RTOL)
    _, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert bool((weights[0, 1] == 0).all()) and torch.allclose(
        weights[0, [0, 2]].sum(-1), torch.ones(2, dtype=torch.float64)
    )
    # a float mask of -inf blocks the same way
    float_mask = torch.zeros(3, 5, dtype=torch.float64).masked_fill(~mask, float("-inf"))
    out_f, _ = scaled_dot_product_attention(q, k, v, mask=float_mask)
    torch.testing.assert_close(out_f, ours.to(out_f.dtype), atol=ATOL, rtol=RTOL)


def test_sdpa_scale_is_a_temperature():
    q, k, v = rand(1, 8, seed=1, grad=False) * 3, rand(10, 8, seed=2, grad=False) * 3, rand(10, 1, seed=3, grad=False)
    peaks = [scaled_dot_product_attention(q, k, v, scale=s)[1].max().item() for s in (0.01, 0.1, 1.0, 10.0)]
    assert peaks == sorted(peaks) and peaks[0] < 0.2 and peaks[-1] > 0.99


def test_causal_mask_helper():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert causal_mask(2, 4).shape == (2, 4)
    with pytest.raises(ValueError, match="num_queries"):
        causal_mask(0)


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((torch.randn(3, 4), torch.randn(5, 6), torch.randn(5, 2)), {}, ["same last dimension", "(3, 4)", "(5, 6)"]),
        ((torch.randn(3, 4), torch.randn(5, 4), torch.randn(6, 2)), {}, ["same length", "(5, 4)", "(6, 2)"]),
        ((torch.randn(2, 3, 4), torch.randn(3, 5, 4), torch.randn(3, 5, 2)), {}, ["batch dimensions", "(2,)", "(3,)"]),
        (
            (torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)),
            {"mask": torch.ones(3, 4, dtype=torch.bool)},
            ["mask of shape (3, 4)", "(3, 5)"],
        ),
        (
            (torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)),
            {"mask": torch.ones(3, 5, dtype=torch.long)},
            ["mask must be boolean", "int64"],
        ),
        (([[1.0]], torch.randn(5, 4), torch.randn(5, 2)), {}, ["q must be a torch.Tensor", "list"]),
        ((torch.randn(4), torch.randn(5, 4), torch.randn(5, 2)), {}, ["q must have at least 2 dimensions", "(4,)"]),
        ((torch.randn(3, 4), torch.randn(5, 4).double(), torch.randn(5, 2)), {}, ["share a dtype"]),
        ((torch.ones(3, 4, dtype=torch.long),) * 3, {}, ["floating point"]),
        ((torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)), {"scale": -1.0}, ["scale must be"]),
        (
            (torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)),
            {"mask": [[True]]},
            ["mask must be None or a torch.Tensor"],
        ),
        (
            (torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)),
            {"causal": "yes"},
            ["causal must be True or False"],
        ),
    ],
)
def test_sdpa_bad_input_is_explained(args, kwargs, words):
    with pytest.raises(ValueError) as info:
        scaled_dot_product_attention(*args, **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ---------------------------------------------------------------- MultiHeadAttention
def paired(embed_dim=12, num_heads=3, bias=True, kdim=None, vdim=None, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, kdim=kdim, vdim=vdim, batch_first=True).double()
    with torch.no_grad():  # non-zero biases, so a bias copied to the wrong place shows
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.normal_()
    ours = MultiHeadAttention(embed_dim, num_heads, bias=bias, kdim=kdim, vdim=vdim).double().load_from_torch(theirs)
    return ours, theirs


@pytest.mark.parametrize("setting", ["self", "cross", "bool_mask", "causal", "no_bias", "kdim_vdim"])
def test_mha_matches_torch_multiheadattention(setting):
    kdim = vdim = None
    if setting == "kdim_vdim":
        kdim, vdim = 5, 7
    ours, theirs = paired(bias=setting != "no_bias", kdim=kdim, vdim=vdim)
    x = rand(2, 4, 12, seed=1)
    key = rand(2, 6, kdim or 12, seed=2) if setting in ("cross", "kdim_vdim") else x
    value = rand(2, 6, vdim or 12, seed=3) if setting in ("cross", "kdim_vdim") else x
    our_kw, their_kw = {}, {}
    if setting == "bool_mask":
        allowed = torch.rand(4, 4, generator=torch.Generator().manual_seed(4)) > 0.4
        allowed[:, 0] = True
        our_kw, their_kw = {"mask": allowed}, {"attn_mask": ~allowed}  # torch's MHA: True = blocked
    elif setting == "causal":
        our_kw, their_kw = {"causal": True}, {"attn_mask": ~causal_mask(4), "is_causal": True}
    out, weights = ours(x, key, value, **our_kw)
    ref, ref_avg = theirs(x, key, value, **their_kw)
    _, ref_heads = theirs(x, key, value, average_attn_weights=False, **their_kw)
    assert out.shape == ref.shape and weights.shape == (2, 3, 4, key.shape[1])
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(weights.mean(dim=1), ref_avg, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(weights, ref_heads, atol=ATOL, rtol=RTOL)
    # gradients of every parameter and of the input
    out.pow(2).sum().backward()
    ref.pow(2).sum().backward()
    ours_params = dict(ours.named_parameters())
    w_q, w_k, w_v = (ours_params[f"{n}_proj.weight"].grad for n in "qkv")
    if theirs._qkv_same_embed_dim:
        torch.testing.assert_close(torch.cat([w_q, w_k, w_v]), theirs.in_proj_weight.grad, atol=ATOL, rtol=RTOL)
    else:
        torch.testing.assert_close(w_k, theirs.k_proj_weight.grad, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(ours.out_proj.weight.grad, theirs.out_proj.weight.grad, atol=ATOL, rtol=RTOL)
    if setting != "no_bias":
        our_bias = torch.cat([ours.q_proj.bias.grad, ours.k_proj.bias.grad, ours.v_proj.bias.grad])
        torch.testing.assert_close(our_bias, theirs.in_proj_bias.grad, atol=ATOL, rtol=RTOL)


def test_mha_equals_projections_then_torch_sdpa_values_and_gradients():
    ours, _ = paired()
    x = rand(2, 5, 12, seed=1)
    mask = torch.rand(5, 5, generator=torch.Generator().manual_seed(2)) > 0.3
    mask[:, 0] = True

    def by_hand(inp, **kw):
        def heads(t):
            return t.view(2, 5, 3, 4).transpose(1, 2)  # (B, H, T, D)

        o = F.scaled_dot_product_attention(
            heads(ours.q_proj(inp)), heads(ours.k_proj(inp)), heads(ours.v_proj(inp)), **kw
        )
        return ours.out_proj(o.transpose(1, 2).reshape(2, 5, 12))

    for our_kw, torch_kw in (({}, {}), ({"mask": mask}, {"attn_mask": mask}), ({"causal": True}, {"is_causal": True})):
        got, got_grad = grads_of(lambda t, kw=our_kw: ours(t, **kw)[0], x)
        ref, ref_grad = grads_of(lambda t, kw=torch_kw: by_hand(t, **kw), x)
        torch.testing.assert_close(got, ref, atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(got_grad[0], ref_grad[0], atol=ATOL, rtol=RTOL)


def test_mha_need_weights_and_defaults_to_self_attention():
    ours, _ = paired()
    x = rand(1, 3, 12, seed=1, grad=False)
    out, weights = ours(x, need_weights=False)
    assert weights is None
    torch.testing.assert_close(out, ours(x, x, x)[0])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"embed_dim": 10, "num_heads": 3}, ["divisible", "10", "3"]),
        ({"embed_dim": 0, "num_heads": 1}, ["embed_dim must be a positive int"]),
        ({"embed_dim": 8, "num_heads": 2.0}, ["num_heads must be a positive int"]),
        ({"embed_dim": 8, "num_heads": 2, "bias": "yes"}, ["bias must be True or False"]),
    ],
)
def test_mha_bad_construction(kwargs, words):
    with pytest.raises(ValueError) as info:
        MultiHeadAttention(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_mha_bad_forward_and_bad_copy():
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"query must have shape \(batch, length, 8\), got \(2, 3, 6\)"):
        mha(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="share the batch size"):
        mha(torch.randn(2, 3, 8), torch.randn(3, 3, 8))
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        mha([[1.0]])
    with pytest.raises(ValueError, match="mask of shape"):
        mha(torch.randn(2, 3, 8), mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="sizes differ"):
        mha.load_from_torch(nn.MultiheadAttention(8, 4, batch_first=True))
    with pytest.raises(ValueError, match="nn.MultiheadAttention"):
        mha.load_from_torch(nn.Linear(8, 8))


# ---------------------------------------------------------------- toy model
def test_reversal_model_learns_to_reverse_with_an_antidiagonal():
    result = train_reversal_model(ReversalConfig(seed=0))
    per_digit, per_sequence = reversal_accuracy(result.model, result.test_x, result.test_y)
    assert per_digit >= 0.98 and per_sequence >= 0.9, (per_digit, per_sequence)
    assert result.snapshot_accuracy[0] < 0.2  # it starts at chance, so the test can fail
    final = result.snapshot_weights[-1][:, 0]  # (n_show, T, T)
    assert final.flip(-1).diagonal(dim1=-2, dim2=-1).mean().item() > 0.9
    assert len(result.snapshot_steps) == len(result.snapshot_weights) == len(result.snapshot_predictions)


def test_causal_reversal_model_cannot_reverse_the_first_half():
    result = train_reversal_model(ReversalConfig(causal=True, steps=60))
    correct = (result.model(result.test_x)[0].argmax(-1) == result.test_y).float().mean(0)  # per position
    assert correct[:3].max().item() < 0.3 and correct[5:].min().item() > 0.9, correct


def test_toy_model_and_batch_bad_input():
    x, y = make_reversal_batch(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, x.flip(-1)) and x.dtype == torch.long
    with pytest.raises(ValueError, match="batch_size"):
        make_reversal_batch(0)
    model = ToyAttentionModel()
    with pytest.raises(ValueError, match="long tensor"):
        model(torch.randn(2, 8))
    with pytest.raises(ValueError, match="at most 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="ReversalConfig"):
        train_reversal_model({"steps": 3})


# ---------------------------------------------------------------- widgets
@pytest.mark.parametrize("head", list(HEADS))
def test_attention_pattern_rows_sum_to_one_and_causal_blocks_the_future(head):
    pattern = compute_attention_pattern(head, 1.0, causal=True)
    w = pattern["weights"]
    assert w.shape == (len(SENTENCE), len(SENTENCE))
    torch.testing.assert_close(w.sum(-1), torch.ones(len(SENTENCE)))
    assert bool((w.triu(1) == 0).all()) and torch.equal(pattern["allowed"], causal_mask(len(SENTENCE)))


def test_attention_heads_show_their_designed_patterns():
    it, cat = SENTENCE.index("it"), SENTENCE.index("cat")
    assert compute_attention_pattern("it → who?")["weights"][it].argmax().item() == cat
    prev = compute_attention_pattern("previous word")["weights"]
    assert prev[1:].argmax(-1).tolist() == list(range(len(SENTENCE) - 1))
    same = compute_attention_pattern("same word type", 0.3)["weights"]
    assert same[cat, SENTENCE.index("mat")] > 0.45  # both nouns
    nouns = compute_attention_pattern("all → nouns")["weights"]
    assert set(nouns.argmax(-1).tolist()) <= {cat, SENTENCE.index("mat")}


def test_temperature_sharpens_and_flattens():
    spreads = [compute_attention_pattern("it → who?", t)["effective_keys"][7].item() for t in (0.2, 1.0, 5.0, 50.0)]
    assert spreads == sorted(spreads) and spreads[0] < 1.1 and spreads[-1] > 9.5


def test_compute_functions_bad_input():
    with pytest.raises(ValueError, match="head must be one of"):
        compute_attention_pattern("nope")
    with pytest.raises(ValueError, match="temperature"):
        compute_attention_pattern("previous word", 0.0)
    with pytest.raises(ValueError, match="query"):
        make_attention_explorer(query=10)


def _png(explorer):
    return explorer.png


def test_attention_explorer_every_control_changes_the_figure():
    explorer = make_attention_explorer()
    for key, value in (("head", "previous word"), ("query", 2), ("temperature", 2.5), ("causal", True)):
        before = _png(explorer)
        explorer.controls[key].value = value
        assert _png(explorer) != before, key
        assert "Cannot draw" not in explorer.caption.value


def test_reversal_explorer_and_snapshot():
    result = train_reversal_model(ReversalConfig(steps=20, snapshot_every=10))
    snap = compute_reversal_snapshot(result, 0, 1)
    assert snap["step"] == 0 and snap["weights"].shape == (8, 8) and torch.equal(snap["target"], snap["tokens"].flip(0))
    with pytest.raises(ValueError, match="step_index"):
        compute_reversal_snapshot(result, 3, 0)
    explorer = make_reversal_explorer(result)
    for key, value in (("step", 10), ("example", 2)):
        before = _png(explorer)
        explorer.controls[key].value = value
        assert _png(explorer) != before, key
    buffer = io.BytesIO()
    explorer.figure.savefig(buffer, format="png")
    with pytest.raises(ValueError, match="ReversalResult"):
        make_reversal_explorer("trained")


# ---------------------------------------------------------------- the lesson's lines (mechanism cells)
def test_the_unchecked_core_is_what_the_public_functions_run():
    q, k, v = rand(2, 5, 4, seed=1, grad=False), rand(2, 6, 4, seed=2, grad=False), rand(2, 6, 3, seed=3, grad=False)
    mask = torch.rand(5, 6, generator=torch.Generator().manual_seed(4)) > 0.3
    for kwargs in ({}, {"mask": mask}, {"causal": True}, {"mask": mask, "causal": True, "scale": 0.4}):
        core = attention(q, k, v, kwargs.get("mask"), kwargs.get("causal", False), kwargs.get("scale"))
        public = scaled_dot_product_attention(q, k, v, **kwargs)
        for a, b in zip(core, public):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
    x = rand(2, 3, 12, seed=5, grad=False)
    assert torch.equal(merge_heads(split_heads(x, 4)), x)
    assert split_heads(x, 4).shape == (2, 4, 3, 3)
    mha, _ = paired()
    out, weights = multi_head_attention(mha, x, x, x, None, True)
    ref_out, ref_weights = mha(x, causal=True)
    torch.testing.assert_close(out, ref_out, atol=0, rtol=0)
    torch.testing.assert_close(weights, ref_weights, atol=0, rtol=0)


def test_mha_bad_causal_and_mask_dtype():
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="causal must be True or False"):
        mha(torch.randn(1, 3, 8), causal=1)
    with pytest.raises(ValueError, match="mask must be boolean"):
        mha(torch.randn(1, 3, 8), mask=torch.ones(3, 3, dtype=torch.long))


# ---------------------------------------------------------------- associative recall
def test_recall_batch_pairs_distinct_keys_and_the_answer_is_the_asked_value():
    batch = make_recall_batch(64, generator=torch.Generator().manual_seed(0))
    assert batch.keys.shape == batch.values.shape == (64, 6)
    assert all(len(set(row)) == 6 for row in batch.keys.tolist())
    assert torch.equal(batch.keys[torch.arange(64), batch.where], batch.question)
    assert torch.equal(batch.values[torch.arange(64), batch.where], batch.answer)
    text = batch.text(0)
    assert text.count(" ") == 7 and "|" in text
    with pytest.raises(ValueError, match="num_pairs <= num_keys"):
        make_recall_batch(2, num_pairs=13, num_keys=13)
    with pytest.raises(ValueError, match="batch_size"):
        make_recall_batch(0)


@pytest.mark.parametrize("seed", [0, 1])
def test_recall_model_finds_the_pair_by_content(seed):
    result = train_recall_model(RecallConfig(seed=seed))
    assert result.snapshot_accuracy[0] < 0.25 and result.accuracy > 0.95, (result.snapshot_accuracy[0], result.accuracy)
    assert result.snapshot_on_target[-1] > 0.95
    weights, answers = ask_every_key(result.model, result.test, 16)  # (16, P, P): row j asks for pair j's key
    assert weights.shape == (16, 6, 6) and answers.shape == (16, 6)
    assert weights.diagonal(dim1=-2, dim2=-1).mean().item() > 0.8
    # shuffle the pairs: the attention follows the pair wherever it goes (no positions in this model)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    test = result.test
    with torch.no_grad():
        _, w = result.model(test.keys, test.values, test.question)
        _, w_perm = result.model(test.keys[:, perm], test.values[:, perm], test.question)
    torch.testing.assert_close(w_perm, w[..., perm])


def test_recall_model_bad_input():
    model = RecallModel()
    with pytest.raises(ValueError, match="keys must be a long tensor"):
        model(torch.zeros(2, 6), torch.zeros(2, 6, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        model(
            torch.zeros(2, 6, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="RecallConfig"):
        train_recall_model({"steps": 3})


def test_recall_explorer_and_snapshot():
    result = train_recall_model(RecallConfig(steps=8, snapshot_every=4))
    snap = compute_recall_snapshot(result, 2, 1)
    assert snap["step"] == 8 and snap["weights"].shape == (6, 6) and len(snap["pairs"]) == 6
    with pytest.raises(ValueError, match="step_index"):
        compute_recall_snapshot(result, 3, 0)
    explorer = make_recall_explorer(result)
    for key, value in (("step", 4), ("example", 2), ("ask", 3)):
        before = _png(explorer)
        explorer.controls[key].value = value
        assert _png(explorer) != before, key
    with pytest.raises(ValueError, match="RecallResult"):
        make_recall_explorer("trained")


# ---------------------------------------------------------------- the pre-trained TinyGPT's own attention
@pytest.fixture(scope="module")
def pretrained():
    model, tokenizer, _ = load_pretrained()
    return model, tokenizer


def test_pronoun_queries_find_the_latest_name(pretrained):
    _, tokenizer = pretrained
    ids = tokenizer.encode("anna went to the park. she smiled.\ntom saw a dog. he laughed.")
    found = pronoun_queries(torch.tensor([ids]), tokenizer)
    words = [tokenizer.decode([i]) for i in ids]
    assert [(words[q["query"] + 1], words[q["name"]]) for q in found] == [("she", "anna"), ("he", "tom")]
    assert found[0]["others"] == [] and [words[p] for p in found[1]["others"]] == ["anna"]
    assert words[found[0]["span_end"]] == "tom"


def test_compute_name_attention_on_hand_made_weights():
    # one window of 4 tokens: name at 0, query at 2; weights put 0.7 on the name in layer 0 head 1
    weights = torch.full((1, 1, 2, 4, 4), 0.25)
    weights[0, 0, 1, 2] = torch.tensor([0.7, 0.1, 0.2, 0.0])
    queries = [{"window": 0, "query": 2, "name": 0, "others": [], "span_end": 4}]
    stats = compute_name_attention(weights, queries)
    assert stats["on_name"][0].tolist() == pytest.approx([0.25, 0.7])
    assert stats["argmax_on_name"][0, 1] == 1.0 and stats["uniform"] == pytest.approx(1 / 3)
    assert stats["elsewhere"][0].tolist() == pytest.approx([0.25, 0.25])  # positions 1 and 3
    with pytest.raises(ValueError, match="empty"):
        compute_name_attention(weights, [])
    with pytest.raises(ValueError, match="pronoun_queries"):
        compute_name_attention(weights, [{"window": 0}])


def test_a_pretrained_head_looks_at_the_name_before_a_pronoun(pretrained):
    model, tokenizer = pretrained
    windows = corpus_windows(tokenizer, 150, model.config.block_size, seed=4)
    with torch.no_grad():
        weights = model.attention_weights(windows)
    stats = compute_name_attention(weights, pronoun_queries(windows, tokenizer))
    best = stats["on_name"].flatten().argmax()
    assert stats["count"] > 200
    assert stats["on_name"].flatten()[best] > 5 * stats["uniform"]
    assert stats["on_name"].flatten()[best] > 3 * stats["elsewhere"].flatten()[best]


def test_gpt_attention_explorer(pretrained):
    model, tokenizer = pretrained
    windows = example_windows(tokenizer, n=2, length=16)
    assert windows.shape == (2, 16)
    explorer = make_gpt_attention_explorer(model, tokenizer, windows)
    for key in ("text", "layer", "head", "query"):
        control = explorer.controls[key]
        before = _png(explorer)
        options = getattr(control, "options", None)
        values = [v if not isinstance(v, tuple) else v[1] for v in options] if options else [0, 5]
        control.value = next(v for v in values if v != control.value)
        assert _png(explorer) != before, key
    with pytest.raises(ValueError, match="windows"):
        make_gpt_attention_explorer(model, tokenizer, windows.float())
    with pytest.raises(ValueError, match="head"):
        make_gpt_attention_explorer(model, tokenizer, windows, head=9)
