"""A scalar autograd engine: every number remembers how it was made, so gradients can flow back.

In the spirit of Karpathy's micrograd. A `Value` holds one float (`data`), its gradient (`grad`),
the Values it was computed from (`_prev`, its children in the graph), the operation that made it
(`op`) and the local derivative of its result with respect to each child (`_local_grads`),
computed during the forward pass. `backward()` then applies the chain rule once per node in
reverse topological order:

    child.grad += local_grad * node.grad

Gradients *accumulate* (`+=`): a node used twice (`a * a`, `a + a`) receives one contribution
per use, and leaves keep adding up across `backward()` calls until you reset them, as in PyTorch.

On top of `Value`: `numerical_gradient` (central differences, the slow way to check it) and a
tiny `MLP` made of `Neuron`s, with `parameters()` and `zero_grad()` named as in PyTorch.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence


def _as_float(x, who: str) -> float:
    """`x` as a float, or a TypeError naming `who` and what is allowed."""
    if type(x) is float:  # the common case, checked first because it is fast
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        kind = type(x).__name__
        extra = "; for a 0-d tensor use tensor.item()" if kind == "Tensor" else ""
        raise TypeError(f"{who} must be an int or float, got {kind} {x!r}{extra}")
    return float(x)


class Value:
    """One scalar in a computation graph, with its gradient."""

    __slots__ = ("data", "grad", "_prev", "_local_grads", "op", "label")  # less memory, faster access

    def __init__(
        self, data, children: Sequence[Value] = (), op: str = "", local_grads: Sequence[float] = (), label: str = ""
    ):
        """
        Args:
            data: the number (int or float).
            children: the Values this one was computed from (empty for an input or parameter).
            op: the operation that made it, e.g. "*" or "tanh", shown in graph drawings.
            local_grads: d(self)/d(child) for each child, in the same order as `children`.
            label: an optional name, e.g. "w1", shown in graph drawings.
        """
        self.data = _as_float(data, "Value: data")
        children = tuple(children)
        local_grads = tuple(local_grads)
        if not all(isinstance(c, Value) for c in children):
            raise TypeError("Value: children must all be Values")
        if len(local_grads) != len(children):
            raise ValueError(
                f"Value: local_grads must have one entry per child ({len(children)}), got {len(local_grads)}"
            )
        self.grad = 0.0
        self._prev = children  # a tuple, not a set: `a * a` has the child `a` twice, and each use counts
        self._local_grads = tuple(_as_float(g, "Value: each local_grad") for g in local_grads)
        self.op = op
        self.label = label

    @classmethod
    def _result(cls, data: float, children: tuple, op: str, local_grads: tuple) -> Value:
        # Operations build their outputs here, skipping __init__'s checks: their inputs are known to be
        # good, and a training step makes hundreds of thousands of Values.
        out = cls.__new__(cls)
        out.data, out.grad, out._prev, out._local_grads, out.op, out.label = data, 0.0, children, local_grads, op, ""
        return out

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ---- arithmetic: each op returns a new Value and records its local derivatives ----

    @staticmethod
    def _lift(other, op: str) -> Value:
        # Plain numbers become constant leaves, so `2 * v` and `v + 1` work.
        if isinstance(other, Value):
            return other
        if isinstance(other, bool) or not isinstance(other, numbers.Real):
            raise TypeError(
                f"Value {op} other: other must be a Value, int or float, got {type(other).__name__} {other!r}"
            )
        return Value(other)

    def __add__(self, other) -> Value:
        other = self._lift(other, "+")
        return Value._result(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other) -> Value:
        other = self._lift(other, "*")
        return Value._result(self.data * other.data, (self, other), "*", (other.data, self.data))

    def __sub__(self, other) -> Value:
        other = self._lift(other, "-")
        return Value._result(self.data - other.data, (self, other), "-", (1.0, -1.0))

    def __truediv__(self, other) -> Value:
        other = self._lift(other, "/")
        if other.data == 0:
            raise ValueError("Value: division by zero (the divisor's data is 0)")
        b = other.data
        return Value._result(self.data / b, (self, other), "/", (1.0 / b, -self.data / b**2))

    def __neg__(self) -> Value:
        return Value._result(-self.data, (self,), "neg", (-1.0,))

    def __pow__(self, exponent) -> Value:
        if isinstance(exponent, Value):
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
        if n == 0:
            local = 0.0  # x**0 is the constant 1
        elif x == 0 and n < 1:
            local = math.inf  # the slope of x**0.5 at 0 is infinite; PyTorch says inf too
        else:
            local = n * x ** (n - 1)
        return Value._result(x**n, (self,), f"**{exponent:g}", (local,))

    # Reflected versions: Python calls these for `2 + v`, `2 * v`, `1 - v`, `3 / v`.
    def __radd__(self, other) -> Value:
        return self._lift(other, "+") + self

    def __rmul__(self, other) -> Value:
        return self._lift(other, "*") * self

    def __rsub__(self, other) -> Value:
        return self._lift(other, "-") - self

    def __rtruediv__(self, other) -> Value:
        return self._lift(other, "/") / self

    # ---- functions of one Value ----

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value._result(t, (self,), "tanh", (1.0 - t * t,))

    def relu(self) -> Value:
        # At exactly 0 the slope is taken as 0, the same convention as PyTorch.
        return Value._result(max(0.0, self.data), (self,), "relu", (1.0 if self.data > 0 else 0.0,))

    def sigmoid(self) -> Value:
        x = self.data
        # exp(-|x|) never overflows; the two branches are the same function rearranged.
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Value._result(s, (self,), "sigmoid", (s * (1.0 - s),))

    def exp(self) -> Value:
        if self.data > 709.78:  # math.exp overflows past log(largest float)
            raise ValueError(f"Value.exp: exp({self.data:.6g}) overflows a float (input must be <= 709.78)")
        e = math.exp(self.data)
        return Value._result(e, (self,), "exp", (e,))

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"Value.log: input must be > 0, got {self.data:.6g}")
        return Value._result(math.log(self.data), (self,), "log", (1.0 / self.data,))

    # ---- the backward pass ----

    def backward(self, grad: float = 1.0) -> None:
        """Add d(self)/d(node) * `grad` to `.grad` of every node this Value depends on.

        Args:
            grad: the gradient to start from, d(loss)/d(self); 1.0 when `self` is the loss.

        Intermediate nodes' gradients are recomputed from zero on each call; leaves (inputs and
        parameters) accumulate across calls, as in PyTorch: reset them before the next step.
        """
        grad = _as_float(grad, "Value.backward: grad")
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += grad
        for node in reversed(order):  # every node after all the nodes that use it
            for child, local in zip(node._prev, node._local_grads):
                child.grad += local * node.grad  # the chain rule, summed over every use


def topological_order(root: Value) -> list[Value]:
    """Every Value that `root` depends on, each after its children (inputs first, `root` last).

    Args:
        root: the output Value.

    Returns:
        A list of distinct Values; reversed, it is the order in which `backward` visits them.
    """
    if not isinstance(root, Value):
        raise TypeError(f"topological_order: root must be a Value, got {type(root).__name__}")
    order: list[Value] = []
    visited: set[int] = set()
    # Depth-first search with an explicit stack (deep graphs would overflow Python's recursion limit).
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in reversed(node._prev):  # reversed so the first child is visited first
            if id(child) not in visited:
                stack.append((child, False))
    return order


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

    def __init__(self, n_inputs: int, activation: str = "tanh", rng: random.Random | None = None):
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"Neuron: n_inputs must be a positive int, got {n_inputs!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Neuron: activation must be one of {_ACTIVATIONS}, got {activation!r}")
        rng = rng or random.Random(0)
        bound = 1 / math.sqrt(n_inputs)  # the same uniform range as torch.nn.Linear's default
        self.w = [Value(rng.uniform(-bound, bound), label="w") for _ in range(n_inputs)]
        self.b = Value(rng.uniform(-bound, bound), label="b")
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

    def __init__(self, n_inputs: int, layer_sizes: Sequence[int], activation: str = "tanh", seed: int = 0):
        """
        Args:
            n_inputs: number of input numbers.
            layer_sizes: widths of each layer, the last one being the output size, e.g. (8, 8, 1).
            activation: "tanh", "relu", "sigmoid" or "identity", used after every layer but the last.
            seed: seeds the weights' own random generator (the global seed is not touched).
        """
        sizes = list(layer_sizes)
        if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"MLP: layer_sizes must be a non-empty sequence of positive ints, got {layer_sizes!r}")
        rng = random.Random(seed)
        self.activation = activation
        widths = [n_inputs, *sizes]
        self.layers = [
            [Neuron(widths[i], activation if i < len(sizes) - 1 else "identity", rng) for _ in range(widths[i + 1])]
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
