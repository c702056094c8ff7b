"""Autoencoder: the lesson's lines, the model, its training helper, the PCA baseline and the widgets' compute functions.

The exercise checks are tested in tests/test_exercises_autoencoders.py.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.models import Autoencoder, add_noise, pca_reconstruct, reconstruction_error, train_autoencoder
from course_utils.models.autoencoder import (
    autoencoder_step,
    make_decoder,
    make_encoder,
    pca_decode,
    pca_encode,
    pca_fit,
    reconstruction_loss,
)
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


# --- the lesson's lines (notebook 06's mechanism cells) ------------------------------------------


def test_encoder_and_decoder_mirror_each_other():
    encoder = make_encoder(64, (32, 16), 3, torch.nn.Tanh)
    decoder = make_decoder(3, (32, 16), 64, torch.nn.Tanh)
    linear = [(m.in_features, m.out_features) for m in [*encoder, *decoder] if isinstance(m, torch.nn.Linear)]
    assert linear == [(64, 32), (32, 16), (16, 3), (3, 16), (16, 32), (32, 64)]
    assert isinstance(encoder[-1], torch.nn.Linear)  # the code is not squashed
    assert isinstance(decoder[-1], torch.nn.Sigmoid)
    assert sum(isinstance(m, torch.nn.Tanh) for m in encoder) == 2
    assert isinstance(make_decoder(3, (), 64, torch.nn.ReLU, output="linear")[-1], torch.nn.Linear)


def test_autoencoder_is_built_from_the_lessons_functions():
    torch.manual_seed(0)
    encoder, decoder = make_encoder(64, (128,), 2, torch.nn.ReLU), make_decoder(2, (128,), 64, torch.nn.ReLU)
    torch.manual_seed(0)
    model = Autoencoder(64, (128,), 2)
    assert str(model.encoder) == str(encoder) and str(model.decoder) == str(decoder)
    for a, b in zip(model.parameters(), [*encoder.parameters(), *decoder.parameters()]):
        assert torch.equal(a, b)


def test_reconstruction_loss_is_mse_with_its_gradient():
    x_hat = torch.rand(5, 7, dtype=torch.float64, requires_grad=True)
    x = torch.rand(5, 7, dtype=torch.float64)
    ours = reconstruction_loss(x_hat, x)
    (g_ours,) = torch.autograd.grad(ours, x_hat)
    theirs = F.mse_loss(x_hat, x)
    (g_theirs,) = torch.autograd.grad(theirs, x_hat)
    assert torch.allclose(ours, theirs, atol=1e-15) and torch.allclose(g_ours, g_theirs, atol=1e-15)


def test_autoencoder_step_is_one_sgd_step_on_the_clean_target():
    torch.manual_seed(1)
    model = Autoencoder(8, (6,), 2).double()
    x = torch.rand(4, 8, dtype=torch.float64)
    x_input = torch.rand(4, 8, dtype=torch.float64)  # a "corrupted" input: the target stays x
    before = [p.detach().clone() for p in model.parameters()]
    expected_loss = F.mse_loss(model(x_input), x)
    grads = torch.autograd.grad(expected_loss, list(model.parameters()))
    loss = autoencoder_step(model.encoder, model.decoder, torch.optim.SGD(model.parameters(), lr=0.3), x_input, x)
    assert isinstance(loss, float) and loss == pytest.approx(expected_loss.item(), rel=1e-12)
    for p, p0, g in zip(model.parameters(), before, grads):
        assert torch.allclose(p, p0 - 0.3 * g, atol=1e-14)


def test_train_autoencoder_runs_the_given_step(digits):
    calls = []

    def step(encoder, decoder, optimizer, x_input, x):
        calls.append((x_input.shape, x.shape))
        return autoencoder_step(encoder, decoder, optimizer, x_input, x)

    model, history = train_autoencoder(digits[0], 2, epochs=1, step=step, progress=False)
    reference, reference_history = train_autoencoder(digits[0], 2, epochs=1, progress=False)
    assert len(calls) == 4 and calls[0] == ((128, 64), (128, 64))
    assert history.step_loss == reference_history.step_loss  # the default step is the lesson's
    with pytest.raises(TypeError, match="step must be a function"):
        train_autoencoder(digits[0], 2, epochs=1, step="adam", progress=False)


def test_pca_functions_encode_and_decode():
    torch.manual_seed(2)
    X = torch.randn(50, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    mean, V = pca_fit(X, 3)
    assert mean.shape == (6,) and V.shape == (6, 3)
    assert torch.allclose(V.T @ V, torch.eye(3, dtype=torch.float64), atol=1e-12)  # orthonormal directions
    Z = pca_encode(X, mean, V)
    assert torch.allclose(Z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)  # centred codes
    variances = Z.var(0)
    assert bool((variances[:-1] >= variances[1:]).all())  # by variance, largest first
    assert torch.allclose(pca_decode(Z, mean, V), pca_reconstruct(X, X, 3), atol=1e-12)


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


def test_compute_bottleneck_sweep_reuses_the_cached_models_on_the_course_split():
    X_train, _, X_test, _ = widgets_ae.digits_split()
    result = widgets_ae.compute_bottleneck_sweep(X_train, X_test[:50], sizes=(3,), epochs=2, seed=5)
    cached = widgets_ae.trained_digit_autoencoder(3, epochs=2, seed=5)  # no training: the sweep's own model
    assert result["autoencoder"][0] == pytest.approx(reconstruction_error(cached, X_test[:50]))
    assert widgets_ae._trained.cache_info().hits >= 1


def test_tile_masks_the_gaps():
    strip = widgets_ae._tile(np.ones((3, 8, 8)))
    assert strip.shape == (8, 26) and int(strip.mask.sum()) == 2 * 8


# --- the explorers ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("make", [widgets_ae.make_latent_explorer, widgets_ae.make_denoising_explorer])
def test_every_control_changes_the_figure(make):
    explorer = make()
    for key, control in explorer.controls.items():
        before = explorer.png
        if hasattr(control, "options"):
            control.value = [v for v in control.options if v != control.value][0]
        else:
            control.value = control.min + 0.8 * (control.max - control.min)
        assert explorer.png != before, key
        assert explorer.caption.value


@pytest.mark.slow
def test_denoiser_beats_plain_autoencoder_on_noisy_digits():
    plain = widgets_ae.trained_digit_autoencoder(32)
    denoiser = widgets_ae.trained_digit_autoencoder(32, noise=0.3)
    _, _, X_test, _ = widgets_ae.digits_split()
    result = widgets_ae.compute_denoising(plain, denoiser, X_test[:200], 0.3)
    assert result["mse"]["denoised"] < 0.7 * min(result["mse"]["plain"], result["mse"]["noisy"])
