"""Notebook 04's exercise checks: each accepts correct answers in other forms and rejects look-alikes."""

import numpy as np
import pytest
import torch

from course_utils import optim as co
from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED
from course_utils.exercises import optimizers as ex


# ---------------------------------------------------------------- AMSGrad
def amsgrad_in_place(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """The notebook's solution: PyTorch's AMSGrad, updating p in place."""
    if not state:
        state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p), v_max=torch.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    state["m"] = beta1 * state["m"] + (1 - beta1) * grad
    state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
    state["v_max"] = torch.maximum(state["v_max"], state["v"])
    p -= lr * (state["m"] / (1 - beta1**t)) / ((state["v_max"] / (1 - beta2**t)).sqrt() + eps)


def amsgrad_returning(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Another correct form: returns a new p, counts steps in a list, uses in-place state updates."""
    if "moments" not in state:
        state["moments"] = [torch.zeros_like(p), torch.zeros_like(p), torch.zeros_like(p)]
        state["t"] = []
    m, v, v_max = state["moments"]
    state["t"].append(1)
    t = len(state["t"])
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    torch.maximum(v_max, v, out=v_max)
    denom = torch.sqrt(v_max) / np.sqrt(1 - beta2**t) + eps  # the bias correction taken out of the root
    return p - (lr / (1 - beta1**t)) * m / denom


def amsgrad_max_of_vhat(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Look-alike: the running maximum of the bias-corrected v_hat instead of the raw v."""
    if not state:
        state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p), v_max=torch.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    state["m"] = beta1 * state["m"] + (1 - beta1) * grad
    state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
    state["v_max"] = torch.maximum(state["v_max"], state["v"] / (1 - beta2**t))
    p -= lr * (state["m"] / (1 - beta1**t)) / (state["v_max"].sqrt() + eps)


