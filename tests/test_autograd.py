"""The scalar autograd engine against torch.autograd (float64) and finite differences; its widget.

Tolerances: values and gradients agree with PyTorch to 1e-10 (both compute in float64, only the
order of floating-point operations differs); central differences with eps = 1e-6 agree to 1e-6.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from course_utils.autograd import MLP, Neuron, Value, numerical_gradient, topological_order
from course_utils.widgets.backpropagation import (
    EXPRESSIONS,
    build_expression,
    compute_backprop_steps,
    compute_layout,
    draw_graph,
    make_backprop_stepper,
)

ATOL, RTOL = 1e-10, 1e-9


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


# The same operations written once, run on Values and on torch tensors alike. Guards such as
# `b * b + 1` keep divisors, logs and fractional powers in their domains.
OPS = {
    "add": (2, lambda a, b: a + b),
    "sub": (2, lambda a, b: a - b),
    "mul": (2, lambda a, b: a * b),
    "div": (2, lambda a, b: a / (b * b + 1)),
    "pow2": (1, lambda a: a**2),
    "pow3": (1, lambda a: a**3),
    "pow_float": (1, lambda a: (a * a + 0.1) ** 1.5),
    "pow_neg": (1, lambda a: (a * a + 1) ** -1),
    "neg": (1, lambda a: -a),
    "tanh": (1, lambda a: a.tanh()),
    "relu": (1, lambda a: a.relu()),
    "sigmoid": (1, lambda a: a.sigmoid()),
    "exp": (1, lambda a: a.tanh().exp()),
    "log": (1, lambda a: (a * a + 0.5).log()),
    "radd": (1, lambda a: 2.5 + a),
    "rsub": (1, lambda a: 1 - a),
    "rmul": (1, lambda a: -3 * a),
    "rdiv": (1, lambda a: 3 / (a * a + 1)),
}
SMOOTH_OPS = [name for name in OPS if name != "relu"]  # finite differences need no kinks


def _random_program(seed: int, n_leaves: int = 4, n_ops: int = 18, ops=tuple(OPS)):
    """A random expression as (leaf values, [(op, operand indices)]); later ops reuse earlier nodes."""
    rng = random.Random(seed)
    leaves = [rng.uniform(-2, 2) for _ in range(n_leaves)]
    program = []
    for k in range(n_ops):
        name = rng.choice(ops)
        arity = OPS[name][0]
        program.append((name, [rng.randrange(n_leaves + k) for _ in range(arity)]))
    return leaves, program


def _run(program, nodes, total=None):
    """Execute `program` on `nodes` (Values or tensors); the output sums the last five nodes."""
    for name, operands in program:
        nodes.append(OPS[name][1](*(nodes[i] for i in operands)))
    out = nodes[-5]
    for node in nodes[-4:]:
        out = out + node
    return out


@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_match_torch_values_and_every_gradient(seed):
    leaves, program = _random_program(seed)
    values = [Value(x) for x in leaves]
    out = _run(program, values)
    out.backward()
    tensors = [_t(x) for x in leaves]
    t_out = _run(program, tensors)
    for t in tensors[len(leaves) :]:
        t.retain_grad()  # so intermediate gradients can be compared too
    t_out.backward()
    assert math.isclose(out.data, t_out.item(), rel_tol=RTOL, abs_tol=ATOL)
    for i, (v, t) in enumerate(zip(values, tensors)):
        expected = 0.0 if t.grad is None else t.grad.item()  # a node the output does not use
        assert math.isclose(v.data, t.item(), rel_tol=RTOL, abs_tol=ATOL), f"value of node {i}"
        assert math.isclose(v.grad, expected, rel_tol=RTOL, abs_tol=ATOL), f"grad of node {i}: {v.grad} vs {expected}"


@pytest.mark.parametrize("seed", range(15))
def test_random_expressions_match_central_differences(seed):
    leaves, program = _random_program(1000 + seed, ops=SMOOTH_OPS)
    values = [Value(x) for x in leaves]
    _run(program, values).backward()
    numeric = numerical_gradient(lambda xs: _run(program, [Value(x) for x in xs]).data, leaves, eps=1e-6)
    for v, g in zip(values, numeric):
        assert math.isclose(v.grad, g, rel_tol=1e-5, abs_tol=1e-6)


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("x", [-1.7, -0.3, 0.4, 2.2])
def test_each_op_matches_torch(name, x):
    arity, fn = OPS[name]
    other = 0.9
    args_v = [Value(x), Value(other)][:arity]
    args_t = [_t(x), _t(other)][:arity]
    out_v, out_t = fn(*args_v), fn(*args_t)
    out_v.backward()
    out_t.backward()
    assert math.isclose(out_v.data, out_t.item(), rel_tol=RTOL, abs_tol=ATOL)
    for v, t in zip(args_v, args_t):
        assert math.isclose(v.grad, t.grad.item(), rel_tol=RTOL, abs_tol=ATOL)


def test_division_and_subtraction_of_two_values_match_torch():
    a, b = Value(1.3), Value(-0.6)
    out = a / b - b / a
    out.backward()
    ta, tb = _t(1.3), _t(-0.6)
    (ta / tb - tb / ta).backward()
    assert math.isclose(a.grad, ta.grad.item(), rel_tol=RTOL) and math.isclose(b.grad, tb.grad.item(), rel_tol=RTOL)


def test_edge_cases_follow_torch_conventions():
    for x, fn in [
        (0.0, lambda v: v.relu()),
        (0.0, lambda v: v**0),
        (0.0, lambda v: v**0.5),
        (0.0, lambda v: v**2),
        (-2.0, lambda v: v**3),
        (-40.0, lambda v: v.sigmoid()),
        (40.0, lambda v: v.sigmoid()),
    ]:
        v, t = Value(x), _t(x)
        out = fn(v)
        out.backward()
        fn(t).backward()
        assert math.isclose(out.data, fn(torch.tensor(x, dtype=torch.float64)).item(), rel_tol=RTOL, abs_tol=1e-300)
        assert v.grad == t.grad.item() or math.isclose(v.grad, t.grad.item(), rel_tol=RTOL, abs_tol=1e-300)


def test_gradients_accumulate_when_a_node_is_reused():
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    b = Value(3.0)
    (b * b).backward()
    assert b.grad == 6.0
    c = Value(-1.5)
    (c * c * c + c).backward()
    assert math.isclose(c.grad, 3 * 1.5**2 + 1)
    # an intermediate node used twice
    d = Value(0.7)
    e = d.tanh()
    (e * e + e).backward()
    td = _t(0.7)
    te = td.tanh()
    (te * te + te).backward()
    assert math.isclose(d.grad, td.grad.item(), rel_tol=RTOL)


def test_leaf_gradients_accumulate_across_backward_calls_like_torch():
    a, b = Value(2.0), Value(-1.0)
    out = a * b + a
    out.backward()
    out.backward()
    ta, tb = _t(2.0), _t(-1.0)
    t_out = ta * tb + ta
    t_out.backward(retain_graph=True)
    t_out.backward()
    assert (a.grad, b.grad) == (ta.grad.item(), tb.grad.item()) == (0.0, 4.0)
    a.grad = b.grad = 0.0  # what zero_grad does
    out.backward()
    assert (a.grad, b.grad) == (0.0, 2.0)


def test_backward_with_a_starting_gradient_scales_every_gradient():
    a = Value(1.5)
    out = a.exp() * a
    out.backward(2.0)
    ta = _t(1.5)
    (ta.exp() * ta).backward(torch.tensor(2.0, dtype=torch.float64))
    assert math.isclose(a.grad, ta.grad.item(), rel_tol=RTOL)


def test_topological_order_puts_children_first_and_handles_deep_graphs():
    leaves, program = _random_program(7)
    values = [Value(x) for x in leaves]
    out = _run(program, values)
    order = topological_order(out)
    position = {id(n): i for i, n in enumerate(order)}
    assert order[-1] is out and len(position) == len(order)
    for node in order:
        assert all(position[id(c)] < position[id(node)] for c in node._prev)
    # far deeper than Python's recursion limit
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert math.isclose(x.grad, 1.0001**5000, rel_tol=1e-9)


def test_numerical_gradient_on_a_known_function():
    grad = numerical_gradient(lambda v: v[0] ** 2 * v[1] + math.sin(v[1]), [1.5, 0.3])
    assert math.isclose(grad[0], 2 * 1.5 * 0.3, rel_tol=1e-7)
    assert math.isclose(grad[1], 1.5**2 + math.cos(0.3), rel_tol=1e-7)


def test_mlp_matches_torch_forward_and_parameter_gradients():
    mlp = MLP(3, [4, 5, 2], seed=3)
    net = mlp.to_torch()
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, 3, generator=g, dtype=torch.float64)
    loss = Value(0.0)
    for row in X.tolist():
        out = mlp(row)
        loss = loss + out[0] ** 2 + out[1].tanh()
    mlp.zero_grad()
    loss.backward()
    out_t = net(X)
    t_loss = (out_t[:, 0] ** 2 + out_t[:, 1].tanh()).sum()
    t_loss.backward()
    assert math.isclose(loss.data, t_loss.item(), rel_tol=RTOL)
    grads = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):  # same order as MLP.parameters(): each neuron's w, then b
            for w_row, b in zip(layer.weight.grad, layer.bias.grad):
                grads += [*w_row.tolist(), b.item()]
    assert len(grads) == len(mlp.parameters())
    for p, g_t in zip(mlp.parameters(), grads):
        assert math.isclose(p.grad, g_t, rel_tol=1e-8, abs_tol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "identity"])
def test_mlp_twin_in_torch_computes_the_same_function(activation):
    mlp = MLP(2, [6, 3], activation=activation, seed=1)
    X = torch.linspace(-2, 2, 10, dtype=torch.float64).reshape(5, 2)
    expected = torch.tensor([[v.data for v in mlp(row)] for row in X.tolist()], dtype=torch.float64)
    torch.testing.assert_close(mlp.to_torch()(X), expected, atol=1e-12, rtol=1e-12)


def test_mlp_zero_grad_and_seed():
    a, b = MLP(2, [3, 1], seed=5), MLP(2, [3, 1], seed=5)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert [p.data for p in a.parameters()] != [p.data for p in MLP(2, [3, 1], seed=6).parameters()]
    a([0.5, -1.0]).backward()
    assert any(p.grad != 0 for p in a.parameters())
    a.zero_grad()
    assert all(p.grad == 0 for p in a.parameters())


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: Value("abc"), TypeError, "data"),
        (lambda: Value(True), TypeError, "data"),
        (lambda: Value(torch.tensor(1.0)), TypeError, "item()"),
        (lambda: Value(None), TypeError, "data"),
        (lambda: Value(1.0) + "2", TypeError, "other"),
        (lambda: "2" * Value(1.0), TypeError, "other"),
        (lambda: Value(2.0) ** Value(2.0), TypeError, "exponent"),
        (lambda: Value(2.0) ** "2", TypeError, "exponent"),
        (lambda: Value(0.0) ** -1, ValueError, "negative power"),
        (lambda: Value(-2.0) ** 0.5, ValueError, "negative base"),
        (lambda: Value(1.0) / 0, ValueError, "division by zero"),
        (lambda: 1 / Value(0.0), ValueError, "division by zero"),
        (lambda: Value(-1.0).log(), ValueError, "> 0"),
        (lambda: Value(0.0).log(), ValueError, "> 0"),
        (lambda: Value(1000.0).exp(), ValueError, "overflow"),
        (lambda: Value(1.0).backward("x"), TypeError, "grad"),
        (lambda: Value(1.0, children=(1.0,), local_grads=(1.0,)), TypeError, "children"),
        (lambda: Value(1.0, children=(Value(2.0),), local_grads=()), ValueError, "local_grads"),
        (lambda: numerical_gradient(lambda v: v[0], [1.0], eps=0), ValueError, "eps"),
        (lambda: numerical_gradient("f", [1.0]), TypeError, "f must be callable"),
        (lambda: numerical_gradient(lambda v: v[0], ["a"]), TypeError, "xs"),
        (lambda: topological_order(3.0), TypeError, "root"),
        (lambda: MLP(2, []), ValueError, "layer_sizes"),
        (lambda: MLP(2, [3, 0]), ValueError, "layer_sizes"),
        (lambda: MLP(0, [3]), ValueError, "n_inputs"),
        (lambda: Neuron(2, activation="gelu"), ValueError, "activation"),
        (lambda: Neuron(2)([1.0]), ValueError, "expected 2 inputs"),
    ],
)
def test_bad_input_is_explained(make, error, words):
    with pytest.raises(error, match=None) as info:
        make()
    assert words in str(info.value)


def test_repr_and_labels():
    v = Value(2.5, label="w")
    assert "w" in repr(v) and "2.5" in repr(v)
    assert (v * 2).op == "*" and (v**2).op == "**2" and v.tanh().op == "tanh"


# ---------------------------------------------------------------- the widget's pure functions
def test_layout_puts_inputs_left_of_their_uses_and_nothing_overlaps():
    for name in EXPRESSIONS:
        layout = compute_layout(build_expression(name))
        assert len(layout.edges) == sum(len(n._prev) for n in layout.nodes)
        x_root = layout.xy[-1][0]
        assert all(x <= x_root for x, _ in layout.xy)
        for child, parent in layout.edges:
            assert layout.xy[child][0] < layout.xy[parent][0]
        for i, (x1, y1) in enumerate(layout.xy):
            for x2, y2 in layout.xy[i + 1 :]:
                assert not (x1 == x2 and abs(y1 - y2) < 0.99), f"overlap in {name}"


def test_layout_refuses_huge_graphs():
    x = Value(1.0)
    for _ in range(70):
        x = x + 1
    with pytest.raises(ValueError, match="nodes"):
        compute_layout(x)


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_steps_walk_forward_then_backward_and_end_with_torch_gradients(name):
    layout, steps = compute_backprop_steps(name)
    nodes = layout.nodes
    n_ops = sum(1 for n in nodes if n._prev)
    assert len(steps) == len(nodes) + 1 + n_ops
    forward = [s for s in steps if s.phase == "forward"]
    assert [s.node for s in forward] == list(range(len(nodes)))
    for k, s in enumerate(forward):  # values appear one at a time, no gradient yet
        assert [v is not None for v in s.values] == [i <= k for i in range(len(nodes))]
        assert all(g is None for g in s.grads)
    backward = [s for s in steps if s.phase == "backward"]
    assert backward[0].node == len(nodes) - 1 and backward[0].grads[-1] == 1.0
    for earlier, later in zip(backward, backward[1:]):  # a complete gradient never changes again
        for i in range(len(nodes)):
            if earlier.final[i]:
                assert later.final[i] and later.grads[i] == earlier.grads[i]
    assert all(backward[-1].final)
    # the final gradients equal the engine's own backward() and torch.autograd
    fresh = build_expression(name)
    fresh.backward()
    fresh_nodes = topological_order(fresh)
    assert list(backward[-1].grads) == [n.grad for n in fresh_nodes]
    torch_leaves = {}

    def to_torch(node):
        if not node._prev:
            return torch_leaves.setdefault(id(node), _t(node.data))
        args = [to_torch(c) for c in node._prev]
        op = node.op
        if op in ("tanh", "sigmoid", "relu", "exp", "log"):
            return getattr(args[0], op)()
        if op.startswith("**"):
            return args[0] ** float(op[2:])
        return {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}[op](
            *args
        )

    to_torch(fresh).backward()
    for node in fresh_nodes:
        if not node._prev:
            assert math.isclose(node.grad, torch_leaves[id(node)].grad.item(), rel_tol=RTOL, abs_tol=ATOL)


def test_reused_input_shows_a_partial_gradient_before_the_complete_one():
    layout, steps = compute_backprop_steps("reused input")
    a = next(i for i, n in enumerate(layout.nodes) if n.label == "a")
    partial = [s.grads[a] for s in steps if s.grads[a] is not None and not s.final[a]]
    assert partial and partial[0] != steps[-1].grads[a]


def test_steps_accept_a_value_and_reject_bad_input():
    x = Value(0.5, label="x")
    layout, steps = compute_backprop_steps((x * x).tanh())
    assert len(steps) == 3 + 1 + 2  # nodes x, x*x, tanh; the seed; two ops
    with pytest.raises(ValueError, match="expression"):
        compute_backprop_steps("nope")
    with pytest.raises(TypeError, match="root"):
        compute_backprop_steps(3.0)
    with pytest.raises(TypeError, match="root"):
        draw_graph([1, 2])


def test_draw_graph_shows_data_grad_and_highlight():
    o = build_expression("neuron")
    o.backward()
    ax = draw_graph(o, highlight=o, title="neuron")
    texts = [t.get_text() for t in ax.texts]
    assert any("grad 1.0000" in t and "o" in t for t in texts)
    assert any(t == "tanh" for t in texts)
    assert ax.get_title() == "neuron"


def test_stepper_controls_change_the_picture_and_fit_the_slider():
    explorer = make_backprop_stepper()
    first = explorer.png
    explorer.set(step=3)
    assert explorer.png != first
    n_small = len(compute_backprop_steps("reused input")[1])
    explorer.set(step=explorer.controls["step"].max)
    explorer.set(expression="reused input")
    assert explorer.controls["step"].max == n_small - 1
    assert explorer.controls["step"].value == n_small - 1
    assert "Step" in explorer.caption.value
    with pytest.raises(ValueError, match="expression"):
        make_backprop_stepper(expression="nope")


# ---------------------------------------------------------------- the lesson's lines on their own
def _lesson_engine():
    """A fresh copy of the lesson block of autograd.py, run on its own as notebook 02's mechanism cell is."""
    import course_utils.autograd as autograd

    source = Path(autograd.__file__).read_text(encoding="utf-8")
    lesson = source.split("# ---- the lesson: the same lines as notebook 02's mechanism cell ----\n")[1]
    namespace = {"math": math}
    exec(lesson.split("\n# ---- the public engine")[0], namespace)
    return namespace["Value"], namespace["topological_order"]


