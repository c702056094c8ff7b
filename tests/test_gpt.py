"""Tests for course_utils.models.gpt: shapes, masking, pooling, generation, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from course_utils.models import GPTConfig, TinyGPT


def small_config(**overrides) -> GPTConfig:
    settings = dict(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16)
    settings.update(overrides)
    return GPTConfig(**settings)


def model_for(**overrides) -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(small_config(**overrides)).eval()


def test_forward_shapes_and_loss_matches_cross_entropy():
    model = model_for()
    idx = torch.randint(1, 50, (3, 10))
    targets = torch.randint(1, 50, (3, 10))
    targets[0, :4] = -100  # ignored positions
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 10, 50)
    expected = F.cross_entropy(logits.reshape(-1, 50), targets.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, expected)
    assert model(idx)[1] is None
    assert model.hidden(idx).shape == (3, 10, 16)


def test_lm_head_is_tied_to_token_embedding():
    model = model_for()
    assert model.lm_head.weight is model.transformer.wte.weight


def test_fresh_model_predicts_near_uniform():
    # small init (std 0.02): the untrained loss is close to log(V), as in nanoGPT
    model = model_for()
    idx = torch.randint(1, 50, (4, 16))
    loss = model(idx, torch.randint(1, 50, (4, 16)))[1].item()
    assert abs(loss - torch.log(torch.tensor(50.0)).item()) < 0.1


def test_causal_model_cannot_look_ahead():
    model = model_for(causal=True)
    idx = torch.randint(1, 50, (2, 12))
    changed = idx.clone()
    changed[:, 8] = (changed[:, 8] % 49) + 1  # a different token at position 8
    a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :8], b[:, :8], rtol=0, atol=1e-6)  # the past is unaffected
    assert not torch.allclose(a[:, 8:], b[:, 8:])  # from position 8 on, it is


def test_bidirectional_model_looks_both_ways():
    model = model_for(causal=False)
    idx = torch.randint(1, 50, (2, 12))
    changed = idx.clone()
    changed[:, 8] = (changed[:, 8] % 49) + 1
    a, b = model(idx)[0], model(changed)[0]
    assert (a[:, :8] - b[:, :8]).abs().max() > 1e-4  # earlier positions see the later change


def test_attention_matches_a_reference_written_out_by_hand():
    # float64, one block: the SDPA call equals softmax(q k^T / sqrt(hs) + causal mask) v
    torch.manual_seed(0)
    model = TinyGPT(small_config(n_layer=1)).double().eval()
    attn = model.transformer.h[0].attn
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    q, k, v = attn.c_attn(x).split(16, dim=2)
    q, k, v = (t.view(2, 7, 2, 8).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / 8**0.5
    scores = scores.masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 16)
    torch.testing.assert_close(attn(x), attn.c_proj(y), rtol=1e-10, atol=1e-12)


def test_padding_does_not_change_features():
    for causal in (True, False):
        model = model_for(causal=causal, n_classes=3)
        seq = torch.randint(1, 50, (1, 6))
        padded = torch.cat([seq, torch.zeros(1, 4, dtype=torch.long)], dim=1)  # right padding (pad_id 0)
        for pooling in ("last", "mean"):
            torch.testing.assert_close(model.features(seq, pooling), model.features(padded, pooling), atol=1e-5, rtol=0)
        assert model.classify(padded).shape == (1, 3)


def test_pooling_choices():
    model = model_for()
    idx = torch.randint(1, 50, (2, 5))
    h = model.hidden(idx)
    torch.testing.assert_close(model.features(idx, "last"), h[:, -1])
    torch.testing.assert_close(model.features(idx, "mean"), h.mean(1))
    torch.testing.assert_close(model.features(idx), h[:, -1])  # "auto" is "last" when causal
    bidir = model_for(causal=False)
    torch.testing.assert_close(bidir.features(idx), bidir.hidden(idx).mean(1))


def test_classification_head_and_add_classifier():
    model = model_for()
    with pytest.raises(ValueError, match="no classification head"):
        model.classify(torch.ones(1, 3, dtype=torch.long))
    model.add_classifier(4)
    assert model.config.n_classes == 4
    assert model.classify(torch.ones(2, 3, dtype=torch.long)).shape == (2, 4)
    with pytest.raises(ValueError, match="n_classes"):
        model.add_classifier(0)


def test_generate_shapes_determinism_and_top_k():
    model = model_for()
    prompt = torch.randint(1, 50, (2, 3))
    out = model.generate(prompt, 20, generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    again = model.generate(prompt, 20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    # top_k=1 is greedy: every new token is the argmax of the model's prediction
    greedy = model.generate(prompt, 5, top_k=1)
    for t in range(3, 8):
        assert greedy[0, t] == model(greedy[:, :t])[0][0, -1].argmax()
    # a low temperature concentrates samples; a long prompt is cropped to block_size
    assert model.generate(torch.randint(1, 50, (1, 30)), 2).shape == (1, 32)
    cold = model.generate(prompt[:1].repeat(64, 1), 1, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert cold[:, -1].unique().numel() == 1


def test_generate_bad_input():
    model = model_for()
    prompt = torch.ones(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 3, temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(prompt, 3, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(prompt, -1)
    with pytest.raises(ValueError, match="bidirectional"):
        model_for(causal=False).generate(prompt, 3)


def test_config_validation_and_round_trip():
    config = small_config(n_classes=2, causal=False)
    assert GPTConfig.from_dict(config.to_dict()) == config
    assert all(isinstance(v, (int, float, bool, str)) for v in config.to_dict().values())
    for bad, match in (
        (dict(n_head=3), "n_head"),
        (dict(n_layer=0), "n_layer"),
        (dict(dropout=1.5), "dropout"),
        (dict(pooling="max"), "pooling"),
        (dict(n_classes=-1), "n_classes"),
        (dict(pad_id=99), "pad_id"),
        (dict(vocab_size=2.5), "vocab_size"),
    ):
        with pytest.raises(ValueError, match=match):
            small_config(**bad)
    with pytest.raises(ValueError, match="unknown"):
        GPTConfig.from_dict({**config.to_dict(), "n_experts": 8})
    assert dataclasses.is_dataclass(GPTConfig)


def test_forward_bad_input():
    model = model_for()
    with pytest.raises(ValueError, match="block_size"):
        model(torch.ones(1, 17, dtype=torch.long))
    with pytest.raises(TypeError, match="LongTensor"):
        model(torch.ones(1, 4))
    with pytest.raises(TypeError, match="LongTensor"):
        model(torch.ones(4, dtype=torch.long))
    with pytest.raises(TypeError, match="GPTConfig"):
        TinyGPT({"vocab_size": 10})
    with pytest.raises(ValueError, match="pooling"):
        model.features(torch.ones(1, 3, dtype=torch.long), pooling="max")


def test_gradients_reach_every_parameter():
    model = model_for(n_classes=2).train()
    idx = torch.randint(1, 50, (2, 8))
    loss = model(idx, torch.randint(1, 50, (2, 8)))[1] + model.classify(idx).sum()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


# --- attention_weights ----------------------------------------------------------------------


def sharp_model(**overrides) -> TinyGPT:
    """A model whose attention is far from uniform (a fresh init's std 0.02 makes every row flat)."""
    model = model_for(**overrides)
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight.normal_(0, 0.5)
    return model


def test_attention_weights_shape_rows_and_causal_mask():
    model = sharp_model()
    idx = torch.randint(1, 50, (3, 9))
    w = model.attention_weights(idx)
    assert w.shape == (3, 2, 2, 9, 9)  # (B, n_layer, n_head, T, T)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 2, 9))
    assert (w.triu(1) == 0).all()  # causal: no weight on a later key
    assert w.max() > 0.5  # not uniform: the test below is not trivially true
    single = model.attention_weights(idx[1])
    assert single.shape == (2, 2, 9, 9)  # one sequence (T,) -> (n_layer, n_head, T, T)
    torch.testing.assert_close(single, w[1])


@pytest.mark.parametrize("causal", [True, False])
def test_attention_weights_are_the_ones_forward_uses(causal):
    # Recompute every block's attention output as weights @ v (heads merged, projected) and
    # compare it with what the fused SDPA call in the forward pass gave, captured by a hook.
    model = sharp_model(causal=causal, dropout=0.1)
    idx = torch.randint(1, 50, (2, 11))
    idx[1, 7:] = 0  # right padding, masked out of the keys when bidirectional
    captured = []
    hooks = [
        block.attn.register_forward_hook(lambda mod, inp, out: captured.append((inp[0], out)))
        for block in model.transformer.h
    ]
    model.train()  # attention_weights must switch dropout off by itself, and restore the mode
    w = model.attention_weights(idx)
    assert model.training
    model.eval()
    captured.clear()
    model(idx)
    for h in hooks:
        h.remove()
    assert len(captured) == 2
    for layer, (x_in, out) in enumerate(captured):
        attn = model.transformer.h[layer].attn
        v = attn.c_attn(x_in).split(16, dim=2)[2].view(2, 11, 2, 8).transpose(1, 2)  # (B, nh, T, hs)
        y = (w[:, layer] @ v).transpose(1, 2).reshape(2, 11, 16)
        torch.testing.assert_close(attn.c_proj(y), out, rtol=1e-4, atol=1e-5)
    if not causal:
        assert (w[1, :, :, :, 7:] == 0).all()  # no weight on padding
        assert (w[0].triu(1) > 0).any()  # bidirectional: later keys get weight


def test_attention_weights_follow_the_input():
    model = sharp_model()
    a = torch.randint(1, 50, (1, 8))
    b = a.clone()
    b[0, 2] = (b[0, 2] % 49) + 1
    wa, wb = model.attention_weights(a), model.attention_weights(b)
    torch.testing.assert_close(wa[..., :2, :2], wb[..., :2, :2])  # before the change: same
    assert not torch.allclose(wa[..., 2:, :], wb[..., 2:, :])  # from the changed token on: different


def test_attention_weights_bad_input():
    model = model_for()
    with pytest.raises(TypeError, match="LongTensor"):
        model.attention_weights(torch.ones(1, 4))  # float ids
    with pytest.raises(TypeError, match="LongTensor"):
        model.attention_weights([1, 2, 3])
    with pytest.raises(TypeError, match="LongTensor"):
        model.attention_weights(torch.ones(1, 1, 4, dtype=torch.long))  # 3-D
    with pytest.raises(ValueError, match="block_size"):
        model.attention_weights(torch.ones(17, dtype=torch.long))
    with pytest.raises(ValueError, match="sequence length"):
        model.attention_weights(torch.ones(1, 0, dtype=torch.long))
