"""A scalar autograd engine: every number remembers how it was made, so gradients can flow back.

In the spirit of Karpathy's micrograd. The lesson, `Value` and `topological_order` in the first
block below, is the same text as the `mechanism` cell of notebook 02 (`tests/test_mechanism_cells.py`
keeps them identical): a `Value` holds one float (`data`), its gradient (`grad`), the Values it was
computed from (`_prev`), the operation that made it (`op`) and the local derivative of its result
with respect to each child (`_local_grads`), computed during the forward pass. `backward()` applies
the chain rule once per edge, in reverse topological order:

    child.grad += local_grad * node.grad

Gradients *accumulate* (`+=`): a node used twice (`a * a`, `a + a`) receives one contribution
per use, and leaves keep adding up across `backward()` calls until you reset them, as in PyTorch.

Below the lesson, the public `Value` is a subclass that adds what a learner need not read: argument
checks with clear errors, PyTorch's conventions at the edges (the slope of x**0.5 at 0, a sigmoid that
never overflows) and a readable repr. Then `numerical_gradient` (central differences, the slow way to
check a gradient) and a tiny `MLP` made of `Neuron`s, with `parameters()` and `zero_grad()` named as
in PyTorch.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence


# ---- the lesson: the same lines as notebook 02's mechanism cell ----
class Value:
    """One number in a computation graph, with the gradient of the output with respect to it."""

    def __init__(self, data, children=(), op="", local_grads=(), label=""):
        self.data = data  # the number
        self.grad = 0.0  # d(output)/d(self), filled in by backward()
        self._prev = tuple(children)  # the Values this one was computed from (a tuple: `a * a` lists `a` twice)
        self._local_grads = tuple(local_grads)  # d(self)/d(child) for each child, known after the forward pass
        self.op = op  # the operation that made it, e.g. "*" (for drawings)
        self.label = label  # an optional name, e.g. "w1" (for drawings)

    # Each operation returns a new Value that records its inputs and its local derivatives.
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)  # a plain number becomes a constant
        return Value(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data - other.data, (self, other), "-", (1.0, -1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), "*", (other.data, self.data))

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        a, b = self.data, other.data
        return Value(a / b, (self, other), "/", (1 / b, -a / b**2))

    def __pow__(self, n):  # n is a constant number, not a Value
        return Value(self.data**n, (self,), f"**{n:g}", (n * self.data ** (n - 1),))

    def __neg__(self):
        return self * -1

    # Python calls these for `2 + v`, `2 - v`, `2 * v` and `2 / v`.
    def __radd__(self, other):
        return Value(other) + self

    def __rsub__(self, other):
        return Value(other) - self

    def __rmul__(self, other):
        return Value(other) * self

    def __rtruediv__(self, other):
        return Value(other) / self

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", (1 - t**2,))

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        return Value(s, (self,), "sigmoid", (s * (1 - s),))

    def relu(self):  # the slope at exactly 0 is taken as 0, as in PyTorch
        return Value(max(0.0, self.data), (self,), "relu", (1.0 if self.data > 0 else 0.0,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), "exp", (e,))

    def log(self):
        return Value(math.log(self.data), (self,), "log", (1 / self.data,))

    def backward(self, grad=1.0):
        """Add d(self)/d(node) * grad to the .grad of every Value that self depends on."""
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0  # results start from zero on every call; leaves accumulate, as in PyTorch
        self.grad += grad  # d(self)/d(self) = 1, times the gradient we start from
        for node in reversed(order):  # each node after every node that uses it, so its grad is complete
            for child, local in zip(node._prev, node._local_grads):
                child.grad += local * node.grad  # the chain rule; += because a value may be used more than once


def topological_order(root):
    """Every Value that root depends on, each after the Values it was computed from (root last)."""
    order, visited = [], set()
    stack = [(root, False)]  # depth-first search with a stack, not recursion: deep graphs are fine
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)  # all its children are already in the order
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))  # come back to this node once its children are done
            for child in reversed(node._prev):
                stack.append((child, False))
    return order


# ---- the public engine: the lesson above, plus checks, edge cases and a repr ----
_LessonValue, _lesson_topological_order = Value, topological_order


def _as_float(x, who: str) -> float:
    """`x` as a float, or a TypeError naming `who` and what is allowed."""
    if type(x) is float:  # the common case, checked first because it is fast
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        kind = type(x).__name__
        extra = "; for a 0-d tensor use tensor.item()" if kind == "Tensor" else ""
        raise TypeError(f"{who} must be an int or float, got {kind} {x!r}{extra}")
    return float(x)


def _is_value(x) -> bool:
    """True for a Value of this module or of the notebook's own copy of the engine (same attributes)."""
    return isinstance(x, _LessonValue) or (hasattr(x, "_prev") and hasattr(x, "_local_grads") and hasattr(x, "data"))


def _operand(other, op: str):
    """`other` if it can take part in `value <op> other` (a Value, int or float), else a TypeError."""
    if _is_value(other) or (isinstance(other, numbers.Real) and not isinstance(other, bool)):
        return other
    raise TypeError(f"Value {op} other: other must be a Value, int or float, got {type(other).__name__} {other!r}")