def amsgrad_without_max(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Look-alike: plain Adam (the running maximum forgotten)."""
    co.adam_step(p, grad, state, lr, beta1, beta2, eps, 0.0, False)


def amsgrad_max_fed_back(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Look-alike: the maximum written back into v, so it enters the moving average's recursion."""
    if not state:
        state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    state["m"] = beta1 * state["m"] + (1 - beta1) * grad
    state["v"] = torch.maximum(state["v"], beta2 * state["v"] + (1 - beta2) * grad**2)
    p -= lr * (state["m"] / (1 - beta1**t)) / ((state["v"] / (1 - beta2**t)).sqrt() + eps)


def amsgrad_by_library(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Ruled out: hands the work to torch.optim.Adam(amsgrad=True)."""
    if "opt" not in state:
        state["q"] = p.clone().requires_grad_()
        state["opt"] = torch.optim.Adam([state["q"]], lr=lr, betas=(beta1, beta2), eps=eps, amsgrad=True)
    state["q"].grad = grad.clone()
    state["opt"].step()
    p.copy_(state["q"].detach())


def amsgrad_by_package(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Ruled out: calls the package's own AMSGrad."""
    co.amsgrad_step(p, grad, state, lr, beta1, beta2, eps, 0.0, False)


def amsgrad_by_functional(p, grad, state, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Ruled out: the functional torch.optim.adam.adam that torch.optim.Adam runs."""
    from torch.optim.adam import adam

    if not state:
        state.update(step=torch.tensor(0.0), m=torch.zeros_like(p), v=torch.zeros_like(p), vmax=torch.zeros_like(p))
    adam(
        [p],
        [grad],
        [state["m"]],
        [state["v"]],
        [state["vmax"]],
        [state["step"]],
        amsgrad=True,
        beta1=beta1,
        beta2=beta2,
        lr=lr,
        weight_decay=0.0,
        eps=eps,
        maximize=False,
        foreach=False,
    )


def _stub(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("answer", [amsgrad_in_place, amsgrad_returning])
def test_amsgrad_accepts_correct_forms(answer):
    result = ex.check_amsgrad_step(answer)
    assert result.status == CORRECT, str(result)


@pytest.mark.parametrize(
    "answer, words",
    [
        (amsgrad_max_of_vhat, "bias-corrected v_hat"),
        (amsgrad_without_max, "plain Adam"),
        (amsgrad_max_fed_back, "differ"),
        (amsgrad_by_library, "torch.optim.Adam is ruled out"),
        (amsgrad_by_package, "course_utils.optim.amsgrad_step is ruled out"),
        (amsgrad_by_functional, "torch.optim.adam.adam is ruled out"),
    ],
)
def test_amsgrad_rejects_look_alikes(answer, words):
    result = ex.check_amsgrad_step(answer)
    assert result.status == INCORRECT
    assert words in str(result)
    assert "Hint" in str(result)


def test_amsgrad_not_attempted_wrong_type_and_crash():
    assert ex.check_amsgrad_step(_stub).status == NOT_ATTEMPTED
    assert ex.check_amsgrad_step(42).status == INCORRECT
    crashed = ex.check_amsgrad_step(lambda p, grad, state, **kw: state["missing"])
    assert crashed.status == INCORRECT and "KeyError" in str(crashed) and "step 1" in str(crashed)
    shaped = ex.check_amsgrad_step(lambda p, grad, state, **kw: p.sum())
    assert shaped.status == INCORRECT and "shape" in str(shaped)


def test_the_library_is_usable_again_after_a_check():
    ex.check_amsgrad_step(amsgrad_by_library)
    assert torch.optim.Adam.__name__ == "Adam" and co.amsgrad_step.__name__ == "amsgrad_step"


def test_amsgrad_cases_tell_the_variants_apart():
    """The check's inputs are chosen so that every look-alike leaves the reference path."""
    for _, p0, grads, options in ex._amsgrad_cases():
        reference = ex._torch_amsgrad_path(p0, grads, options)[-1]
        for variant in ("adam", "vhat"):
            assert not torch.allclose(ex._variant_path(p0, grads, options, variant)[-1], reference, rtol=1e-6)


# ---------------------------------------------------------------- heavy-ball stable learning rate
def max_lr_float(H, momentum):
    return 2 * (1 + momentum) / torch.linalg.eigvalsh(H).max().item()


def max_lr_tensor(H, momentum):  # a 0-d tensor, eigenvalues from numpy: also right
    lam = np.linalg.eigvalsh(H.numpy()).max()
    return torch.tensor((2 + 2 * momentum) / lam)


def max_lr_one_element(H, momentum):  # a 1-element tensor from the spectral norm (H is positive definite)
    return (2 * (1 + momentum) / torch.linalg.matrix_norm(H, ord=2)).reshape(1)


@pytest.mark.parametrize("answer", [max_lr_float, max_lr_tensor, max_lr_one_element])
def test_momentum_max_lr_accepts_correct_forms(answer):
    result = ex.check_momentum_max_lr(answer)
    assert result.status == CORRECT, str(result)
    assert "by experiment" in str(result)


@pytest.mark.parametrize(
    "answer",
    [
        lambda H, mu: 2 / torch.linalg.eigvalsh(H).max(),  # plain gradient descent's limit: momentum ignored
        lambda H, mu: 2 * (1 + mu) / H.diagonal().max(),  # the largest diagonal entry, not eigenvalue
        lambda H, mu: 2 * (1 + mu) / torch.linalg.eigvalsh(H).min(),  # the flattest direction
        lambda H, mu: 2 / ((1 - mu) * torch.linalg.eigvalsh(H).max()),  # momentum's 1/(1 - mu) gain
        lambda H, mu: (1 + mu) / torch.linalg.eigvalsh(H).max(),  # a factor 2 off
    ],
)
def test_momentum_max_lr_rejects_look_alikes(answer):
    result = ex.check_momentum_max_lr(answer)
    assert result.status == INCORRECT and "Hint" in str(result)


def test_momentum_max_lr_not_attempted():
    assert ex.check_momentum_max_lr(_stub).status == NOT_ATTEMPTED


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_the_reference_is_the_stability_edge(momentum):
    """The formula is what experiment shows: SGD(momentum) converges just below it and diverges just above."""
    H = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    lr = ex.momentum_max_lr_reference(H, momentum)
    assert ex.heavy_ball_growth(H, 0.97 * lr, momentum, steps=2000) < 1e-3
    assert ex.heavy_ball_growth(H, 1.03 * lr, momentum, steps=2000) > 1e3
