import pytest
import torch

from course_utils.data import TOY_DATASETS, load_digits, make_toy_2d, train_test_split


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_sets_shapes_balance_and_determinism(name):
    X, y = make_toy_2d(name, n_samples=200, noise=0.1, seed=3)
    assert X.shape == (200, 2) and X.dtype == torch.float32
    assert y.shape == (200,) and set(y.tolist()) == {0, 1}
    assert torch.allclose(X.mean(0), torch.zeros(2), atol=1e-5)
    X2, y2 = make_toy_2d(name, n_samples=200, noise=0.1, seed=3)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    X3, _ = make_toy_2d(name, n_samples=200, noise=0.1, seed=4)
    assert not torch.equal(X, X3)


def test_toy_set_bad_input():
    with pytest.raises(ValueError, match="name must be one of"):
        make_toy_2d("spiral")
    with pytest.raises(ValueError, match="n_samples"):
        make_toy_2d("moons", n_samples=1)
    with pytest.raises(ValueError, match="noise"):
        make_toy_2d("moons", noise=-0.1)


def test_train_test_split():
    X, y = make_toy_2d("moons", n_samples=100)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.2, seed=1)
    assert len(Xte) == 20 and len(Xtr) == 80 and len(ytr) == 80 and len(yte) == 20
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(X, y, test_fraction=1.5)
    with pytest.raises(ValueError, match="same length"):
        train_test_split(X, y[:10])


def test_digits_are_bundled_and_scaled():
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert load_digits(flatten=False)[0].shape == (1797, 1, 8, 8)