@pytest.mark.parametrize("seed", range(10))
def test_the_lesson_lines_alone_match_torch(seed):
    LessonValue, _ = _lesson_engine()
    leaves, program = _random_program(2000 + seed)
    values = [LessonValue(x) for x in leaves]
    out = _run(program, values)
    out.backward()
    tensors = [_t(x) for x in leaves]
    _run(program, tensors).backward()
    assert type(out) is LessonValue
    for v, t in zip(values[: len(leaves)], tensors):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert math.isclose(v.grad, expected, rel_tol=RTOL, abs_tol=ATOL)


def test_the_lesson_lines_handle_deep_graphs_reuse_and_repeated_backward():
    LessonValue, lesson_order = _lesson_engine()
    x = LessonValue(0.5)
    y = x
    for _ in range(5000):  # far deeper than Python's recursion limit
        y = y * 1.0001 + 0.0
    y.backward()
    assert math.isclose(x.grad, 1.0001**5000, rel_tol=1e-9)
    a, b = LessonValue(2.0), LessonValue(-1.0)
    out = a * b + a
    out.backward()
    out.backward()  # intermediate results restart from zero; leaves accumulate
    assert (a.grad, b.grad) == (0.0, 4.0)
    assert lesson_order(out)[-1] is out


def test_public_value_is_the_lesson_class_with_checks():
    from course_utils.autograd import _LessonValue

    v = Value(2.0) * 3 + 1
    assert isinstance(v, Value) and isinstance(v, _LessonValue) and type(v) is Value
    assert type(-v) is Value and type(2 / v) is Value and type(v**2) is Value