def _nonzero_divisor(other) -> None:
    if (other.data if _is_value(other) else other) == 0:
        raise ValueError("Value: division by zero (the divisor's data is 0)")


class Value(_LessonValue):
    """One scalar in a computation graph, with its gradient (the lesson's class, with checked arguments)."""

    def __init__(self, data, children: Sequence = (), op: str = "", local_grads: Sequence[float] = (), label: str = ""):
        """
        Args:
            data: the number (int or float).
            children: the Values this one was computed from (empty for an input or parameter).
            op: the operation that made it, e.g. "*" or "tanh", shown in graph drawings.
            local_grads: d(self)/d(child) for each child, in the same order as `children`.
            label: an optional name, e.g. "w1", shown in graph drawings.
        """
        data = _as_float(data, "Value: data")
        if children or local_grads:
            children, local_grads = tuple(children), tuple(local_grads)
            if not all(_is_value(c) for c in children):
                raise TypeError("Value: children must all be Values")
            if len(local_grads) != len(children):
                raise ValueError(
                    f"Value: local_grads must have one entry per child ({len(children)}), got {len(local_grads)}"
                )
            local_grads = tuple(_as_float(g, "Value: each local_grad") for g in local_grads)
        super().__init__(data, children, op, local_grads, label)

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    def __add__(self, other) -> Value:
        return super().__add__(_operand(other, "+"))

    def __sub__(self, other) -> Value:
        return super().__sub__(_operand(other, "-"))

    def __mul__(self, other) -> Value:
        return super().__mul__(_operand(other, "*"))

    def __truediv__(self, other) -> Value:
        _nonzero_divisor(_operand(other, "/"))
        return super().__truediv__(other)

    def __radd__(self, other) -> Value:
        return super().__radd__(_operand(other, "+"))

    def __rsub__(self, other) -> Value:
        return super().__rsub__(_operand(other, "-"))

    def __rmul__(self, other) -> Value:
        return super().__rmul__(_operand(other, "*"))

    def __rtruediv__(self, other) -> Value:
        _nonzero_divisor(self)
        return super().__rtruediv__(_operand(other, "/"))

    def __pow__(self, exponent) -> Value:
        if _is_value(exponent):
            raise TypeError(
                "Value ** exponent: the exponent must be an int or float constant, got a Value; "
                "for x ** y with y a Value write (y * x.log()).exp()"
            )
        n = _as_float(exponent, "Value ** exponent: the exponent")
        x = self.data
        if x == 0 and n < 0:
            raise ValueError(f"Value ** {exponent!r}: 0 cannot be raised to a negative power")
        if x < 0 and not n.is_integer():
            raise ValueError(f"Value ** {exponent!r}: a negative base ({x:.6g}) needs an integer exponent")
        if n == 0 or (x == 0 and n < 1):  # x**0 is the constant 1; the slope of x**0.5 at 0 is inf (PyTorch too)
            return Value(x**n, (self,), f"**{n:g}", (0.0 if n == 0 else math.inf,))
        return super().__pow__(n)

    def sigmoid(self) -> Value:
        if self.data >= 0:
            return super().sigmoid()
        e = math.exp(self.data)  # the same function as 1 / (1 + exp(-x)), without overflow for very negative x
        s = e / (1 + e)
        return Value(s, (self,), "sigmoid", (s * (1 - s),))

    def exp(self) -> Value:
        if self.data > 709.78:  # math.exp overflows past log(largest float)
            raise ValueError(f"Value.exp: exp({self.data:.6g}) overflows a float (input must be <= 709.78)")
        return super().exp()

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"Value.log: input must be > 0, got {self.data:.6g}")
        return super().log()

    def backward(self, grad: float = 1.0) -> None:
        """Add d(self)/d(node) * `grad` to `.grad` of every node this Value depends on.

        Args:
            grad: the gradient to start from, d(loss)/d(self); 1.0 when `self` is the loss.

        Intermediate nodes' gradients are recomputed from zero on each call; leaves (inputs and
        parameters) accumulate across calls, as in PyTorch: reset them before the next step.
        """
        super().backward(_as_float(grad, "Value.backward: grad"))


def topological_order(root: Value) -> list[Value]:
    """Every Value that `root` depends on, each after its children (inputs first, `root` last).

    Args:
        root: the output Value (of this module, or of notebook 02's own copy of the engine).

    Returns:
        A list of distinct Values; reversed, it is the order in which `backward` visits them.
    """
    if not _is_value(root):
        raise TypeError(f"topological_order: root must be a Value, got {type(root).__name__}")
    return _lesson_topological_order(root)


