"""Small data sets, generated or bundled: nothing is downloaded.

Toy 2-D classification sets are generated from a seed; handwritten digits come from the copy
that ships inside scikit-learn.
"""

from __future__ import annotations

import math

import torch

TOY_DATASETS = ("moons", "circles", "spirals", "xor", "blobs")


def _check_common(n_samples: int, noise: float) -> None:
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if not isinstance(noise, (int, float)) or isinstance(noise, bool) or noise < 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")


def make_toy_2d(
    name: str = "moons", n_samples: int = 400, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-class 2-D data set, standardised, from a seed.

    Args:
        name: one of "moons", "circles", "spirals", "xor", "blobs" ("blobs" is linearly separable).
        n_samples: number of points, split evenly between the classes.
        noise: standard deviation of Gaussian noise added to each coordinate.
        seed: the same seed gives the same points.

    Returns:
        `X` of shape (n_samples, 2), float32, and `y` of shape (n_samples,), int64 in {0, 1}.
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"make_toy_2d: name must be one of {TOY_DATASETS}, got {name!r}")
    _check_common(n_samples, noise)
    g = torch.Generator().manual_seed(int(seed))
    n0 = n_samples // 2
    n1 = n_samples - n0
    y = torch.cat([torch.zeros(n0, dtype=torch.long), torch.ones(n1, dtype=torch.long)])
    if name == "moons":
        t0 = torch.rand(n0, generator=g) * math.pi
        t1 = torch.rand(n1, generator=g) * math.pi
        a = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
        b = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
        X = torch.cat([a, b])
    elif name == "circles":
        t = torch.rand(n_samples, generator=g) * 2 * math.pi
        r = torch.where(y == 0, torch.tensor(1.0), torch.tensor(0.45))
        X = torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)
    elif name == "spirals":
        t = torch.sqrt(torch.rand(n_samples, generator=g)) * 3 * math.pi
        phase = y.float() * math.pi
        X = torch.stack([t * torch.cos(t + phase), t * torch.sin(t + phase)], 1) / (3 * math.pi)
    elif name == "xor":
        X = torch.rand(n_samples, 2, generator=g) * 2 - 1
        y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).long()
    else:  # blobs
        centres = torch.tensor([[-1.0, -0.6], [1.0, 0.6]])
        X = centres[y] + 0.5 * torch.randn(n_samples, 2, generator=g)
    X = X + noise * torch.randn(X.shape, generator=g)
    X = (X - X.mean(0)) / X.std(0)
    perm = torch.randperm(n_samples, generator=g)
    return X[perm].float(), y[perm]


def train_test_split(X: torch.Tensor, y: torch.Tensor, test_fraction: float = 0.25, seed: int = 0):
    """Shuffle and split into `(X_train, y_train, X_test, y_test)`."""
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X and y must have the same length, got {len(X)} and {len(y)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"train_test_split: test_fraction must be in (0, 1), got {test_fraction!r}")
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(X), generator=g)
    n_test = max(1, int(round(len(X) * test_fraction)))
    test, train = perm[:n_test], perm[n_test:]
    return X[train], y[train], X[test], y[test]


def load_digits(flatten: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 8x8 handwritten digits bundled with scikit-learn (no download), scaled to [0, 1].

    Returns:
        `X` float32 of shape (1797, 64), or (1797, 1, 8, 8) with `flatten=False`, and labels `y`
        int64 of shape (1797,).
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    X = torch.tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    return (X if flatten else X.reshape(-1, 1, 8, 8)), y