def test_mlp_runs_on_a_notebooks_own_engine_with_the_same_numbers():
    LessonValue, _ = _lesson_engine()
    ours, public = MLP(2, [4, 3, 1], seed=2, value_class=LessonValue), MLP(2, [4, 3, 1], seed=2)
    for net in (ours, public):
        loss = sum(((net(x) - 1.0) ** 2 for x in ([0.2, -0.4], [1.0, 0.5])), 0.0)
        loss.backward()
    assert all(type(p) is LessonValue for p in ours.parameters())
    assert [p.grad for p in ours.parameters()] == [p.grad for p in public.parameters()]
    with pytest.raises(TypeError, match="value_class"):
        MLP(2, [3, 1], value_class=float)


def test_graph_functions_accept_a_notebooks_own_engine():
    LessonValue, _ = _lesson_engine()
    a, b = LessonValue(2.0, label="a"), LessonValue(-3.0, label="b")
    f = a * b + a**2
    f.backward()
    assert topological_order(f)[-1] is f
    texts = [t.get_text() for t in draw_graph(f).texts]
    assert any(t.startswith("a\n") and "grad 1.0000" in t for t in texts)  # df/da = b + 2a = 1
    layout, steps = compute_backprop_steps(f)
    assert steps[-1].grads[-1] == 1.0
