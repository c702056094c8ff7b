"""Batch size: batching helpers against brute force and PyTorch, the widget's compute functions (checks: test_exercises_batch_size)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from course_utils.batching import (
    TinyTanhMLP,
    batch_size_options,
    check_batch_size,
    epoch_batches,
    gradient_noise_scale,
    linear_scaled_lr,
    log_spaced_steps,
    minibatch_gradient,
    minibatch_mean_variance,
    saved_activation_bytes,
    sgd_steps,
    shuffled_batches,
    steps_per_epoch,
    steps_to_reach,
    time_per_epoch,
    top_hessian_eigenvalue,
    train_sgd,
)
from course_utils.data import make_toy_2d
from course_utils.repro import single_thread
from course_utils.widgets.batch_size import (
    BatchSizeConfig,
    compute_batch_size_study,
    compute_gradient_noise,
    compute_training_curves,
    gradient_plane,
    learning_rate,
    make_batch_size_explorer,
)

SMALL = BatchSizeConfig(n_samples=64, epochs=2, num_draws=50)  # a study that runs in well under a second


@pytest.fixture(scope="module")
def data64():
    X, y = make_toy_2d("circles", 64, 0.1, seed=1)
    return X.double(), y


# ---------------------------------------------------------------- batching helpers


@pytest.mark.parametrize("bad", [0, -1, 65, 1000, 2.0, True, None, "8"])
def test_check_batch_size_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=r"batch_size must be .*\[1, 64\]"):
        check_batch_size(bad, 64)


def test_batch_size_options():
    assert batch_size_options(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert batch_size_options(300) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert batch_size_options(1) == [1]
    with pytest.raises(ValueError, match="n must be a positive int"):
        batch_size_options(0)


@pytest.mark.parametrize("n,batch_size", [(600, 64), (600, 1), (600, 600), (10, 3), (1000, 999), (256, 32)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_steps_per_epoch_matches_dataloader(n, batch_size, drop_last):
    loader = torch.utils.data.DataLoader(range(n), batch_size=batch_size, drop_last=drop_last)
    assert steps_per_epoch(n, batch_size, drop_last) == len(loader)


def test_steps_per_epoch_bad_input():
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 10\]"):
        steps_per_epoch(10, 11)
    with pytest.raises(ValueError, match="n must be a positive int"):
        steps_per_epoch(0, 1)


@pytest.mark.parametrize("n,batch_size", [(10, 3), (64, 64), (64, 1), (100, 32)])
def test_epoch_batches_cover_each_example_once(n, batch_size):
    batches = epoch_batches(n, batch_size, torch.Generator().manual_seed(0))
    assert len(batches) == steps_per_epoch(n, batch_size)
    assert all(len(b) == batch_size for b in batches[:-1])
    assert len(batches[-1]) == n - batch_size * (len(batches) - 1)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(n))


def test_epoch_batches_are_seeded_and_shuffled():
    a = epoch_batches(50, 7, torch.Generator().manual_seed(5))
    b = epoch_batches(50, 7, torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(torch.cat(a), torch.arange(50))


def _brute_force_variance(values: torch.Tensor, batch_size: int) -> float:
    """Average |batch mean - mean|^2 over every subset of `batch_size` rows: the definition itself."""
    rows = values.reshape(len(values), -1)
    mean = rows.mean(0)
    subsets = list(itertools.combinations(range(len(values)), batch_size))
    return sum(((rows[list(s)].mean(0) - mean) ** 2).sum().item() for s in subsets) / len(subsets)


@pytest.mark.parametrize("shape", [(7,), (7, 3)])
def test_minibatch_mean_variance_equals_enumeration_of_all_batches(shape):
    values = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for batch_size in range(1, 8):
        assert minibatch_mean_variance(values, batch_size) == pytest.approx(
            _brute_force_variance(values, batch_size), rel=1e-10, abs=1e-14
        )
    assert minibatch_mean_variance(values, 7) == 0.0
    # B = 1: the population variance (divided by N), summed over coordinates
    assert minibatch_mean_variance(values, 1) == pytest.approx(values.var(0, unbiased=False).sum().item(), rel=1e-12)


def test_minibatch_mean_variance_bad_input():
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 4\]"):
        minibatch_mean_variance(torch.ones(4), 0)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 4\]"):
        minibatch_mean_variance(torch.ones(4), 5)
    with pytest.raises(ValueError, match="shape"):
        minibatch_mean_variance(torch.ones(2, 2, 2), 1)
    with pytest.raises(ValueError, match="shape"):
        minibatch_mean_variance([1.0, 2.0], 1)


def test_linear_scaled_lr():
    assert linear_scaled_lr(0.1, 256, 8192) == pytest.approx(3.2)
    assert linear_scaled_lr(0.2, 8, 2) == pytest.approx(0.05)
    assert linear_scaled_lr(0.1, 256, 8192, step=0, warmup_steps=10) == pytest.approx(0.1)
    assert linear_scaled_lr(0.1, 256, 8192, step=5, warmup_steps=10) == pytest.approx(0.1 + 3.1 / 2)
    assert linear_scaled_lr(0.1, 256, 8192, step=10, warmup_steps=10) == pytest.approx(3.2)
    assert linear_scaled_lr(0.1, 256, 8192, step=99, warmup_steps=10) == pytest.approx(3.2)
    for kwargs, pname in [
        ({"base_lr": -1}, "base_lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"base_batch_size": 1.5}, "base_batch_size"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_steps": 3, "step": None}, "step"),
    ]:
        args = {"base_lr": 0.1, "base_batch_size": 8, "batch_size": 16} | kwargs
        with pytest.raises(ValueError, match=pname):
            linear_scaled_lr(args.pop("base_lr"), args.pop("base_batch_size"), args.pop("batch_size"), **args)


def test_single_thread_restores_thread_count():
    before = torch.get_num_threads()
    with single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_log_spaced_steps():
    steps = log_spaced_steps(2048, 40)
    assert steps[0] == 0 and steps[-1] == 2048 and steps == sorted(set(steps))
    assert 1 in steps and len(steps) <= 42
    assert log_spaced_steps(1) == [0, 1]
    with pytest.raises(ValueError, match="total_steps"):
        log_spaced_steps(0)


# ---------------------------------------------------------------- the hand-written network against PyTorch


def test_tiny_mlp_matches_nn_linear_init_and_forward(data64):
    X, _ = data64
    model = TinyTanhMLP.init(2, 16, 3, seed=4, dtype=torch.float64)
    torch.manual_seed(4)
    reference = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    torch.testing.assert_close(model.logits(X), reference(X), rtol=0, atol=1e-12)
    torch.testing.assert_close(model.to_module()(X), reference(X), rtol=0, atol=1e-12)
    assert model.num_parameters == sum(p.numel() for p in reference.parameters())


def test_tiny_mlp_init_leaves_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    TinyTanhMLP.init(seed=0)
    torch.testing.assert_close(torch.rand(3), expected)


def test_tiny_mlp_gradients_match_autograd(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    module = model.to_module()
    loss = nn.functional.cross_entropy(module(X[:20]), y[:20])
    loss.backward()
    expected = [module[0].weight.grad.T, module[0].bias.grad, module[2].weight.grad.T, module[2].bias.grad]
    for ours, theirs in zip(model.gradients(X[:20], y[:20]), expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)  # float64: exact up to rounding
    assert model.loss(X[:20], y[:20]) == pytest.approx(loss.item(), rel=1e-12)


def test_per_example_gradients_match_torch_func_and_average_to_the_full_gradient(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    module = model.to_module()
    params = {k: v.detach() for k, v in module.named_parameters()}

    def loss_one(p, x, t):
        return nn.functional.cross_entropy(torch.func.functional_call(module, p, (x[None],)), t[None])

    theirs = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0))(params, X, y)
    theirs = torch.cat(
        [
            theirs["0.weight"].transpose(1, 2).flatten(1),
            theirs["0.bias"],
            theirs["2.weight"].transpose(1, 2).flatten(1),
            theirs["2.bias"],
        ],
        dim=1,
    )
    ours = model.per_example_gradients(X, y)
    assert ours.shape == (64, model.num_parameters)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    full = torch.cat([g.flatten() for g in model.gradients(X, y)])
    torch.testing.assert_close(ours.mean(0), full, rtol=1e-10, atol=1e-12)


def test_train_sgd_takes_the_same_steps_as_torch_optim_sgd(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    module = model.to_module()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.3)
    generator = torch.Generator().manual_seed(7)
    for _ in range(2):
        for idx in epoch_batches(64, 10, generator):
            optimizer.zero_grad()
            nn.functional.cross_entropy(module(X[idx]), y[idx]).backward()
            optimizer.step()
    run = train_sgd(model, X, y, batch_size=10, lr=0.3, epochs=2, seed=7)
    torch.testing.assert_close(model.logits(X), module(X).detach(), rtol=1e-9, atol=1e-10)
    assert run.steps[-1] == 2 * steps_per_epoch(64, 10) and run.examples[-1] == 2 * 64
    assert run.loss[-1] == pytest.approx(model.loss(X, y), rel=1e-12)
    assert run.loss[-1] < run.loss[0] and not run.diverged
    assert run.first_reaching(run.loss[0]) == (0, 0)
    assert run.first_reaching(-1.0) is None


def test_train_sgd_stops_on_divergence_and_rejects_bad_input(data64):
    X, y = data64
    run = train_sgd(TinyTanhMLP.init(2, 8, 2, seed=0), X.float(), y, batch_size=64, lr=1e30, epochs=5)
    assert run.diverged and run.loss[-1] > 1e20  # huge, but finite: tanh saturates
    run = train_sgd(TinyTanhMLP.init(2, 8, 2, seed=0), X.float(), y, batch_size=64, lr=math.inf, epochs=5)
    assert run.diverged and math.isnan(run.loss[-1]) and run.steps == [0, 1]  # stopped at the first nan
    model = TinyTanhMLP.init(seed=0)
    for bad in (0, 65):
        with pytest.raises(ValueError, match=r"train_sgd: batch_size must be in \[1, 64\]"):
            train_sgd(model, X.float(), y, batch_size=bad, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        train_sgd(model, X.float(), y, batch_size=8, lr=-0.1)
    with pytest.raises(ValueError, match="epochs"):
        train_sgd(model, X.float(), y, batch_size=8, lr=0.1, epochs=0)


def test_saved_activation_bytes_grow_in_proportion_to_the_batch(data64):
    X, y = data64
    module = TinyTanhMLP.init(2, 16, 2, seed=0).to_module()
    X = X.float()
    sizes = [saved_activation_bytes(module, X[:b].clone(), y[:b].clone()) for b in (8, 16, 32)]
    assert sizes[1] - sizes[0] == (sizes[2] - sizes[1]) / 2  # linear in B
    per_example = (sizes[1] - sizes[0]) / 8
    # at least the input (2 floats) and the tanh output (16 floats) of each example are kept
    assert per_example >= (2 + 16) * 4


def test_time_per_epoch_is_positive_and_leaves_the_module_alone(data64):
    X, y = data64
    module = TinyTanhMLP.init(2, 8, 2, seed=0).to_module()
    before = [p.clone() for p in module.parameters()]
    assert time_per_epoch(module, X.float(), y, 16, timed_steps=3) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 64\]"):
        time_per_epoch(module, X.float(), y, 0)


# ---------------------------------------------------------------- the widget's compute functions


@pytest.fixture(scope="module")
def grads64(data64):
    X, y = data64
    return TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64).per_example_gradients(X, y)


def test_gradient_plane_is_orthonormal_and_starts_along_g(grads64):
    basis = gradient_plane(grads64)
    torch.testing.assert_close(basis @ basis.T, torch.eye(2, dtype=basis.dtype), rtol=0, atol=1e-10)
    g = grads64.mean(0)
    torch.testing.assert_close(basis[0], g / g.norm())


@pytest.mark.parametrize("batch_size", [1, 4, 16])
def test_gradient_noise_follows_the_one_over_b_law(grads64, batch_size):
    noise = compute_gradient_noise(batch_size, grads64, num_draws=4000, seed=1)
    assert noise.predicted_variance == pytest.approx(minibatch_mean_variance(grads64, batch_size), rel=1e-9)
    assert noise.measured_variance == pytest.approx(noise.predicted_variance, rel=0.12)
    assert noise.points.shape == (4000, 2)
    torch.testing.assert_close(noise.points.double().mean(0), noise.full.double(), rtol=0, atol=0.15)
    g = grads64.mean(0)
    assert noise.full[0].item() == pytest.approx(g.norm().item(), rel=1e-5) and abs(noise.full[1].item()) < 1e-6
    assert 0 <= noise.uphill_fraction <= 1


def test_gradient_noise_vanishes_at_the_full_batch_and_shrinks_with_b(grads64):
    full = compute_gradient_noise(64, grads64, num_draws=20)
    assert full.measured_variance < 1e-20 and full.predicted_variance == 0 and full.uphill_fraction == 0
    torch.testing.assert_close(full.points, full.full.expand(20, 2), rtol=0, atol=1e-6)
    spreads = [compute_gradient_noise(b, grads64, num_draws=500).measured_variance for b in (1, 8, 32)]
    assert spreads[0] > spreads[1] > spreads[2]


@pytest.mark.parametrize("bad", [0, 65, -3])
def test_gradient_noise_rejects_bad_batch_size(grads64, bad):
    with pytest.raises(ValueError, match=r"compute_gradient_noise: batch_size must be in \[1, 64\]"):
        compute_gradient_noise(bad, grads64)


def test_gradient_noise_rejects_bad_other_input(grads64):
    with pytest.raises(ValueError, match="num_draws"):
        compute_gradient_noise(4, grads64, num_draws=1)
    with pytest.raises(ValueError, match="per_example_grads"):
        compute_gradient_noise(4, grads64[0])


def test_training_curves_fixed_and_scaled_lr():
    fixed = compute_training_curves(32, config=SMALL)
    scaled = compute_training_curves(32, scale_lr=True, config=SMALL)
    assert fixed.lr == SMALL.base_lr and scaled.lr == pytest.approx(SMALL.base_lr * 32 / SMALL.base_batch_size)
    assert learning_rate(32, True, SMALL) == scaled.lr
    assert fixed.steps[-1] == SMALL.epochs * steps_per_epoch(64, 32) and fixed.examples[-1] == SMALL.epochs * 64
    assert fixed.loss[0] == scaled.loss[0]  # the same starting weights
    # the reference batch size is the same run in both modes
    assert compute_training_curves(8, config=SMALL).loss == compute_training_curves(8, scale_lr=True, config=SMALL).loss


@pytest.mark.parametrize("bad", [0, 65])
def test_training_curves_reject_bad_batch_size(bad):
    with pytest.raises(ValueError, match=r"compute_training_curves: batch_size must be in \[1, 64\]"):
        compute_training_curves(bad, config=SMALL)
    with pytest.raises(TypeError, match="config"):
        compute_training_curves(8, config={"n_samples": 64})
    with pytest.raises(ValueError, match="base_batch_size must be one of"):
        compute_training_curves(8, config=BatchSizeConfig(n_samples=64, base_batch_size=6))


def test_study_holds_every_batch_size_and_is_cached():
    study = compute_batch_size_study(SMALL)
    assert study.options == [1, 2, 4, 8, 16, 32, 64]
    assert set(study.runs) == {(b, s) for b in study.options for s in (False, True)}
    assert all(study.seconds_per_epoch[b] > 0 for b in study.options)
    assert study.activation_bytes[64] > study.activation_bytes[1]
    assert compute_batch_size_study(SMALL) is study
    # the held-out set: drawn with the training set, never trained on, disjoint from it
    assert len(study.X_held_out) == SMALL.n_held_out and len(study.X) == SMALL.n_samples
    rows = {tuple(r) for r in study.X.tolist()}
    assert not any(tuple(r) in rows for r in study.X_held_out.tolist())
    for run in study.runs.values():
        assert 0 <= run.held_out_accuracy <= 1 and math.isfinite(run.held_out_loss) or run.diverged


def test_config_rejects_a_bad_held_out_size():
    with pytest.raises(ValueError, match="n_held_out"):
        compute_training_curves(8, config=BatchSizeConfig(n_samples=64, n_held_out=0))


def test_explorer_every_control_changes_the_picture():
    explorer = make_batch_size_explorer(SMALL)
    assert set(explorer.controls) == {"batch_size", "scale_lr"}
    assert "B = 32" in explorer.caption.value and "held-out accuracy" in explorer.caption.value
    # at most 4.6 in tall: 460 px at 100 dpi, so that controls, figure and caption fit in 600 px
    assert explorer.figure.get_size_inches()[1] <= 4.6 + 1e-9
    png = explorer.png
    for key, value in (("batch_size", 2), ("scale_lr", True), ("batch_size", 64)):
        explorer.set(**{key: value})
        assert explorer.png != png, key
        png = explorer.png
    assert "full batch" in explorer.caption.value and "Cannot draw" not in explorer.caption.value
    explorer.set(batch_size=1, scale_lr=False)
    assert "B = 1</b>" in explorer.caption.value


# ---------------------------------------------------------------- the mechanism's lines


def test_shuffled_batches_is_epoch_batches_without_the_checks():
    a = shuffled_batches(50, 7, torch.Generator().manual_seed(2))
    b = epoch_batches(50, 7, torch.Generator().manual_seed(2))
    assert len(a) == steps_per_epoch(50, 7) and all(torch.equal(x, z) for x, z in zip(a, b))


def test_minibatch_gradient_is_the_batch_mean_and_matches_autograd(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    per_example = model.per_example_gradients(X, y)
    idx = torch.tensor([3, 17, 40, 41, 63])
    module = model.to_module()
    nn.functional.cross_entropy(module(X[idx]), y[idx]).backward()
    expected = torch.cat(
        [module[0].weight.grad.T.flatten(), module[0].bias.grad, module[2].weight.grad.T.flatten(), module[2].bias.grad]
    )
    torch.testing.assert_close(minibatch_gradient(per_example, idx), expected, rtol=1e-10, atol=1e-12)


def test_sgd_steps_yields_every_batch_and_equals_train_sgd(data64):
    X, y = data64
    ours = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    theirs = ours.clone()
    seen = [len(idx) for idx in sgd_steps(ours, X, y, 10, 0.3, 2, torch.Generator().manual_seed(7))]
    assert len(seen) == 2 * steps_per_epoch(64, 10) and sum(seen) == 2 * 64
    train_sgd(theirs, X, y, batch_size=10, lr=0.3, epochs=2, seed=7)
    torch.testing.assert_close(ours.logits(X), theirs.logits(X), rtol=0, atol=0)


def test_gradient_noise_scale_is_trace_over_squared_norm():
    per_example = torch.tensor([[1.0, 0.0], [3.0, 2.0], [2.0, -2.0]], dtype=torch.float64)  # g = (2, 0)
    # tr(Sigma) = mean of |g_i - g|^2 = (1 + 5 + 4) / 3; |g|^2 = 4
    assert gradient_noise_scale(per_example) == pytest.approx(10 / 3 / 4)
    assert isinstance(gradient_noise_scale(per_example), float)
    # the batch size at which the 1/B law's noise equals |g|^2
    b = gradient_noise_scale(per_example)
    noise_at_b = ((per_example - per_example.mean(0)) ** 2).sum(1).mean().item() / b
    assert noise_at_b == pytest.approx((per_example.mean(0) ** 2).sum().item())


# ---------------------------------------------------------------- steps to a target, curvature


def test_steps_to_reach_is_exact_and_leaves_the_model_alone(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0, dtype=torch.float64)
    before = [p.clone() for p in model.parameters()]
    start = model.loss(X, y)
    steps = steps_to_reach(model, X, y, start - 0.05, batch_size=8, lr=0.3, max_epochs=8, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # replay: the loss first goes below the target exactly at that step
    replay, losses = model.clone(), []
    for _ in sgd_steps(replay, X, y, 8, 0.3, 8, torch.Generator().manual_seed(3)):
        losses.append(replay.loss(X, y))
    assert (
        steps is not None and losses[steps - 1] <= start - 0.05 and all(v > start - 0.05 for v in losses[: steps - 1])
    )
    assert steps_to_reach(model, X, y, start + 1, batch_size=8, lr=0.3) == 0
    assert steps_to_reach(model, X, y, -1.0, batch_size=8, lr=0.3, max_epochs=1) is None
    assert steps_to_reach(model, X, y, 0.1, batch_size=64, lr=math.inf, max_epochs=2) is None  # not finite: stops


@pytest.mark.parametrize(
    "kwargs,pname",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"target": math.nan}, "target"),
    ],
)
def test_steps_to_reach_rejects_bad_input(data64, kwargs, pname):
    X, y = data64
    args = {"target": 0.3, "batch_size": 8, "lr": 0.1, "max_epochs": 2} | kwargs
    with pytest.raises(ValueError, match=pname):
        steps_to_reach(TinyTanhMLP.init(2, 8, 2, seed=0), X.float(), y, args.pop("target"), **args)


def test_top_hessian_eigenvalue_matches_the_full_hessian(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 6, 2, seed=1, dtype=torch.float64)
    module = model.to_module()
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach() for p in module.parameters()]
    shapes, sizes = [p.shape for p in params], [p.numel() for p in params]

    def loss(flat):
        tensors = {n: t.reshape(s) for n, t, s in zip(names, flat.split(sizes), shapes)}
        return nn.functional.cross_entropy(torch.func.functional_call(module, tensors, (X,)), y)

    hessian = torch.autograd.functional.hessian(loss, torch.cat([p.flatten() for p in params]))
    expected = torch.linalg.eigvalsh(hessian)[-1].item()
    assert top_hessian_eigenvalue(model, X, y, iterations=300) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(TypeError, match="model"):
        top_hessian_eigenvalue(module, X, y)
    with pytest.raises(ValueError, match="iterations"):
        top_hessian_eigenvalue(model, X, y, iterations=0)


def test_accuracy(data64):
    X, y = data64
    model = TinyTanhMLP.init(2, 8, 2, seed=0)
    expected = (model.to_module()(X.float()).argmax(1) == y).double().mean().item()
    assert model.accuracy(X.float(), y) == pytest.approx(expected)
