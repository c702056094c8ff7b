"""BatchNorm1d from scratch against torch.nn.BatchNorm1d; its lesson functions; the depth-histogram widget.

The exercise checks are tested in test_exercises_batch_normalization.py.

Tolerances: float64 values and gradients agree to 1e-10 (the two compute the same sums in a
different order); float32 outputs to 1e-5.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.layers import BatchNorm1d
from course_utils.layers.batchnorm import (
    batch_norm_backward,
    batch_norm_eval,
    batch_norm_train,
    update_running_stats,
)
from course_utils.widgets.batch_normalization import (
    DEPTH_ACTIVATIONS,
    _histograms,
    _raw_network,
    compute_depth_histograms,
)

TOL64 = {"atol": 1e-10, "rtol": 1e-10}
SHAPES = [(8, 5), (4, 5, 7)]  # (N, C) and (N, C, L)


def _pair(c: int = 5, dtype=torch.float64, **kwargs) -> tuple[BatchNorm1d, nn.BatchNorm1d]:
    """Ours and PyTorch's, with the same random (non-trivial) weight and bias."""
    ours = BatchNorm1d(c, **kwargs).to(dtype)
    theirs = nn.BatchNorm1d(c, **kwargs).to(dtype)
    if ours.affine:
        with torch.no_grad():
            ours.weight.uniform_(0.5, 1.5)
            ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _batch(shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype) * 3 + 2


@pytest.mark.parametrize("shape", SHAPES)
def test_train_forward_and_gradients_match_pytorch(shape):
    torch.manual_seed(0)
    ours, theirs = _pair()
    x1 = _batch(shape, 1).requires_grad_(True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs(x2)
    torch.testing.assert_close(y1, y2, **TOL64)
    upstream = torch.randn(y1.shape, dtype=torch.float64)  # a non-trivial loss: sum(y * upstream)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, **TOL64)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL64)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, **TOL64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
def test_running_stats_and_eval_match_pytorch(shape, momentum):
    ours, theirs = _pair(momentum=momentum)
    for step in range(4):
        x = _batch(shape, 10 + step)
        torch.testing.assert_close(ours(x), theirs(x), **TOL64)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean, **TOL64)
    torch.testing.assert_close(ours.running_var, theirs.running_var, **TOL64)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 4
    ours.eval()
    theirs.eval()
    x = _batch((3, *shape[1:]), 99)
    torch.testing.assert_close(ours(x), theirs(x), **TOL64)


def test_momentum_none_is_the_plain_average_of_batch_statistics():
    ours = BatchNorm1d(3, momentum=None).double()
    batches = [_batch((6, 3), s) for s in range(3)]
    for x in batches:
        ours(x)
    expected_mean = torch.stack([x.mean(0) for x in batches]).mean(0)
    expected_var = torch.stack([x.var(0) for x in batches]).mean(0)  # unbiased, as PyTorch keeps it
    torch.testing.assert_close(ours.running_mean, expected_mean, **TOL64)
    torch.testing.assert_close(ours.running_var, expected_var, **TOL64)


def test_eval_ignores_the_batch_and_does_not_update():
    ours, _ = _pair()
    for step in range(3):
        ours(_batch((8, 5), step))
    ours.eval()
    before = (ours.running_mean.clone(), ours.running_var.clone(), ours.num_batches_tracked.item())
    x = _batch((6, 5), 42)
    alone = ours(x[:1])  # a batch of one is fine in eval mode
    together = ours(x)[:1]
    torch.testing.assert_close(alone, together, **TOL64)
    assert torch.equal(ours.running_mean, before[0]) and torch.equal(ours.running_var, before[1])
    assert ours.num_batches_tracked.item() == before[2]


def test_float32_matches_and_train_output_is_normalised():
    ours, theirs = _pair(dtype=torch.float32)
    x = _batch((64, 5), 3, dtype=torch.float32)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
    plain = BatchNorm1d(5)
    y = plain(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(0, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)


@pytest.mark.parametrize("affine,track", [(False, True), (True, False), (False, False)])
def test_options_affine_and_track_running_stats_match_pytorch(affine, track):
    ours, theirs = _pair(affine=affine, track_running_stats=track)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert set(ours.state_dict()) == set(theirs.state_dict())
    for step in range(2):
        x = _batch((6, 5, 2), step)
        torch.testing.assert_close(ours(x), theirs(x), **TOL64)
    ours.eval()
    theirs.eval()
    x = _batch((4, 5, 2), 7)
    torch.testing.assert_close(ours(x), theirs(x), **TOL64)


def test_state_dict_loads_into_pytorch_and_back():
    ours, _ = _pair()
    ours(_batch((8, 5), 0))
    theirs = nn.BatchNorm1d(5).double()
    theirs.load_state_dict(ours.state_dict())
    again = BatchNorm1d(5).double()
    again.load_state_dict(theirs.state_dict())
    ours.eval()
    again.eval()
    x = _batch((4, 5), 1)
    torch.testing.assert_close(again(x), ours(x), **TOL64)


def test_reset_running_stats():
    ours, _ = _pair()
    ours(_batch((8, 5), 0))
    ours.reset_running_stats()
    assert torch.equal(ours.running_mean, torch.zeros(5, dtype=torch.float64))
    assert torch.equal(ours.running_var, torch.ones(5, dtype=torch.float64))
    assert ours.num_batches_tracked.item() == 0


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"num_features": 0}, "num_features"),
        ({"num_features": 2.5}, "num_features"),
        ({"num_features": True}, "num_features"),
        ({"num_features": 3, "eps": -1e-5}, "eps"),
        ({"num_features": 3, "eps": float("nan")}, "eps"),
        ({"num_features": 3, "momentum": 1.5}, "momentum"),
        ({"num_features": 3, "momentum": -0.1}, "momentum"),
        ({"num_features": 3, "momentum": "fast"}, "momentum"),
    ],
)
def test_bad_constructor_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        BatchNorm1d(**kwargs)