def numerical_gradient(f: Callable[[list[float]], float], xs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """Partial derivatives of `f` at `xs` by central differences: (f(x + eps) - f(x - eps)) / (2 eps).

    Needs two evaluations of `f` per input, which is why nobody trains networks this way; it is
    the independent check that a backward pass is right.

    Args:
        f: a function of a list of floats returning a float.
        xs: the point, a sequence of numbers.
        eps: the step; about 1e-6 balances truncation error (eps**2) and round-off (1e-16 / eps).

    Returns:
        A list with one partial derivative per entry of `xs`.
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient: f must be callable, got {type(f).__name__}")
    point = [_as_float(x, "numerical_gradient: each entry of xs") for x in xs]
    eps = _as_float(eps, "numerical_gradient: eps")
    if eps <= 0:
        raise ValueError(f"numerical_gradient: eps must be > 0, got {eps}")
    grads = []
    for i in range(len(point)):
        up, down = list(point), list(point)
        up[i] += eps
        down[i] -= eps
        grads.append((float(f(up)) - float(f(down))) / (2 * eps))
    return grads


# ---- a tiny neural network made of Values ----

_ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity")


class Neuron:
    """activation(w . x + b) for one output."""

    def __init__(
        self, n_inputs: int, activation: str = "tanh", rng: random.Random | None = None, value_class: type = Value
    ):
        """
        Args:
            n_inputs: number of inputs.
            activation: "tanh", "relu", "sigmoid" or "identity".
            rng: the random generator for the weights (default: a fresh one seeded with 0).
            value_class: the class of the weights: this module's `Value`, or notebook 02's own engine.
        """
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"Neuron: n_inputs must be a positive int, got {n_inputs!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Neuron: activation must be one of {_ACTIVATIONS}, got {activation!r}")
        if not isinstance(value_class, type) or not _is_value(value_class(0.0)):
            raise TypeError(f"Neuron: value_class must be a Value class, got {value_class!r}")
        rng = rng or random.Random(0)
        bound = 1 / math.sqrt(n_inputs)  # the same uniform range as torch.nn.Linear's default
        self.w = [value_class(rng.uniform(-bound, bound), label="w") for _ in range(n_inputs)]
        self.b = value_class(rng.uniform(-bound, bound), label="b")
        self.activation = activation

    def __call__(self, x: Sequence) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron: expected {len(self.w)} inputs, got {len(x)}")
        z = self.b
        for wi, xi in zip(self.w, x):
            z = z + wi * xi
        return z if self.activation == "identity" else getattr(z, self.activation)()

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]


class MLP:
    """Fully connected layers of Neurons; the last layer has no activation (it outputs scores)."""

    def __init__(
        self,
        n_inputs: int,
        layer_sizes: Sequence[int],
        activation: str = "tanh",
        seed: int = 0,
        value_class: type = Value,
    ):
        """
        Args:
            n_inputs: number of input numbers.
            layer_sizes: widths of each layer, the last one being the output size, e.g. (8, 8, 1).
            activation: "tanh", "relu", "sigmoid" or "identity", used after every layer but the last.
            seed: seeds the weights' own random generator (the global seed is not touched).
            value_class: the class of the parameters: this module's `Value` (the default), or the
                `Value` a notebook defines itself, so that the network runs on that engine.
        """
        sizes = list(layer_sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"MLP: layer_sizes must be a non-empty sequence of positive ints, got {layer_sizes!r}")
        rng = random.Random(seed)
        self.activation = activation
        widths = [n_inputs, *sizes]
        self.layers = [
            [
                Neuron(widths[i], activation if i < len(sizes) - 1 else "identity", rng, value_class)
                for _ in range(widths[i + 1])
            ]
            for i in range(len(sizes))
        ]

    def __call__(self, x: Sequence) -> Value | list[Value]:
        """The output for one example `x` (numbers or Values): a Value if the output size is 1, else a list."""
        for layer in self.layers:
            x = [neuron(x) for neuron in layer]
        return x[0] if len(x) == 1 else x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for neuron in layer for p in neuron.parameters()]

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to 0 (gradients accumulate otherwise)."""
        for p in self.parameters():
            p.grad = 0.0

    def layer_weights(self) -> list[tuple[list[list[float]], list[float]]]:
        """Per layer, `(W, b)` as plain lists: W is (out, in) like `torch.nn.Linear.weight`, b is (out,)."""
        return [([[w.data for w in n.w] for n in layer], [n.b.data for n in layer]) for layer in self.layers]

    def to_torch(self):
        """The same network in PyTorch (`nn.Sequential` of float64 `Linear`s), weights copied: a twin to check against.

        Its `parameters()` come in a different order (a whole weight matrix, then a bias vector, per layer).
        """
        import torch  # only here: the engine itself needs nothing but the standard library

        modules = {
            "tanh": torch.nn.Tanh,
            "relu": torch.nn.ReLU,
            "sigmoid": torch.nn.Sigmoid,
            "identity": torch.nn.Identity,
        }
        layers: list = []
        for W, b in self.layer_weights():
            linear = torch.nn.Linear(len(W[0]), len(W), dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.tensor(W, dtype=torch.float64))  # (out, in)
                linear.bias.copy_(torch.tensor(b, dtype=torch.float64))  # (out,)
            layers += [linear, modules[self.activation]()]
        return torch.nn.Sequential(*layers[:-1])  # no activation after the last layer
