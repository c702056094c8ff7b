"""course_utils.optim against torch.optim: whole trajectories in float64, every option, bad input.

Tolerance: parameters after every step agree within rtol=1e-10 (plus atol=1e-12 for entries
near zero). The implementations differ from PyTorch's only in the order of floating-point
operations, so differences stay at the 1e-14 level over 120 steps; a wrong formula (a missing
bias correction, dampening applied on the first step, eps inside the square root) is off by
far more.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import optim as co
from course_utils.widgets import optimizers as race_widget

RTOL, ATOL = 1e-10, 1e-12
STEPS = 120

# (class name, keyword options): every option of every optimizer, alone and combined.
OPTION_CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"maximize": True}),
    ("SGD", {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"betas": (0.8, 0.99)}),
    ("Adam", {"eps": 1e-3}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"maximize": True}),
    ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"betas": (0.5, 0.9), "eps": 1e-6, "weight_decay": 0.2, "amsgrad": True, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.5}),
    ("AdamW", {"amsgrad": True, "betas": (0.7, 0.95)}),
    ("AdamW", {"eps": 1e-4, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"alpha": 0.9}),
    ("RMSprop", {"eps": 1e-4}),
    ("RMSprop", {"weight_decay": 0.1}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"maximize": True}),
    ("RMSprop", {"alpha": 0.95, "momentum": 0.5, "centered": True, "weight_decay": 0.05}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01}),
    ("Adagrad", {"weight_decay": 0.1}),
    ("Adagrad", {"initial_accumulator_value": 0.5}),
    ("Adagrad", {"eps": 1e-3}),
    ("Adagrad", {"maximize": True}),
    ("Adagrad", {"lr_decay": 0.05, "weight_decay": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-6}),
]
BASE_LR = {"SGD": 0.05, "Adam": 0.01, "AdamW": 0.01, "RMSprop": 0.005, "Adagrad": 0.1}


def _case_id(case) -> str:
    name, options = case
    return name + ("(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")" if options else "()")


def _problem(seed: int = 0):
    """A small float64 MLP (four parameter tensors) and a fixed regression batch."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    X = torch.randn(32, 3, dtype=torch.float64)  # (N, 3)
    y = torch.randn(32, 2, dtype=torch.float64)  # (N, 2)
    return model, X, y


def _param_groups(model: nn.Module, lr: float) -> list[dict]:
    """Two groups with different learning rates: the first layer, and the rest at half the rate."""
    first, rest = list(model[0].parameters()), list(model[2].parameters())
    return [{"params": first}, {"params": rest, "lr": lr / 2}]


def _loss(model, X, y, maximize: bool) -> torch.Tensor:
    loss = nn.functional.mse_loss(model(X), y)
    return -loss if maximize else loss  # with maximize=True the optimizer climbs -loss, i.e. descends loss


def _trajectory(
    optimizer_class, options: dict, steps: int = STEPS, start_state: dict | None = None, model_state: dict | None = None
) -> tuple[torch.Tensor, nn.Module, torch.optim.Optimizer]:
    name = optimizer_class.__name__
    model, X, y = _problem()
    if model_state is not None:
        model.load_state_dict(model_state)
    opt = optimizer_class(_param_groups(model, BASE_LR[name]), lr=BASE_LR[name], **options)
    if start_state is not None:
        opt.load_state_dict(start_state)
    points = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(model, X, y, options.get("maximize", False)).backward()
        opt.step()
        points.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return torch.stack(points), model, opt  # (steps, number of parameters)