def test_bad_inputs():
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\)"):
        bn(torch.randn(4))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\)"):
        bn(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"num_features=3.*\(4, 5\)"):
        bn(torch.randn(4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(torch.randn(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(torch.randn(1, 3, 1))
    with pytest.raises(TypeError, match="floating-point"):
        bn(torch.ones(4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        bn([[1.0, 2.0, 3.0]])
    bn(torch.randn(1, 3, 2))  # one example but two positions: two values per channel, as in PyTorch
    bn.eval()
    bn(torch.randn(1, 3))  # a batch of one is fine with running statistics


# --- widget -------------------------------------------------------------------------------


def test_depth_histograms_without_bn_collapse_and_with_bn_stay_normalised():
    plain = compute_depth_histograms("tanh", 0.5, 10, False)
    with_bn = compute_depth_histograms("tanh", 0.5, 10, True)
    assert plain["hist"].shape == (10, 40) and plain["std"].shape == (10,)
    assert plain["std"][-1] < 0.01 * plain["std"][0]  # shrinks layer after layer
    assert 0.5 < with_bn["std"].min() and with_bn["std"].max() < 0.8  # tanh of unit-variance inputs
    exploding = compute_depth_histograms("relu", 2.5, 12, False)
    assert exploding["std"][-1] > 100 * exploding["std"][0]
    assert exploding["beyond"][-1] > 0.3
    saturating = compute_depth_histograms("tanh", 3.0, 10, False)
    assert saturating["saturated"][-1] > 0.3


def test_depth_histograms_with_bn_do_not_depend_on_weight_scale():
    a = compute_depth_histograms("relu", 0.3, 6, True)
    b = compute_depth_histograms("relu", 2.5, 6, True)
    assert abs(a["std"] - b["std"]).max() < 1e-3


@pytest.mark.parametrize("activation", DEPTH_ACTIVATIONS)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_depth_histograms_match_the_same_network_in_pytorch_layer_by_layer(activation, batch_norm):
    """The widget computes every layer's statistics and histograms at once; here the same network runs
    in PyTorch's modules, one layer at a time, each statistic and histogram taken on its own."""
    scale, depth, width = 1.7, 6, 128
    out = compute_depth_histograms(activation, scale, depth, batch_norm, width=width)
    x, raw = _raw_network(width, 256, 0)
    low, high = out["range"]
    act = {"tanh": nn.Tanh(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "identity": nn.Identity()}[activation]
    h = x
    for layer in range(depth):
        linear = nn.Linear(width, width, bias=False)
        linear.weight.data = (raw[layer] * (scale / width**0.5)).T  # h @ W is linear(h) with weight W^T
        z = linear(h)
        if batch_norm:
            z = nn.BatchNorm1d(width, affine=False, track_running_stats=False)(z)
        h = act(z).detach()
        assert out["std"][layer] == pytest.approx(h.std().item(), rel=1e-4)
        assert out["beyond"][layer] == pytest.approx(((h < low) | (h > high)).float().mean().item(), abs=1e-6)
        values = h[h > 0] if activation == "relu" else h.flatten()  # ReLU's zeros are left out
        counts = torch.histc(values.clamp(low, high), bins=40, min=low, max=high)
        # the two compute z in a different order: a value within rounding of a bin edge may cross it
        assert out["hist"][layer] == pytest.approx((counts / counts.max()).numpy(), abs=2.5 / counts.max().item())


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (0.0, 1.0), (0.0, 3.0), (-3.0, 3.0)])
def test_one_pass_histograms_count_like_histc_even_on_bin_edges(low, high):
    edges = torch.linspace(low, high, 41)
    next_down, next_up = edges.nextafter(torch.tensor(-10.0)), edges.nextafter(torch.tensor(10.0))
    spread = (
        torch.rand(20_000, generator=torch.Generator().manual_seed(0)) * 1.4 * (high - low) + low - 0.2 * (high - low)
    )
    rows = torch.stack([torch.cat([edges, next_down, next_up, spread]), torch.cat([spread, edges, edges, edges])])
    expected = torch.stack([torch.histc(row.clamp(low, high), bins=40, min=low, max=high) for row in rows])
    assert torch.equal(_histograms(rows, low, high, 40, skip_zeros=False), expected)


def test_one_pass_histograms_leave_out_nans_and_zeros_when_asked():
    rows = torch.tensor([[0.0, 0.5, float("nan"), 0.5], [float("nan")] * 4])
    counts = _histograms(rows, 0.0, 1.0, 4, skip_zeros=True)
    assert counts.tolist() == [[0.0, 0.0, 2.0, 0.0], [0.0] * 4]  # as histc: NaNs are not counted
    assert _histograms(rows, 0.0, 1.0, 4, skip_zeros=False)[0].tolist() == [1.0, 0.0, 2.0, 0.0]


@pytest.mark.parametrize("activation", DEPTH_ACTIVATIONS)
def test_depth_histograms_rows_are_scaled_to_one(activation):
    out = compute_depth_histograms(activation, 1.0, 4, True)
    assert out["hist"].max(axis=1).tolist() == pytest.approx([1.0] * 4)
    assert len(out["edges"]) == 41 and len(out["centres"]) == 40


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({"activation": "softmax"}, "activation"),
        ({"weight_scale": 0.0}, "weight_scale"),
        ({"depth": 0}, "depth"),
        ({"depth": 21}, "depth"),
        ({"width": 1}, "width"),
    ],
)
def test_depth_histograms_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        compute_depth_histograms(**kwargs)


# --- the lesson's functions (the notebook's mechanism cells) ------------------------------------


def test_batch_norm_train_and_eval_match_functional_batch_norm():
    x = _batch((7, 4), 0)
    gamma, beta = torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64)
    y, mean, var = batch_norm_train(x, gamma, beta, 1e-5)
    torch.testing.assert_close(y, nn.functional.batch_norm(x, None, None, gamma, beta, training=True), **TOL64)
    torch.testing.assert_close(mean, x.mean(0), **TOL64)
    torch.testing.assert_close(var, x.var(0, unbiased=False), **TOL64)
    running_mean, running_var = torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 0.5
    expected = nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=0.1)
    torch.testing.assert_close(batch_norm_eval(x, running_mean, running_var, gamma, beta, 0.1), expected, **TOL64)


def test_update_running_stats_matches_functional_batch_norm_in_place():
    x = _batch((5, 3), 1)
    mean, var = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    theirs_mean, theirs_var = mean.clone(), var.clone()
    nn.functional.batch_norm(x, theirs_mean, theirs_var, training=True, momentum=0.3)
    _, batch_mean, batch_var = batch_norm_train(x.requires_grad_(True), 1.0, 0.0, 1e-5)
    update_running_stats(mean, var, batch_mean, batch_var, len(x), 0.3)
    torch.testing.assert_close(mean, theirs_mean, **TOL64)
    torch.testing.assert_close(var, theirs_var, **TOL64)
    assert not mean.requires_grad and not var.requires_grad  # outside autograd


@pytest.mark.parametrize("n,c,eps", [(16, 5, 1e-5), (3, 2, 0.5), (2, 4, 1e-5)])
def test_batch_norm_backward_matches_autograd(n, c, eps):
    g = torch.Generator().manual_seed(n + c)
    x = (torch.randn(n, c, generator=g, dtype=torch.float64) * 3 + 2).requires_grad_(True)
    gamma = (torch.rand(c, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    beta = torch.randn(c, generator=g, dtype=torch.float64).requires_grad_(True)
    dy = torch.randn(n, c, generator=g, dtype=torch.float64)
    y, mean, var = batch_norm_train(x, gamma, beta, eps)
    y.backward(dy)
    std = torch.sqrt(var + eps).detach()
    x_hat = ((x - mean) / std).detach()
    dx, dgamma, dbeta = batch_norm_backward(dy, x_hat, gamma.detach(), std)
    torch.testing.assert_close(dx, x.grad, **TOL64)
    torch.testing.assert_close(dgamma, gamma.grad, **TOL64)
    torch.testing.assert_close(dbeta, beta.grad, **TOL64)
    # Treating the batch statistics as constants gives another, wrong, gradient.
    assert (gamma.detach() / std * dy - x.grad).abs().max() > 1e-3


def test_layer_uses_the_lesson_functions_for_3d_inputs():
    ours = BatchNorm1d(3).double()
    x = _batch((4, 3, 5), 2)
    flat = x.transpose(1, 2).reshape(-1, 3)
    expected, _, _ = batch_norm_train(flat, ours.weight, ours.bias, ours.eps)
    y = ours(x)
    torch.testing.assert_close(y, expected.reshape(4, 5, 3).transpose(1, 2), **TOL64)
    assert y.is_contiguous()  # as PyTorch's output
