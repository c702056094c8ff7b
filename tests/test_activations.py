import pytest
import torch

from course_utils.activations import ACTIVATION_NAMES, get_activation
from course_utils.exercises.activations import check_elu, check_softplus, check_softplus_derivative
from course_utils.models import make_mlp
from course_utils.widgets.activations import (
    compute_activation_curves,
    compute_decision_boundary,
    compute_gradient_norms,
)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_from_scratch_matches_pytorch_values_and_gradients(name):
    act = get_activation(name)
    x = torch.cat([torch.linspace(-30, 30, 2001, dtype=torch.float64), torch.tensor([0.0, 1e-8, -1e-8], dtype=torch.float64)])
    xr = x.clone().requires_grad_(True)
    y = act.torch_module()(xr)
    (grad,) = torch.autograd.grad(y.sum(), xr)
    torch.testing.assert_close(act.f(x), y.detach(), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(act.df(x), grad, atol=1e-12, rtol=1e-10)


def test_sigmoid_is_stable_for_huge_inputs():
    f = get_activation("sigmoid").f
    out = f(torch.tensor([-1e4, 1e4]))
    assert torch.isfinite(out).all() and out.tolist() == [0.0, 1.0]


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        make_mlp(2, [4], 2, activation="softmaxx")


def test_make_mlp_bad_input():
    with pytest.raises(ValueError, match="in_features"):
        make_mlp(0, [4], 2)
    with pytest.raises(ValueError, match="hidden"):
        make_mlp(2, [4, 0], 2)


def test_curves_and_gradient_norms():
    c = compute_activation_curves("relu", torch.tensor([-1.0, 2.0]))
    assert c["f"].tolist() == [0.0, 2.0] and c["df"].tolist() == [0.0, 1.0]
    sigmoid = compute_gradient_norms("sigmoid", depth=20)
    relu = compute_gradient_norms("relu", depth=20)
    assert sigmoid.shape == (20,)
    assert (sigmoid[0] / sigmoid[-1]) < 1e-8 < (relu[0] / relu[-1])
    with pytest.raises(ValueError, match="depth"):
        compute_gradient_norms("relu", depth=0)


def test_identity_cannot_bend_the_boundary():
    linear = compute_decision_boundary("identity", "circles")
    bent = compute_decision_boundary("relu", "circles")
    assert linear["accuracy"] < 0.7 < 0.95 < bent["accuracy"]
    with pytest.raises(ValueError, match="dataset must be one of"):
        compute_decision_boundary("relu", "spirals2")


def test_exercise_checks():
    import torch.nn.functional as F

    assert check_softplus(F.softplus).passed
    naive = check_softplus(lambda x: torch.log(1 + torch.exp(x)))
    assert not naive.passed and "Case 4" in naive.message
    assert check_softplus_derivative(torch.sigmoid).passed
    assert not check_softplus_derivative(lambda x: torch.exp(x)).passed

    def stub(x, alpha=1.0):
        raise NotImplementedError()

    assert check_elu(stub).status == "not attempted"
    assert check_elu(lambda x, alpha=1.0: F.elu(x, alpha)).passed
    assert not check_elu(lambda x, alpha=1.0: F.elu(x)).passed  # ignores alpha