@pytest.mark.parametrize("case", OPTION_CASES, ids=[_case_id(c) for c in OPTION_CASES])
def test_trajectory_matches_torch(case):
    name, options = case
    ours, _, opt = _trajectory(getattr(co, name), options)
    theirs, _, _ = _trajectory(getattr(torch.optim, name), options)
    assert isinstance(opt, torch.optim.Optimizer)
    assert ours.dtype == torch.float64
    assert (ours[-1] - ours[0]).abs().max() > 1e-3, "the parameters should move, or the test proves nothing"
    torch.testing.assert_close(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_a_wrong_option_is_detected(name):
    """The comparison can fail: changing one hyperparameter on one side changes the trajectory."""
    ours, _, _ = _trajectory(getattr(co, name), {"weight_decay": 0.3})
    theirs, _, _ = _trajectory(getattr(torch.optim, name), {"weight_decay": 0.0})
    assert not torch.allclose(ours, theirs, rtol=RTOL, atol=ATOL)


OPTION_KEYS = {
    "SGD": "momentum_buffer",
    "Adam": "exp_avg",
    "AdamW": "exp_avg",
    "RMSprop": "square_avg",
    "Adagrad": "sum",
}
STATE_CASES = [
    ("SGD", {"momentum": 0.9}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr_decay": 0.01}),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=[_case_id(c) for c in STATE_CASES])
def test_state_dict_round_trip(case):
    """Stop after 40 steps, save model and optimizer, load both into fresh objects, go on: same path."""
    name, options = case
    cls = getattr(co, name)
    full, _, _ = _trajectory(cls, options, steps=80)
    _, model, opt = _trajectory(cls, options, steps=40)
    state = opt.state_dict()
    assert OPTION_KEYS[name] in next(iter(state["state"].values()))
    assert int(next(iter(state["state"].values())).get("step", 40)) == 40 or name == "SGD"
    rest, _, _ = _trajectory(cls, options, steps=40, start_state=state, model_state=model.state_dict())
    torch.testing.assert_close(rest, full[40:], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", STATE_CASES, ids=[_case_id(c) for c in STATE_CASES])
def test_loads_torch_state_dict(case):
    """A run started with torch.optim continues in the from-scratch optimizer (PyTorch's state names)."""
    name, options = case
    full, _, _ = _trajectory(getattr(torch.optim, name), options, steps=80)
    _, model, opt = _trajectory(getattr(torch.optim, name), options, steps=40)
    rest, _, _ = _trajectory(
        getattr(co, name), options, steps=40, start_state=opt.state_dict(), model_state=model.state_dict()
    )
    torch.testing.assert_close(rest, full[40:], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_state_per_parameter_and_unused_parameters_skipped(name):
    used = torch.ones(3, dtype=torch.float64, requires_grad=True)
    unused = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = getattr(co, name)([used, unused], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    (used**2).sum().backward()
    opt.step()
    assert used in opt.state and len(opt.state[used]) > 0
    assert len(opt.state[unused]) == 0  # no gradient: no state, no update
    assert torch.equal(unused, torch.ones(3, dtype=torch.float64))
    if name != "SGD":
        assert opt.state[used]["step"] == 1


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_closure_returns_loss(name):
    p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = getattr(co, name)([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(5.0)
    assert (p.detach().abs() < torch.tensor([1.0, 2.0], dtype=torch.float64)).all()


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_signature_matches_torch(name):
    """Every argument torch.optim accepts is accepted here, with the same default."""
    ours = inspect.signature(getattr(co, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    missing = set(theirs) - set(ours)
    assert not missing, f"{name} lacks torch's arguments {sorted(missing)}"
    for arg in set(ours) & set(theirs):
        assert ours[arg].default == theirs[arg].default, f"{name}({arg}=...) default differs from torch's"
    assert issubclass(getattr(co, name), torch.optim.Optimizer)


def test_does_not_call_torch_optimizer_functions():
    source = inspect.getsource(co)
    for forbidden in ("torch.optim._functional", "torch.optim.adam", "torch.optim.sgd", "F.adam", "_single_tensor"):
        assert forbidden not in source


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_negative_lr_eps_weight_decay(name):
    p = [torch.zeros(2, requires_grad=True)]
    cls = getattr(co, name)
    with pytest.raises(ValueError, match=rf"{name}: lr must be >= 0, got -1"):
        cls(p, lr=-1)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        cls(p, weight_decay=-0.1)
    if name != "SGD":
        with pytest.raises(ValueError, match="eps must be >= 0"):
            cls(p, eps=-1e-8)
    with pytest.raises(TypeError, match="lr must be a number"):
        cls(p, lr="0.1")
    with pytest.raises(ValueError, match="lr must be >= 0"):
        cls(p, lr=float("nan"))


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("betas", [(1.5, 0.9), (0.9, 1.0), (-0.1, 0.999)])
def test_bad_betas(name, betas):
    with pytest.raises(ValueError, match=r"betas must each be in \[0, 1\)"):
        getattr(co, name)([torch.zeros(2, requires_grad=True)], betas=betas)


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.999), ("0.9", 0.99)])
def test_betas_must_be_a_pair_of_numbers(betas):
    with pytest.raises(TypeError, match="betas must be a pair"):
        co.Adam([torch.zeros(2, requires_grad=True)], betas=betas)


def test_bad_momentum_and_nesterov():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        co.SGD(p, momentum=-0.5)
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        co.RMSprop(p, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        co.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="dampening == 0"):
        co.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        co.SGD(p, momentum=0.9, nesterov="yes")


def test_other_bad_hyperparameters():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        co.RMSprop(p, alpha=1.5)
    with pytest.raises(ValueError, match="lr_decay must be >= 0"):
        co.Adagrad(p, lr_decay=-1)
    with pytest.raises(ValueError, match="initial_accumulator_value must be >= 0"):
        co.Adagrad(p, initial_accumulator_value=-1)
    with pytest.raises(TypeError, match="amsgrad must be True or False"):
        co.Adam(p, amsgrad=1)
    with pytest.raises(ValueError, match="foreach=True selects one of PyTorch's specialised kernels"):
        co.Adam(p, foreach=True)
    with pytest.raises(ValueError, match="fused"):
        co.AdamW(p, fused=True)


def test_bad_param_group_is_named_and_rejected():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"Adam: lr must be >= 0, got -1 \(in param group 1\)"):
        co.Adam([{"params": [a]}, {"params": [b], "lr": -1}])
    opt = co.Adam([a])
    with pytest.raises(ValueError, match=r"betas must each be in \[0, 1\)"):
        opt.add_param_group({"params": [b], "betas": (0.9, 2.0)})
    assert len(opt.param_groups) == 1  # the bad group was not kept


def test_sparse_gradients_are_refused():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.sparse_coo_tensor([[0]], [1.0], (3,), check_invariants=True)
    with pytest.raises(TypeError, match="sparse gradients"):
        co.Adam([p]).step()


# ---------------------------------------------------------------- surfaces
@pytest.mark.parametrize("name", co.SURFACE_NAMES)
def test_surface_gradients_match_autograd(name):
    surf = co.get_surface(name)
    xy = (torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5).requires_grad_()
    surf.loss(xy).sum().backward()
    torch.testing.assert_close(surf.grad(xy.detach()), xy.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", co.SURFACE_NAMES)
def test_surface_minimum_and_start(name):
    surf = co.get_surface(name)
    minimum = torch.tensor(surf.minimum, dtype=torch.float64)
    assert surf.loss(minimum).item() == pytest.approx(surf.min_loss, abs=1e-12)
    assert surf.grad(minimum).abs().max().item() < 1e-12
    grid = torch.stack(
        torch.meshgrid(
            torch.linspace(*surf.xlim, 101, dtype=torch.float64),
            torch.linspace(*surf.ylim, 101, dtype=torch.float64),
            indexing="ij",
        ),
        -1,
    )
    assert surf.loss(grid).min().item() >= surf.min_loss - 1e-12  # nothing in view is lower
    start = torch.tensor(surf.start, dtype=torch.float64)
    assert surf.loss(start).item() > surf.min_loss + 0.1
    assert surf.xlim[0] < surf.start[0] < surf.xlim[1] and surf.ylim[0] < surf.start[1] < surf.ylim[1]


def test_surface_bad_input():
    with pytest.raises(ValueError, match="surface must be one of"):
        co.get_surface("bowl")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        co.rosenbrock(torch.zeros(3))


# ---------------------------------------------------------------- the race widget
def test_compute_race_shapes_and_start():
    race = race_widget.compute_race("ill-conditioned quadratic", lr=0.05, steps=30)
    assert tuple(race) == race_widget.RACER_NAMES
    start = torch.tensor(co.get_surface("ill-conditioned quadratic").start, dtype=torch.float64)
    for traj in race.values():
        assert traj.points.shape == (31, 2) and traj.losses.shape == (31,)
        assert torch.equal(traj.points[0], start)
        assert traj.diverged_at is None


@pytest.mark.parametrize("racer", ["Adam", "RMSprop", "SGD + momentum"])
def test_compute_race_equals_torch_on_the_surface(racer):
    """The vectorised race gives the same path as torch.optim stepping a lone 2-D point."""
    surface, lr, beta1, beta2 = "rosenbrock", 0.02, 0.8, 0.99
    path = race_widget.compute_race(surface, lr, beta1, beta2, steps=100, racers=[racer])[racer].points
    surf = co.get_surface(surface)
    p = torch.tensor(surf.start, dtype=torch.float64, requires_grad=True)
    opt = {
        "Adam": lambda: torch.optim.Adam([p], lr=lr, betas=(beta1, beta2)),
        "RMSprop": lambda: torch.optim.RMSprop([p], lr=lr, alpha=beta2),
        "SGD + momentum": lambda: torch.optim.SGD([p], lr=lr, momentum=beta1),
    }[racer]()
    points = [p.detach().clone()]
    for _ in range(100):
        opt.zero_grad()
        surf.loss(p).backward()
        opt.step()
        points.append(p.detach().clone())
    torch.testing.assert_close(path, torch.stack(points), rtol=1e-9, atol=1e-12)


def test_compute_race_reports_divergence():
    race = race_widget.compute_race("rosenbrock", lr=0.5, steps=50)
    assert race["SGD"].diverged_at is not None
    assert torch.isfinite(race["SGD"].points).all()
    assert len(race["SGD"].points) <= race["SGD"].diverged_at + 1
    assert race["Adam"].diverged_at is None


def test_compute_race_bad_input():
    with pytest.raises(ValueError, match="surface must be one of"):
        race_widget.compute_race("bowl")
    with pytest.raises(ValueError, match="lr must be > 0"):
        race_widget.compute_race(lr=0)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        race_widget.compute_race(beta2=1.0)
    with pytest.raises(ValueError, match="steps must be an int"):
        race_widget.compute_race(steps=0)
    with pytest.raises(ValueError, match="racers must be names"):
        race_widget.compute_race(racers=["Lion"])


def test_make_optimizer_race_bad_input():
    with pytest.raises(ValueError, match="lr must be one of the slider's values"):
        race_widget.make_optimizer_race(lr=0.03)
    with pytest.raises(ValueError, match="surface must be one of"):
        race_widget.make_optimizer_race(surface="bowl")


def test_optimizer_race_draws_each_racer_in_its_colour():
    """The race explorer's three collections (paths, heads, loss curves) hold one racer each, in RACERS'
    order and colours, with the trajectories compute_race gives."""
    from matplotlib.colors import to_hex

    explorer = race_widget.make_optimizer_race()
    paths, heads, curves = explorer.dynamic[:3]
    race = race_widget.compute_race("rosenbrock", 0.05, 0.9, 0.999, steps=150)
    minimum = race_widget.get_surface("rosenbrock").min_loss
    colours = [r.color.lower() for r in race_widget.RACERS]
    assert [to_hex(c) for c in paths.get_colors()] == colours
    assert [to_hex(c) for c in heads.get_facecolors()] == colours
    assert [to_hex(c) for c in curves.get_colors()] == colours
    for i, racer in enumerate(race_widget.RACERS):
        points = race[racer.name].points.numpy()
        assert np.allclose(paths.get_segments()[i], points)
        assert np.allclose(heads.get_offsets()[i], points[-1])
        gap = (race[racer.name].losses - minimum).clamp_min(1e-16).numpy()
        assert np.allclose(curves.get_segments()[i][:, 1], gap)


def test_compute_loss_image():
    img = race_widget.compute_loss_image("saddle", resolution=20)
    assert img["loss"].shape == (20, 20)
    assert img["loss"].min().item() >= -0.25 - 1e-12
    with pytest.raises(ValueError, match="resolution"):
        race_widget.compute_loss_image("saddle", resolution=3)


# ---------------------------------------------------------------- the lesson's function
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_step_matches_torch(decoupled, weight_decay):
    """`adam_step`, the lines notebook 04 teaches, called by hand on a tensor, against torch.optim."""
    g = torch.Generator().manual_seed(3)
    p0 = torch.randn(4, 3, dtype=torch.float64, generator=g)
    grads = [torch.randn(4, 3, dtype=torch.float64, generator=g) * (1 + k % 3) for k in range(30)]
    options = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=weight_decay)
    q = p0.clone().requires_grad_()
    opt = (torch.optim.AdamW if decoupled else torch.optim.Adam)([q], **options)
    p, state = p0.clone(), {}
    for grad in grads:
        q.grad = grad.clone()
        opt.step()
        co.adam_step(p, grad, state, 0.01, 0.8, 0.95, 1e-6, weight_decay, decoupled)
        torch.testing.assert_close(p, q.detach(), rtol=RTOL, atol=ATOL)
    assert state["step"] == 30
    torch.testing.assert_close(state["exp_avg"], opt.state[q]["exp_avg"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(state["exp_avg_sq"], opt.state[q]["exp_avg_sq"], rtol=RTOL, atol=ATOL)


def test_adam_step_leaves_the_gradient_alone():
    p, grad = torch.ones(3, dtype=torch.float64), torch.full((3,), 2.0, dtype=torch.float64)
    co.adam_step(p, grad, {}, 0.1, 0.9, 0.999, 1e-8, 0.5, False)
    assert torch.equal(grad, torch.full((3,), 2.0, dtype=torch.float64))
    assert torch.allclose(p, torch.full((3,), 0.9, dtype=torch.float64))  # the first step is lr * sign(g)


def test_the_classes_call_the_lesson_function(monkeypatch):
    """Changing `adam_step` changes what Adam and AdamW do: the notebook's lines are the ones that run."""
    calls = []
    monkeypatch.setattr(co, "adam_step", lambda *args: calls.append(args[-1]))
    for cls in (co.Adam, co.AdamW):
        p = torch.zeros(2, requires_grad=True)
        p.grad = torch.ones(2)
        cls([p]).step()
    assert calls == [False, True]


# ---------------------------------------------------------------- the race with gradient noise
def test_compute_race_noise_is_shared_and_reproducible():
    noisy = race_widget.compute_race("saddle", lr=0.02, steps=40, noise=0.5)
    again = race_widget.compute_race("saddle", lr=0.02, steps=40, noise=0.5, racers=["Adam"])
    clean = race_widget.compute_race("saddle", lr=0.02, steps=40)
    torch.testing.assert_close(noisy["Adam"].points, again["Adam"].points, rtol=0, atol=0)  # same draws alone
    assert not torch.allclose(noisy["Adam"].points, clean["Adam"].points)
    # SGD's first step: from the start, minus lr times (the true gradient + the first noise draw)
    first_noise = 0.5 * torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))[0]
    start = torch.tensor(co.get_surface("saddle").start, dtype=torch.float64)
    expected = start - 0.02 * (co.saddle_grad(start) + first_noise)
    torch.testing.assert_close(noisy["SGD"].points[1], expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="noise must be a number >= 0"):
        race_widget.compute_race(noise=-1.0)
    with pytest.raises(ValueError, match="noise must be one of the slider's values"):
        race_widget.make_optimizer_race(noise=0.3)
