"""Checks for the Autoencoder notebook's exercises (none of them re-types a formula the notebook shows).

- `check_logit_gradient(fn)`: `fn(x_hat, x)` -> the gradient of the reconstruction loss (the mean
  squared error) with respect to the decoder's last pre-activations `a`, where `x_hat = sigmoid(a)`:
  a derivation the notebook leaves to autograd. The function runs with autograd off.
- `check_pca_training_mse(fn)`: `fn(S, N, D, k)` -> PCA's mean squared reconstruction error on its
  own training data, from the singular values `S` of the centred data alone (Eckart-Young, derived).
- `check_interpolate_codes(fn)`: `fn(model, x_a, x_b, steps)` -> the decodings of `steps` codes
  evenly spaced from x_a's code to x_b's (an extension: the notebook decodes a grid, not a path).

Each check accepts every correct form (a float, a 0-d tensor or NumPy scalar; a tensor or a NumPy
array) and names the classic look-alike when an answer matches one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, compare
from course_utils.models.autoencoder import Autoencoder, pca_reconstruct


def _as_tensor(value: Any) -> Any:
    """A NumPy array or scalar, a nested list or a number as a float64 tensor; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.detach().double()
    if isinstance(value, (np.ndarray, np.floating, list, float, int)) and not isinstance(value, bool):
        try:
            return torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            return value
    return value


def _name_lookalike(result: CheckResult, got: Any, lookalikes: list[tuple[str, Any]], **tol) -> CheckResult:
    """Add the explanation of the first look-alike `(explanation, value)` that `got` equals, if any."""
    if result.status != INCORRECT:
        return result
    for explanation, candidate in lookalikes:
        if compare(candidate, _as_tensor(got), **tol) is None:
            result.details.append(explanation)
            break
    return result


# --- Exercise 1: the gradient at the decoder's sigmoid ----------------------------------------------


def _logit_gradient(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # L = mean((x_hat - x)^2) over all N*D entries and x_hat = sigmoid(a): dL/da = 2 (x_hat - x) x_hat (1 - x_hat) / (N D)
    return 2 * (x_hat - x) * x_hat * (1 - x_hat) / x.numel()


def check_logit_gradient(logit_gradient) -> CheckResult:
    """Check `logit_gradient(x_hat, x)`: dL/da for L = mean((x_hat - x)^2), x_hat = sigmoid(a), shape like x.

    The cases are compared with the closed form, which equals autograd's gradient (the tests check
    that), to 0.1% (float32 answers computed another way, e.g. through log and sigmoid, lose about 1e-4);
    every look-alike is off by a factor or a sign. The learner's function runs under `torch.no_grad()`,
    so the derivation must be theirs.
    """
    g = torch.Generator().manual_seed(6)
    small_x_hat = torch.tensor([[0.5, 0.999, 0.2], [0.7, 0.001, 0.5]], dtype=torch.float64)
    small_x = torch.tensor([[1.0, 0.0, 0.2], [0.0, 1.0, 0.5]], dtype=torch.float64)
    cases = [
        Case((small_x_hat, small_x), label=f"(x_hat={small_x_hat.tolist()}, x={small_x.tolist()})"),
        Case(
            (torch.rand(5, 64, generator=g, dtype=torch.float64), torch.rand(5, 64, generator=g, dtype=torch.float64)),
            label="(x_hat, x: random (5, 64) in [0, 1], float64)",
        ),
        Case((torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[0.9]], dtype=torch.float64))),
        Case(
            (torch.rand(3, 8, generator=g), torch.rand(3, 8, generator=g)), label="(x_hat, x: random (3, 8), float32)"
        ),
    ]
    hint = (
        "Chain rule: dL/da = dL/dx_hat * dx_hat/da. The mean over all N*D entries gives "
        "dL/dx_hat = 2 (x_hat - x) / (N D), and the sigmoid's slope is x_hat (1 - x_hat)."
    )

    def without_autograd(x_hat, x):
        with torch.no_grad():
            return logit_gradient(x_hat, x)

    result = check_function(
        "logit_gradient",
        without_autograd if callable(logit_gradient) else logit_gradient,
        cases,
        reference=_logit_gradient,
        atol=1e-12,
        rtol=1e-3,
        hint=hint,
        compare_fn=lambda expected, got: compare(expected, _as_tensor(got), atol=1e-12, rtol=1e-3),
        success="It is autograd's gradient, derived by hand.",
    )
    if result.status != INCORRECT:
        return result
    x_hat, x = cases[1].args
    got, problem = attempt("logit_gradient", lambda: without_autograd(x_hat.clone(), x.clone()))
    if problem is not None:
        return result
    n = x.numel()
    lookalikes = [
        (
            "This is dL/dx_hat, the gradient at the sigmoid's output: multiply by the sigmoid's slope x_hat (1 - x_hat).",
            2 * (x_hat - x) / n,
        ),
        ("The factor 2 from differentiating the square is missing.", (x_hat - x) * x_hat * (1 - x_hat) / n),
        (
            "This is the gradient of the sum of squared errors: the loss is their mean over all N*D entries.",
            2 * (x_hat - x) * x_hat * (1 - x_hat),
        ),
        (
            "This divides by N only (a mean over examples of per-example sums); the loss averages over all N*D entries.",
            2 * (x_hat - x) * x_hat * (1 - x_hat) / len(x),
        ),
        (
            "The sign is flipped: the loss grows when x_hat moves away from x, so the gradient has the sign of x_hat - x.",
            -2 * (x_hat - x) * x_hat * (1 - x_hat) / n,
        ),
        (
            "This is the gradient of binary cross-entropy, whose sigmoid slope cancels; the loss here is the squared error.",
            (x_hat - x) / n,
        ),
    ]
    return _name_lookalike(result, got, lookalikes, atol=1e-12, rtol=1e-3)


