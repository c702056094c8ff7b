"""Checks for the Autoencoder notebook's exercises: the reconstruction loss, Gaussian corruption, latent interpolation."""

from __future__ import annotations

import torch

from course_utils.checks import CORRECT, INCORRECT, Case, CheckResult, attempt, check_function, compare
from course_utils.models.autoencoder import Autoencoder


def _reference_reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(x_hat, x)


def check_reconstruction_loss(reconstruction_loss) -> CheckResult:
    """Check `reconstruction_loss(x_hat, x)`: the mean squared error over every entry, a 0-d tensor."""
    g = torch.Generator().manual_seed(6)
    x = torch.rand(5, 64, generator=g)
    cases = [
        Case((torch.rand(5, 64, generator=g), x), label="(x_hat: random (5, 64), x: random (5, 64))"),
        Case((x.clone(), x.clone()), label="(x_hat equal to x, both (5, 64)): a perfect reconstruction"),
        Case((torch.tensor([[0.0, 1.0], [0.5, 0.5]]), torch.tensor([[1.0, 1.0], [0.0, 0.5]]))),
        Case((torch.rand(1, 3, generator=g), torch.rand(1, 3, generator=g))),
    ]
    return check_function(
        "reconstruction_loss",
        reconstruction_loss,
        cases,
        reference=_reference_reconstruction_loss,
        hint="Square the differences x_hat - x and average over every entry "
        "(examples and pixels alike): ((x_hat - x) ** 2).mean(). A sum, or a mean "
        "over examples only, is larger by a factor of the size.",
        success="It matches torch.nn.functional.mse_loss.",
    )


def check_add_gaussian_noise(add_gaussian_noise) -> CheckResult:
    """Check `add_gaussian_noise(x, noise)`: x plus N(0, noise^2) noise per entry, clipped to [0, 1].

    The noise is random, so the check tests properties: shape, `x` left unchanged, nothing at
    noise 0, values in [0, 1], mean about 0 and standard deviation about `noise` where clipping
    cannot bite, and clipping where it must.
    """
    name = "add_gaussian_noise"
    hint = (
        "Draw standard normal noise shaped like x (torch.randn_like(x)), scale it by noise, add it to x, "
        "then clip with .clamp(0, 1). Return a new tensor; don't change x in place."
    )

    def fail(message: str, details: list[str]) -> CheckResult:
        return CheckResult(name, INCORRECT, message, details, hint)

    if not callable(add_gaussian_noise):
        return fail(f"Expected a function, got {type(add_gaussian_noise).__name__}.", [])
    with torch.random.fork_rng(devices=[]):  # the learner's randn calls must not move the notebook's RNG
        torch.manual_seed(0)
        digits = torch.rand(4, 64)
        before = digits.clone()
        out, problem = attempt(name, lambda: add_gaussian_noise(digits, 0.3))
        if problem is not None:  # a CheckResult is falsy unless correct
            return problem
        if not isinstance(out, torch.Tensor) or out.shape != digits.shape:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            return fail("The result should be a tensor shaped like x.", [f"x: shape (4, 64); got: {got}"])
        if not torch.equal(digits, before):
            return fail("x was changed in place.", ["add noise to a copy: x + noise * torch.randn_like(x)"])
        if float(out.min()) < 0 or float(out.max()) > 1:
            return fail(
                "Values left [0, 1]: clip the result.",
                [f"noise=0.3: min {float(out.min()):.3f}, max {float(out.max()):.3f}"],
            )
        same, problem = attempt(name, lambda: add_gaussian_noise(digits, 0.0))
        if problem is not None:
            return problem
        issue = compare(digits, same, atol=1e-7)
        if issue:
            return fail("With noise=0 the input should come back unchanged.", [f"problem: {issue}"])
        grey = torch.full((200, 64), 0.5)  # 5 standard deviations from 0 and 1: clipping cannot bite
        out, problem = attempt(name, lambda: add_gaussian_noise(grey, 0.1))
        if problem is not None:
            return problem
        delta = out - grey
        mean, std = float(delta.mean()), float(delta.std())
        if abs(mean) > 0.01 or not 0.09 < std < 0.11:
            return fail(
                "The noise should have mean 0 and standard deviation `noise`.",
                [
                    "x: all 0.5, shape (200, 64); noise=0.1",
                    f"measured noise: mean {mean:.4f} (expected about 0), std {std:.4f} (expected about 0.1)",
                    "torch.rand draws uniform numbers in [0, 1); torch.randn draws standard normal ones",
                ],
            )
        again, problem = attempt(name, lambda: add_gaussian_noise(grey, 0.1))
        if problem is not None:
            return problem
        if torch.equal(out, again):
            return fail("Two calls gave the same noise: draw fresh noise on every call.", [])
        loud, problem = attempt(name, lambda: add_gaussian_noise(grey, 1.0))
        if problem is not None:
            return problem
        if not (bool((loud == 0).any()) and bool((loud == 1).any())):
            return fail(
                "With noise=1 some values should be clipped to exactly 0 and 1.",
                [f"x: all 0.5; got min {float(loud.min()):.3f}, max {float(loud.max()):.3f}"],
            )
    return CheckResult(name, CORRECT, "Shape, range, clipping, mean and spread of the noise all check out.")


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
    cases = [
        Case((small, a6, b6, 5), label="(model: 6 -> 2 -> 6, x_a, x_b: shape (6,), steps=5)"),
        Case((wide, a16, b16, 3), label="(model: 16 -> 3 -> 16, x_a, x_b: shape (16,), steps=3)"),
        Case((small, a6, a6, 2), label="(x_a equal to x_b, steps=2): both rows are the reconstruction of x_a"),
    ]
    return check_function(
        "interpolate_codes",
        interpolate_codes,
        cases,
        reference=_reference_interpolate,
        atol=1e-5,
        hint="Encode each input (add a batch dimension with x[None]), mix the codes with "
        "t = torch.linspace(0, 1, steps)[:, None], as (1 - t) * z_a + t * z_b, and decode the "
        "(steps, k) codes. Mixing the images x_a and x_b themselves is a cross-fade, not an "
        "interpolation in the code.",
        success="The first row decodes x_a's code, the last x_b's.",
    )
