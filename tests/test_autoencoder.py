"""Autoencoder: the model, its training helper, the PCA baseline, the widgets' compute functions and the checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises.autoencoders import (
    check_add_gaussian_noise,
    check_interpolate_codes,
    check_reconstruction_loss,
)
from course_utils.models import Autoencoder, add_noise, pca_reconstruct, reconstruction_error, train_autoencoder
from course_utils.widgets import autoencoders as widgets_ae


@pytest.fixture(scope="module")
def digits():
    X_train, y_train, X_test, y_test = widgets_ae.digits_split()
    return X_train[:400], y_train[:400], X_test[:200], y_test[:200]


# --- the model -------------------------------------------------------------------------------


@pytest.mark.parametrize("hidden, bottleneck", [((128,), 2), ((32, 16), 5), ((), 3)])
def test_shapes(hidden, bottleneck):
    model = Autoencoder(in_features=64, hidden=hidden, bottleneck=bottleneck)
    x = torch.rand(7, 64)
    z = model.encode(x)
    assert z.shape == (7, bottleneck)
    assert model.decode(z).shape == (7, 64)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (7, 64)
    assert torch.allclose(out, model.decode(model.encode(x)).detach())
    assert float(out.min()) >= 0 and float(out.max()) <= 1  # sigmoid output


def test_linear_autoencoder_is_two_linear_maps():
    model = Autoencoder(64, hidden=(), bottleneck=4, output="linear")
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(64, 4), (4, 64)]
    x = torch.randn(3, 64)
    expected = (x @ layers[0].weight.T + layers[0].bias) @ layers[1].weight.T + layers[1].bias
    assert torch.allclose(model(x), expected, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "2"])
def test_bad_bottleneck(bad):
    with pytest.raises(ValueError, match="bottleneck"):
        Autoencoder(bottleneck=bad)
    with pytest.raises(ValueError, match="bottleneck"):
        train_autoencoder(torch.rand(10, 64), bottleneck=bad, progress=False)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"hidden": (0,)}, "hidden"),
        ({"output": "relu"}, "output"),
        ({"activation": "nope"}, "activation"),
        ({"in_features": 0}, "in_features"),
    ],
)
def test_bad_architecture(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Autoencoder(**kwargs)


# --- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.3"])
def test_bad_noise_level(bad):
    with pytest.raises(ValueError, match=r"noise must be a number in \[0, 1\]") as info:
        train_autoencoder(torch.rand(10, 64), noise=bad, progress=False)
    assert repr(bad) in str(info.value)  # the message shows the value
    with pytest.raises(ValueError, match="noise"):
        add_noise(torch.rand(3, 4), bad)


def test_bad_noise_kind():
    with pytest.raises(ValueError, match="noise_kind"):
        add_noise(torch.rand(3, 4), 0.2, kind="salt")
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        add_noise(np.zeros(3), 0.2)


def test_gaussian_noise_properties():
    x = torch.full((300, 64), 0.5)
    before = x.clone()
    noisy = add_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, before)  # not in place
    delta = noisy - x
    assert abs(delta.mean().item()) < 0.005 and abs(delta.std().item() - 0.1) < 0.005
    loud = add_noise(x, 1.0, generator=torch.Generator().manual_seed(0))
    assert loud.min().item() == 0.0 and loud.max().item() == 1.0  # clipped to the pixel range
    assert torch.equal(add_noise(x, 0.0), x)


def test_masking_noise_properties():
    x = torch.rand(300, 64) + 0.1  # no zeros before masking
    masked = add_noise(x, 0.3, kind="masking", generator=torch.Generator().manual_seed(0))
    zeroed = masked == 0
    assert abs(zeroed.float().mean().item() - 0.3) < 0.01
    assert torch.equal(masked[~zeroed], x[~zeroed])  # surviving pixels are untouched
    assert torch.equal(add_noise(x, 1.0, kind="masking"), torch.zeros_like(x))


def test_noise_is_reproducible_from_a_generator():
    x = torch.rand(5, 64)
    a = add_noise(x, 0.3, generator=torch.Generator().manual_seed(3))
    b = add_noise(x, 0.3, generator=torch.Generator().manual_seed(3))
    c = add_noise(x, 0.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- training --------------------------------------------------------------------------------


def test_training_lowers_reconstruction_error(digits):
    X_train, _, X_test, _ = digits
    untrained = Autoencoder(64, (128,), 2)
    model, history = train_autoencoder(X_train, 2, epochs=15, X_val=X_test, progress=False)
    assert not model.training
    assert reconstruction_error(model, X_test) < 0.7 * reconstruction_error(untrained, X_test)
    assert history.epoch_loss[-1] < 0.7 * history.epoch_loss[0]
    assert len(history.epoch_loss) == len(history.val_loss) == 15
    assert len(history.step_loss) == 15 * 4 and history.examples_seen[-1] == 15 * 400  # 400 / 128 -> 4 batches


def test_same_seed_same_model_and_global_rng_untouched(digits):
    X_train = digits[0]
    state = torch.get_rng_state()
    a, ha = train_autoencoder(X_train, 2, epochs=2, noise=0.2, seed=1, progress=False)
    b, hb = train_autoencoder(X_train, 2, epochs=2, noise=0.2, seed=1, progress=False)
    c, _ = train_autoencoder(X_train, 2, epochs=2, noise=0.2, seed=2, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert ha.step_loss == hb.step_loss
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_training_restores_thread_count(digits):
    before = torch.get_num_threads()
    train_autoencoder(digits[0], 2, epochs=1, progress=False)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": 0}, "lr"),
        ({"X_val": torch.rand(4, 3)}, "X_val"),
    ],
)
def test_bad_training_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        train_autoencoder(torch.rand(10, 64), progress=False, **kwargs)


def test_bad_training_data():
    with pytest.raises(ValueError, match="X must be a 2-D float tensor"):
        train_autoencoder(torch.rand(10, 8, 8), progress=False)
    with pytest.raises(ValueError, match="X must be a 2-D float tensor"):
        train_autoencoder(torch.ones(10, 64, dtype=torch.long), progress=False)


def test_reconstruction_error_matches_mse_and_keeps_mode():
    model = Autoencoder(8, (4,), 2).train()
    x, noisy = torch.rand(5, 8), torch.rand(5, 8)
    with torch.no_grad():
        assert reconstruction_error(model, x) == pytest.approx(F.mse_loss(model(x), x).item(), rel=1e-6)
        assert reconstruction_error(model, x, noisy) == pytest.approx(F.mse_loss(model(noisy), x).item(), rel=1e-6)
    assert model.training
    with pytest.raises(ValueError, match="X_input"):
        reconstruction_error(model, x, torch.rand(4, 8))


# --- PCA, the linear baseline ----------------------------------------------------------------


def test_pca_reconstruct_matches_torch_pca_lowrank():
    torch.manual_seed(0)
    X = (torch.randn(200, 10) @ torch.randn(10, 10)).double()  # float64: compare subspaces exactly
    X_new = torch.randn(20, 10, dtype=torch.float64)
    # PyTorch's randomised PCA is exact when asked for every component (q = D); keep the top k.
    _, _, V_all = torch.pca_lowrank(X, q=10, center=True)
    mean = X.mean(0)
    for k in (1, 3, 6):
        V = V_all[:, :k]  # (D, k)
        expected = (X_new - mean) @ V @ V.T + mean
        assert torch.allclose(pca_reconstruct(X, X_new, k), expected, atol=1e-8), k


def test_pca_full_rank_is_exact_and_error_falls_with_k(digits):
    X_train, _, X_test, _ = digits
    assert torch.allclose(pca_reconstruct(X_train, X_test, 64), X_test, atol=1e-5)
    errors = [F.mse_loss(pca_reconstruct(X_train, X_train, k), X_train).item() for k in (1, 2, 4, 8, 16)]
    assert all(a > b for a, b in zip(errors, errors[1:]))


@pytest.mark.parametrize("k", [0, 65, 2.0])
def test_pca_bad_k(k):
    with pytest.raises(ValueError, match="k must be an int"):
        pca_reconstruct(torch.rand(100, 64), torch.rand(3, 64), k)


def test_pca_bad_shapes():
    with pytest.raises(ValueError, match="same number of columns"):
        pca_reconstruct(torch.rand(10, 5), torch.rand(3, 4), 2)


def test_linear_autoencoder_approaches_pca(digits):
    X_train, _, X_test, _ = digits
    linear, _ = train_autoencoder(
        X_train, 3, hidden=(), output="linear", lr=2e-2, epochs=40, batch_size=32, progress=False
    )
    pca = F.mse_loss(pca_reconstruct(X_train, X_test, 3), X_test).item()
    assert reconstruction_error(linear, X_test) == pytest.approx(pca, rel=0.05)  # 0.2% apart when written


# --- the widgets' compute functions ----------------------------------------------------------


def test_compute_codes_and_decoded():
    model = Autoencoder(64, (16,), 2)
    codes = widgets_ae.compute_codes(model, torch.rand(9, 64))
    assert isinstance(codes, np.ndarray) and codes.shape == (9, 2)
    image = widgets_ae.compute_decoded(model, (0.5, -1.0))
    assert image.shape == (8, 8)
    with torch.no_grad():
        expected = model.decode(torch.tensor([[0.5, -1.0]])).reshape(8, 8).numpy()
    np.testing.assert_allclose(image, expected, atol=1e-7)
    with pytest.raises(ValueError, match="z must have 2 numbers"):
        widgets_ae.compute_decoded(model, (1.0, 2.0, 3.0))


def test_compute_nearest_class():
    codes = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [5.0, 5.0], [5.1, 5.0]])
    labels = np.array([3, 3, 1, 7, 7])
    assert widgets_ae.compute_nearest_class(codes, labels, (0.0, 0.0), k=3) == (3, pytest.approx(2 / 3))
    assert widgets_ae.compute_nearest_class(codes, labels, (5.0, 5.1), k=2) == (7, 1.0)
    with pytest.raises(ValueError, match="k must be in"):
        widgets_ae.compute_nearest_class(codes, labels, (0, 0), k=6)


def test_compute_denoising():
    plain, denoiser = Autoencoder(64, (8,), 4), Autoencoder(64, (8,), 4)
    X = torch.rand(6, 64)
    result = widgets_ae.compute_denoising(plain, denoiser, X, 0.4, "masking", seed=1)
    for key in ("clean", "noisy", "plain", "denoised"):
        assert result[key].shape == (6, 8, 8), key
    noisy = add_noise(X, 0.4, "masking", torch.Generator().manual_seed(1))
    np.testing.assert_allclose(result["noisy"], noisy.reshape(6, 8, 8).numpy())
    assert result["mse"]["noisy"] == pytest.approx(F.mse_loss(noisy, X).item())
    with torch.no_grad():
        assert result["mse"]["denoised"] == pytest.approx(F.mse_loss(denoiser(noisy), X).item(), rel=1e-6)
    clean = widgets_ae.compute_denoising(plain, denoiser, X, 0.0)
    assert clean["mse"]["noisy"] == 0.0


def test_compute_bottleneck_sweep(digits):
    X_train, _, X_test, _ = digits
    result = widgets_ae.compute_bottleneck_sweep(X_train, X_test, sizes=(1, 8), epochs=3)
    assert result["sizes"] == [1, 8]
    assert all(len(result[key]) == 2 for key in ("autoencoder", "linear", "pca"))
    assert result["pca"][1] < result["pca"][0]
    assert result["pca"][0] == pytest.approx(F.mse_loss(pca_reconstruct(X_train, X_test, 1), X_test).item())


def test_tile_masks_the_gaps():
    strip = widgets_ae._tile(np.ones((3, 8, 8)))
    assert strip.shape == (8, 26) and int(strip.mask.sum()) == 2 * 8


# --- the explorers ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("make", [widgets_ae.make_latent_explorer, widgets_ae.make_denoising_explorer])
def test_every_control_changes_the_figure(make):
    explorer = make()
    for key, control in explorer.controls.items():
        before = explorer.image.value
        if hasattr(control, "options"):
            control.value = [v for v in control.options if v != control.value][0]
        else:
            control.value = control.min + 0.8 * (control.max - control.min)
        assert explorer.image.value != before, key
        assert explorer.caption.value


@pytest.mark.slow
def test_denoiser_beats_plain_autoencoder_on_noisy_digits():
    plain = widgets_ae.trained_digit_autoencoder(32)
    denoiser = widgets_ae.trained_digit_autoencoder(32, noise=0.3)
    _, _, X_test, _ = widgets_ae.digits_split()
    result = widgets_ae.compute_denoising(plain, denoiser, X_test[:200], 0.3)
    assert result["mse"]["denoised"] < 0.7 * min(result["mse"]["plain"], result["mse"]["noisy"])


# --- the exercise checks ---------------------------------------------------------------------


def _not_attempted(*args):
    raise NotImplementedError()


def _crashes(*args):
    raise RuntimeError("boom")


def test_check_reconstruction_loss():
    assert check_reconstruction_loss(lambda x_hat, x: ((x_hat - x) ** 2).mean()).status == CORRECT
    wrong = check_reconstruction_loss(lambda x_hat, x: ((x_hat - x) ** 2).sum())
    assert wrong.status == INCORRECT and "does not match" in wrong.message and wrong.details
    assert check_reconstruction_loss(lambda x_hat, x: (x_hat - x).abs().mean()).status == INCORRECT
    assert check_reconstruction_loss(_not_attempted).status == NOT_ATTEMPTED
    crashed = check_reconstruction_loss(_crashes)
    assert crashed.status == INCORRECT and "RuntimeError" in crashed.message


def test_check_add_gaussian_noise():
    assert check_add_gaussian_noise(lambda x, noise: (x + noise * torch.randn_like(x)).clamp(0, 1)).status == CORRECT
    unclipped = check_add_gaussian_noise(lambda x, noise: x + noise * torch.randn_like(x))
    assert unclipped.status == INCORRECT and "clip" in unclipped.message
    uniform = check_add_gaussian_noise(lambda x, noise: (x + noise * torch.rand_like(x)).clamp(0, 1))
    assert uniform.status == INCORRECT and "standard deviation" in uniform.message
    in_place = check_add_gaussian_noise(lambda x, noise: x.add_(noise * torch.randn_like(x)).clamp_(0, 1))
    assert in_place.status == INCORRECT and "in place" in in_place.message
    frozen = torch.randn(200, 64)
    fixed = check_add_gaussian_noise(lambda x, noise: (x + noise * frozen[: x.shape[0]]).clamp(0, 1))
    assert fixed.status == INCORRECT and "fresh" in fixed.message
    assert check_add_gaussian_noise(_not_attempted).status == NOT_ATTEMPTED
    assert check_add_gaussian_noise(_crashes).status == INCORRECT
    assert check_add_gaussian_noise(42).status == INCORRECT


def test_check_add_gaussian_noise_leaves_global_rng_alone():
    state = torch.get_rng_state()
    check_add_gaussian_noise(lambda x, noise: (x + noise * torch.randn_like(x)).clamp(0, 1))
    assert torch.equal(torch.get_rng_state(), state)


def _interpolate(model, x_a, x_b, steps):
    z_a, z_b = model.encode(x_a[None]), model.encode(x_b[None])
    t = torch.linspace(0, 1, steps)[:, None]
    return model.decode((1 - t) * z_a + t * z_b)


def test_check_interpolate_codes():
    assert check_interpolate_codes(_interpolate).status == CORRECT

    def cross_fade(model, x_a, x_b, steps):
        t = torch.linspace(0, 1, steps)[:, None]
        return (1 - t) * x_a + t * x_b

    faded = check_interpolate_codes(cross_fade)
    assert faded.status == INCORRECT and faded.details

    def wrong_ends(model, x_a, x_b, steps):
        t = torch.linspace(0, 1, steps + 2)[1:-1, None]  # leaves out the end points
        return model.decode((1 - t) * model.encode(x_a[None]) + t * model.encode(x_b[None]))

    assert check_interpolate_codes(wrong_ends).status == INCORRECT
    assert check_interpolate_codes(_not_attempted).status == NOT_ATTEMPTED
    assert check_interpolate_codes(_crashes).status == INCORRECT