# --- Exercise 2: PCA's error from the singular values ------------------------------------------------


def _pca_training_mse(S: torch.Tensor, N: int, D: int, k: int) -> float:
    # Keeping the top k components drops the rest: squared error sum_{i > k} s_i^2, averaged over N*D entries.
    return float((S.double()[k:] ** 2).sum() / (N * D))


def _course_digits_spectrum() -> tuple[torch.Tensor, torch.Tensor]:
    """The course's training digits (float64) and the singular values of the centred data."""
    from course_utils.data import load_digits, train_test_split

    X, y = load_digits()
    X_train = train_test_split(X, y, test_fraction=0.25, seed=0)[0].double()  # the notebook's split
    return X_train, torch.linalg.svdvals(X_train - X_train.mean(0))


def check_pca_training_mse(pca_training_mse) -> CheckResult:
    """Check `pca_training_mse(S, N, D, k)`: sum of the squared dropped singular values over N*D.

    The last case is the notebook's own training digits, and the confirmation shows the prediction
    beside the error `pca_reconstruct` measures.
    """
    X_train, S_digits = _course_digits_spectrum()
    N, D = X_train.shape
    cases = [
        Case((torch.tensor([5.0, 3.0, 2.0, 1.0]), 6, 4, 1), label="(S=tensor([5, 3, 2, 1]), N=6, D=4, k=1)"),
        Case((torch.tensor([4.0, 2.0, 1.0]), 3, 5, 2), label="(S=tensor([4, 2, 1]), N=3, D=5, k=2)"),
        Case((torch.tensor([3.0, 1.0]), 4, 2, 2), label="(S=tensor([3, 1]), N=4, D=2, k=2): every component kept"),
        Case(
            (S_digits, N, D, 2),
            label=f"(S: the {N} training digits' {len(S_digits)} singular values, N={N}, D={D}, k=2)",
        ),
    ]
    hint = (
        "The reconstruction keeps the first k terms of X - mean = sum_i s_i u_i v_i^T. What is left is the "
        "sum over i > k, and its squared entries add up to sum_{i>k} s_i^2 (the u_i and v_i are orthonormal). "
        "The MSE averages over all N*D entries."
    )
    name = "pca_training_mse"
    result = check_function(
        name, pca_training_mse, cases, reference=_pca_training_mse, atol=1e-12, rtol=1e-6, hint=hint
    )
    if result.status == CORRECT:
        predicted = float(_as_tensor(pca_training_mse(S_digits.clone(), N, D, 2)))
        measured = torch.nn.functional.mse_loss(pca_reconstruct(X_train, X_train, 2), X_train).item()
        result.message += (
            f" On the training digits your formula predicts {predicted:.5f} for k=2; "
            f"pca_reconstruct measures {measured:.5f}."
        )
        return result
    if result.status != INCORRECT:
        return result
    S, n, d, k = torch.tensor([5.0, 3.0, 2.0, 1.0], dtype=torch.float64), 6, 4, 1
    got, problem = attempt(name, lambda: pca_training_mse(S.clone(), n, d, k))
    if problem is not None:
        return result
    dropped = S[k:]
    lookalikes = [
        (
            "The singular values need squaring: s_i is the length of a component, s_i^2 its squared error.",
            float(dropped.sum() / (n * d)),
        ),
        (
            "This is what the kept components carry (the first k); the error is what the dropped ones carry.",
            float((S[:k] ** 2).sum() / (n * d)),
        ),
        ("This divides by N only: the MSE averages over every one of the N*D entries.", float((dropped**2).sum() / n)),
        (
            "This divides by (N - 1) D, a variance's convention; the MSE divides the squared error by N*D.",
            float((dropped**2).sum() / ((n - 1) * d)),
        ),
        (
            "Off by one: the first k singular values (indices 0 to k-1) are kept, so the error starts at S[k].",
            float((S[k + 1 :] ** 2).sum() / (n * d)),
        ),
        (
            "Off by one: S[k-1] belongs to a kept component; the error starts at S[k].",
            float((S[k - 1 :] ** 2).sum() / (n * d)),
        ),
    ]
    return _name_lookalike(result, got, lookalikes, atol=1e-12, rtol=1e-6)


