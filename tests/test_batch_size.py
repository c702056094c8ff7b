"""Batch size: batching helpers against brute force and PyTorch, the widget's compute functions, the checks."""

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
    linear_scaled_lr,
    log_spaced_steps,
    minibatch_mean_variance,
    saved_activation_bytes,
    steps_per_epoch,
    time_per_epoch,
    train_sgd,
)
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.data import make_toy_2d
from course_utils.exercises.batch_size import check_minibatch_mean_variance, check_scaled_lr, check_steps_per_epoch
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


def test_explorer_every_control_changes_the_picture():
    explorer = make_batch_size_explorer(SMALL)
    assert set(explorer.controls) == {"batch_size", "scale_lr"}
    assert "B = 32" in explorer.caption.value
    png = explorer.image.value
    for key, value in (("batch_size", 2), ("scale_lr", True), ("batch_size", 64)):
        explorer.set(**{key: value})
        assert explorer.image.value != png, key
        png = explorer.image.value
    assert "full batch" in explorer.caption.value and "Cannot draw" not in explorer.caption.value
    explorer.set(batch_size=1, scale_lr=False)
    assert "B = 1</b>" in explorer.caption.value


# ---------------------------------------------------------------- exercise checks


def _steps_reference(n, batch_size):
    return -(-n // batch_size)


def _variance_reference(values, batch_size):
    n = len(values)
    return values.var(unbiased=False).item() / batch_size * (n - batch_size) / (n - 1)


def _lr_reference(base_lr, base_batch_size, batch_size, step, warmup_steps):
    target = base_lr * batch_size / base_batch_size
    if warmup_steps == 0:
        return target
    return base_lr + (target - base_lr) * min(step / warmup_steps, 1)


def _not_implemented(*args):
    raise NotImplementedError()


def _crash(*args):
    raise KeyError("oops")


@pytest.mark.parametrize(
    "check,right,wrong,wrong_words",
    [
        (check_steps_per_epoch, _steps_reference, lambda n, b: n // b, "expected 10"),
        (
            check_minibatch_mean_variance,
            _variance_reference,
            lambda v, b: v.var(unbiased=False).item() / b,
            "Case 2 of 6",
        ),  # forgot the finite-population correction
        (check_scaled_lr, _lr_reference, lambda lr, b0, b, s, w: lr * b / b0, "expected 0.1"),  # no warm-up
    ],
)
def test_checks(check, right, wrong, wrong_words):
    assert check(right).status == CORRECT
    result = check(wrong)
    assert result.status == INCORRECT and wrong_words in str(result) and result.hint
    assert check(_not_implemented).status == NOT_ATTEMPTED
    crashed = check(_crash)
    assert crashed.status == INCORRECT and "KeyError" in str(crashed)
    assert check(42).status == INCORRECT  # not a function


def test_variance_check_catches_the_unbiased_variance():
    result = check_minibatch_mean_variance(
        lambda v, b: v.var().item() / b * (len(v) - b) / (len(v) - 1)
    )  # divides by N - 1
    assert result.status == INCORRECT and "N - 1" in result.hint


def test_lr_check_catches_the_inverted_rule():
    assert check_scaled_lr(lambda lr, b0, b, s, w: lr * b0 / b).status == INCORRECT