# --- Exercise 3: a walk through the code ------------------------------------------------------------


def _reference_interpolate(model: Autoencoder, x_a: torch.Tensor, x_b: torch.Tensor, steps: int) -> torch.Tensor:
    with torch.no_grad():
        z_a, z_b = model.encode(x_a[None]), model.encode(x_b[None])  # (1, k) each
        t = torch.linspace(0, 1, steps)[:, None]  # (steps, 1)
        return model.decode((1 - t) * z_a + t * z_b)  # (steps, D)


def check_interpolate_codes(interpolate_codes) -> CheckResult:
    """Check `interpolate_codes(model, x_a, x_b, steps)`: decode `steps` evenly spaced codes from x_a's to x_b's."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(6)
        small = Autoencoder(in_features=6, hidden=(5,), bottleneck=2).eval()
        wide = Autoencoder(in_features=16, hidden=(8,), bottleneck=3).eval()
        a6, b6, a16, b16 = torch.rand(6), torch.rand(6), torch.rand(16), torch.rand(16)
    with torch.no_grad():  # weights 3 times their initial size: a decoder curved enough that fading
        for p in (*small.parameters(), *wide.parameters()):  # the two reconstructions is visibly wrong
            p.mul_(3.0)
    cases = [
        Case((small, a6, b6, 5), label="(model: 6 -> 2 -> 6, x_a, x_b: shape (6,), steps=5)"),
        Case((wide, a16, b16, 3), label="(model: 16 -> 3 -> 16, x_a, x_b: shape (16,), steps=3)"),
        Case((small, a6, a6, 2), label="(x_a equal to x_b, steps=2): both rows are the reconstruction of x_a"),
    ]
    result = check_function(
        "interpolate_codes",
        interpolate_codes,
        cases,
        reference=_reference_interpolate,
        atol=1e-5,
        compare_fn=lambda expected, got: compare(expected, _as_tensor(got), atol=1e-5, rtol=1e-5),
        hint="Encode each input (add a batch dimension with x[None]), mix the codes with "
        "t = torch.linspace(0, 1, steps)[:, None], as (1 - t) * z_a + t * z_b, and decode the "
        "(steps, k) codes.",
        success="The first row decodes x_a's code, the last x_b's.",
    )
    if result.status != INCORRECT:
        return result
    # The look-alikes are told apart on the wider, more curved model: on the small one, encoding a
    # cross-fade of the two inputs happens to give nearly the right codes.
    got, problem = attempt("interpolate_codes", lambda: interpolate_codes(wide, a16.clone(), b16.clone(), 3))
    if problem is not None:
        return result
    t = torch.linspace(0, 1, 3)[:, None]
    with torch.no_grad():
        lookalikes = [
            (
                "This mixes the images x_a and x_b themselves, a cross-fade: mix their codes and decode the mixtures.",
                (1 - t) * a16 + t * b16,
            ),
            (
                "This mixes the reconstructions of x_a and x_b, still a cross-fade: decode the mixed codes instead.",
                (1 - t) * wide(a16[None]) + t * wide(b16[None]),
            ),
            (
                "This encodes a cross-fade of the images x_a and x_b: encode each input alone, then mix the two codes.",
                wide((1 - t) * a16 + t * b16),
            ),
            (
                "This runs from x_b to x_a: the first row should decode x_a's code.",
                _reference_interpolate(wide, b16, a16, 3),
            ),
        ]
    return _name_lookalike(result, got, lookalikes, atol=1e-5, rtol=1e-5)
