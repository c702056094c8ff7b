"""Widgets for notebook 02, Backpropagation: computation graphs drawn, and a forward/backward stepper.

- `compute_layout(root)`: where each node of a `Value` graph goes (inputs left, output right).
- `draw_graph(root, ax=None, highlight=None)`: the graph drawn with matplotlib only (no graphviz):
  each node shows its label, data and grad; a small circle before it shows the op that made it.
- `compute_backprop_steps(expression)`: the forward pass node by node, then the backward pass
  node by node, as a list of `Step`s (pure, unit-tested).
- `make_backprop_stepper()`: a step slider and an expression menu around them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from course_utils.autograd import Value, _is_value, topological_order
from course_utils.plotting import PALETTE, new_figure

# Geometry in data units; the figure is sized so that one unit is about 0.9 inch.
_COLUMN_GAP = 2.1  # from one depth to the next
_ROW_GAP = 1.0  # minimum vertical distance between two nodes in one column
_BOX_W, _BOX_H = 1.25, 0.78
_OP_R = 0.2  # radius of the op circle
_OP_GAP = 0.42  # from the op circle's centre to its box's left edge
_INCH_PER_UNIT = 0.9
_MAX_NODES = 60  # beyond this the boxes overlap and nothing is readable

_OP_SYMBOLS = {"sigmoid": "σ", "neg": "−x", "relu": "relu"}  # short enough for the op circle

# Face colours for what is known about a node (the stepper uses all four; draw_graph the first two).
FACE = {"unknown": "#FFFFFF", "value": "#DDEFFA", "partial": "#FBE3B8", "final": "#CDEEDF"}


@dataclass(frozen=True)
class GraphLayout:
    """Where each node of a graph goes: nodes in topological order, positions, edges."""

    nodes: tuple[Value, ...]  # inputs first, the root last
    xy: tuple[tuple[float, float], ...]  # centre of each node's box, in data units
    edges: tuple[tuple[int, int], ...]  # (child index, parent index), once per use (a * a gives two)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) including boxes and op circles."""
        xs = [x for x, _ in self.xy]
        ys = [y for _, y in self.xy]
        return (
            min(xs) - _BOX_W / 2 - _OP_GAP - _OP_R - 0.1,
            max(xs) + _BOX_W / 2 + 0.1,
            min(ys) - _BOX_H / 2 - 0.1,
            max(ys) + _BOX_H / 2 + 0.1,
        )


def compute_layout(root: Value) -> GraphLayout:
    """Place the nodes of `root`'s graph by depth: inputs on the left, `root` on the right.

    An operation's column is one more than its deepest child's; an input sits one column
    before the first operation that uses it (so a bias added late is drawn near its use).
    Rows follow the order in which the inputs appear in the expression; an operation sits at
    the mean height of its children, then nodes in one column are pushed apart if they collide.

    Args:
        root: the output Value.

    Returns:
        A `GraphLayout`.
    """
    nodes = topological_order(root)
    if len(nodes) > _MAX_NODES:
        raise ValueError(
            f"compute_layout: the graph has {len(nodes)} nodes; drawings are readable up to "
            f"{_MAX_NODES}, so draw a smaller expression"
        )
    index = {id(n): i for i, n in enumerate(nodes)}
    edges = [(index[id(c)], i) for i, n in enumerate(nodes) for c in n._prev]
    depth = [0] * len(nodes)
    for i, n in enumerate(nodes):
        if n._prev:
            depth[i] = 1 + max(depth[index[id(c)]] for c in n._prev)
    for i, n in enumerate(nodes):
        users = [depth[p] for c, p in edges if c == i]
        if not n._prev and users:
            depth[i] = min(users) - 1
    y = [0.0] * len(nodes)
    leaf_row = 0
    for i, n in enumerate(nodes):  # topological order visits the inputs left to right in the expression
        if n._prev:
            children = {index[id(c)] for c in n._prev}
            y[i] = sum(y[c] for c in children) / len(children)
        else:
            y[i] = -float(leaf_row)
            leaf_row += 1
    for column in set(depth):  # push apart nodes of one column that would overlap, top to bottom
        members = sorted((i for i in range(len(nodes)) if depth[i] == column), key=lambda i: -y[i])
        for above, below in zip(members, members[1:]):
            y[below] = min(y[below], y[above] - _ROW_GAP)
    xy = tuple((depth[i] * _COLUMN_GAP, y[i]) for i in range(len(nodes)))
    return GraphLayout(tuple(nodes), xy, tuple(edges))


def _node_name(node: Value) -> str:
    if node.label:
        return node.label
    return f"{node.data:g}" if not node._prev else ""


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:.4f}"


class GraphDrawing:
    """The artists of one drawn graph, updated in place (texts, colours) by the stepper.

    `boxes`, `texts` and `edge_arrows` are what `update` changes; `artists` holds everything drawn,
    in the order it was added (op circles and their symbols too).
    """

    def __init__(self, layout: GraphLayout, ax: Axes):
        self.layout, self.ax = layout, ax
        self.boxes, self.texts, self.edge_arrows, self.artists = [], [], [], []
        for (x, y), node in zip(layout.xy, layout.nodes):
            box = FancyBboxPatch(
                (x - _BOX_W / 2, y - _BOX_H / 2),
                _BOX_W,
                _BOX_H,
                boxstyle="round,pad=0.02",
                fc=FACE["value"],
                ec="black",
                lw=1.0,
                zorder=3,
            )
            ax.add_patch(box)
            self.boxes.append(box)
            self.texts.append(ax.text(x, y, "", ha="center", va="center", fontsize=9, family="monospace", zorder=4))
            self.artists += [box, self.texts[-1]]
            if node._prev:  # the op circle, joined to its box
                ox = x - _BOX_W / 2 - _OP_GAP
                circle = ax.add_patch(Circle((ox, y), _OP_R, fc="white", ec="0.35", lw=1.0, zorder=3))
                op = _OP_SYMBOLS.get(node.op, node.op)
                symbol = ax.text(ox, y, op, ha="center", va="center", fontsize=9 if len(op) < 4 else 7.5, zorder=4)
                (joint,) = ax.plot([ox + _OP_R, x - _BOX_W / 2], [y, y], color="0.35", lw=1.0, zorder=2)
                self.artists += [circle, symbol, joint]
        seen: dict[tuple[int, int], int] = {}
        for child, parent in layout.edges:
            (cx, cy), (px, py) = layout.xy[child], layout.xy[parent]
            repeat = seen.get((child, parent), 0)  # a * a: bend the second arrow so both show
            seen[(child, parent)] = repeat + 1
            arrow = FancyArrowPatch(
                (cx + _BOX_W / 2, cy),
                (px - _BOX_W / 2 - _OP_GAP, py),
                arrowstyle="-|>",
                mutation_scale=10,
                color="0.55",
                lw=1.0,
                shrinkA=0,
                shrinkB=_OP_R * 72 * _INCH_PER_UNIT,
                connectionstyle=f"arc3,rad={0.35 * repeat}",
                zorder=1,
            )
            ax.add_patch(arrow)
            self.edge_arrows.append(arrow)
            self.artists.append(arrow)
        xmin, xmax, ymin, ymax = layout.extent
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
        ax.set_aspect("equal")
        ax.axis("off")

    def update(
        self,
        values: Iterable[float | None] | None = None,
        grads: Iterable[float | None] | None = None,
        faces: Iterable[str] | None = None,
        highlight: Iterable[int] = (),
        active_edges: Iterable[tuple[int, int]] = (),
        edge_color: str = PALETTE["blue"],
    ) -> None:
        """Rewrite each node's text and colours.

        Args:
            values, grads: one entry per node (None shows "?"); default: the nodes' own data and grad.
            faces: one key of `FACE` per node; default: inputs "value", others "unknown" (white).
            highlight: node indices outlined in vermillion.
            active_edges: (child, parent) pairs drawn thick in `edge_color`.
        """
        nodes = self.layout.nodes
        values = [n.data for n in nodes] if values is None else list(values)
        grads = [n.grad for n in nodes] if grads is None else list(grads)
        faces = ["unknown" if n._prev else "value" for n in nodes] if faces is None else list(faces)
        highlight = set(highlight)
        for i, node in enumerate(nodes):
            name = _node_name(node)
            lines = ([name] if name else []) + [f"data {_fmt(values[i])}", f"grad {_fmt(grads[i])}"]
            self.texts[i].set_text("\n".join(lines))
            self.boxes[i].set_facecolor(FACE[faces[i]])
            self.boxes[i].set_edgecolor(PALETTE["vermillion"] if i in highlight else "black")
            self.boxes[i].set_linewidth(3.0 if i in highlight else 1.0)
        active = set(active_edges)
        for arrow, edge in zip(self.edge_arrows, self.layout.edges):
            on = edge in active
            arrow.set_color(edge_color if on else "0.6")
            arrow.set_linewidth(2.5 if on else 1.0)


def draw_graph(
    root: Value, ax: Axes | None = None, highlight: Value | Iterable[Value] | None = None, title: str | None = None
) -> Axes:
    """Draw the computation graph behind `root`, inputs on the left, `root` on the right.

    Each node is a box with its label (if any), `data` and `grad`; the circle before a box is
    the operation that produced it; arrows point from the values an operation uses to it.
    Matplotlib only, no graphviz.

    Args:
        root: the output Value (call `root.backward()` first to see gradients).
        ax: an Axes to draw into; by default a new figure sized to the graph
            (shown by the notebook because it is the Axes' figure; use `display(ax.figure)`).
        highlight: a node or nodes to outline in vermillion.
        title: an optional title above the graph.

    Returns:
        The Axes drawn into.
    """
    if not _is_value(root):
        raise TypeError(f"draw_graph: root must be a Value, got {type(root).__name__}")
    layout = compute_layout(root)
    if ax is None:
        xmin, xmax, ymin, ymax = layout.extent
        _, ax = new_figure(width=(xmax - xmin) * _INCH_PER_UNIT + 0.3, height=(ymax - ymin) * _INCH_PER_UNIT + 0.5)
    if _is_value(highlight):
        highlight = [highlight]
    wanted = {id(v) for v in (highlight or [])}
    drawing = GraphDrawing(layout, ax)
    drawing.update(highlight=[i for i, n in enumerate(layout.nodes) if id(n) in wanted])
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------- the stepper
def _neuron() -> Value:
    # Karpathy's micrograd example: the bias is chosen so that n = 0.8814 and o = tanh(n) = 0.7071.
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    s = x1w1 + x2w2
    s.label = "s"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def _reused_input() -> Value:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    c.label = "c = a*b"
    d = a**2
    d.label = "d = a**2"
    f = c + d
    f.label = "f"
    return f


def _squared_error() -> Value:
    w, x, b, y = Value(0.5, label="w"), Value(2.0, label="x"), Value(-0.5, label="b"), Value(1.0, label="y")
    z = w * x
    z.label = "w*x"
    z = z + b
    z.label = "z"
    p = z.sigmoid()
    p.label = "p"
    e = p - y
    e.label = "e"
    loss = e**2
    loss.label = "L"
    return loss


EXPRESSIONS: dict[str, tuple[str, Callable[[], Value]]] = {
    "neuron": ("o = tanh(x1*w1 + x2*w2 + b)", _neuron),
    "reused input": ("f = a*b + a**2  (a is used twice)", _reused_input),
    "squared error": ("L = (sigmoid(w*x + b) - y)**2", _squared_error),
}

# How each op's local derivatives read, for the step descriptions (a, b: the op's inputs).
_LOCAL_RULES = {
    "+": "d(a+b)/da = 1, d(a+b)/db = 1",
    "-": "d(a-b)/da = 1, d(a-b)/db = -1",
    "*": "d(a*b)/da = b, d(a*b)/db = a",
    "/": "d(a/b)/da = 1/b, d(a/b)/db = -a/b**2",
    "neg": "d(-a)/da = -1",
    "tanh": "d tanh(a)/da = 1 - tanh(a)**2",
    "relu": "d relu(a)/da = 1 if a > 0 else 0",
    "sigmoid": "d sigmoid(a)/da = sigmoid(a)(1 - sigmoid(a))",
    "exp": "d exp(a)/da = exp(a)",
    "log": "d log(a)/da = 1/a",
}


def build_expression(name: str) -> Value:
    """A fresh copy of one of the stepper's expressions (a key of `EXPRESSIONS`), not yet backpropagated."""
    if name not in EXPRESSIONS:
        raise ValueError(f"expression must be one of {tuple(EXPRESSIONS)}, got {name!r}")
    return EXPRESSIONS[name][1]()


@dataclass(frozen=True)
class Step:
    """One moment of the forward or backward pass, with everything known at that moment."""

    phase: str  # "forward" or "backward"
    node: int  # the node this step computes (forward) or passes gradient from (backward)
    values: tuple[float | None, ...]  # data per node; None = not computed yet
    grads: tuple[float | None, ...]  # grad per node so far (partial sums); None = not reached yet
    final: tuple[bool, ...]  # True once a node's gradient has received every contribution
    edges: tuple[tuple[int, int], ...]  # (child, parent) edges used in this step
    text: str  # what happens, in words and numbers


def _name(node: Value) -> str:
    return node.label.split(" = ")[0] if node.label else f"{node.data:g}"


def _written(op: str, args: list[str]) -> str:
    """An operation applied to its arguments, as it would be typed: "a * b", "a**2", "tanh(n)"."""
    if len(args) == 2:
        return f"{args[0]} {op} {args[1]}"
    if op.startswith("**"):
        return f"({args[0]}){op}" if args[0].startswith("-") else f"{args[0]}{op}"
    return f"-({args[0]})" if op == "neg" else f"{op}({args[0]})"


def compute_backprop_steps(root: Value | str) -> tuple[GraphLayout, list[Step]]:
    """The forward pass node by node, then the backward pass node by node, run by the real engine.

    Forward: one step per node in topological order; its value becomes known. Backward: one step
    to seed d(root)/d(root) = 1, then one step per operation in reverse topological order, which
    passes its (now complete) gradient to its inputs: `child.grad += local * node.grad`.

    Args:
        root: an expression name (a key of `EXPRESSIONS`) or a Value (its graph's `grad`s are reset
            and recomputed).

    Returns:
        `(layout, steps)`: the graph's `GraphLayout` (node indices used by the steps) and the steps.
    """
    if isinstance(root, str):
        root = build_expression(root)
    if not _is_value(root):
        raise TypeError(
            f"compute_backprop_steps: root must be a Value or an expression name, got {type(root).__name__}"
        )
    layout = compute_layout(root)
    nodes, edges = layout.nodes, layout.edges
    index = {id(n): i for i, n in enumerate(nodes)}
    count = len(nodes)
    steps: list[Step] = []
    values: list[float | None] = [None] * count
    no_grads = (None,) * count
    not_final = (False,) * count
    for i, node in enumerate(nodes):
        values[i] = node.data
        if not node._prev:
            text = f"{_name(node)} is an input: {_name(node)} = {node.data:.4g}"
            used = ()
        else:
            formula = _written(node.op, [_name(c) for c in node._prev])
            numeric = _written(node.op, [f"{c.data:.4g}" for c in node._prev])
            text = f"{_name(node)} = {formula} = {numeric} = {node.data:.4g}"
            used = tuple((c, p) for c, p in edges if p == i)
        steps.append(Step("forward", i, tuple(values), no_grads, not_final, used, text))
    # Backward, by the engine's own rule; track which gradients have received every contribution.
    for node in nodes:
        node.grad = 0.0
    uses_left = [sum(1 for c, _ in edges if c == i) for i in range(count)]
    reached = [False] * count
    final = [False] * count
    root_i = count - 1
    root.grad = 1.0
    reached[root_i] = final[root_i] = True

    def snapshot() -> tuple[tuple[float | None, ...], tuple[bool, ...]]:
        return tuple(n.grad if reached[i] else None for i, n in enumerate(nodes)), tuple(final)

    grads, finals = snapshot()
    steps.append(
        Step(
            "backward",
            root_i,
            tuple(values),
            grads,
            finals,
            (),
            f"Start at the output: d{_name(root)}/d{_name(root)} = 1",
        )
    )
    for i in reversed(range(count)):
        node = nodes[i]
        if not node._prev:
            continue
        parts = []
        for child, local in zip(node._prev, node._local_grads):
            c = index[id(child)]
            child.grad += local * node.grad  # the chain rule, exactly as Value.backward does it
            reached[c] = True
            uses_left[c] -= 1
            final[c] = uses_left[c] == 0
            parts.append(f"{_name(child)}.grad += {local:.4g} * {node.grad:.4g}")
        rule = _LOCAL_RULES.get(node.op, f"d(a**n)/da = n * a**(n-1) with n = {node.op[2:]}")
        grads, finals = snapshot()
        steps.append(
            Step(
                "backward",
                i,
                tuple(values),
                grads,
                finals,
                tuple((c, p) for c, p in edges if p == i),
                f"{_name(node)}.grad = {node.grad:.4g} is complete; local rule {rule}; " + "; ".join(parts),
            )
        )
    return layout, steps


def _faces(step: Step) -> list[str]:
    faces = []
    for value, grad, done in zip(step.values, step.grads, step.final):
        faces.append(
            "final" if done else "partial" if grad is not None else "value" if value is not None else "unknown"
        )
    return faces


_LEGEND = (
    "<span style='background:{value};padding:0 4px'>value known</span> "
    "<span style='background:{partial};padding:0 4px'>gradient partial</span> "
    "<span style='background:{final};padding:0 4px'>gradient complete</span>"
).format(**FACE)


def make_backprop_stepper(expression: str = "neuron", step: int = 0):
    """Step through the forward then the backward pass of a small expression, node by node.

    Controls: `step` walks the forward pass (values appear, inputs to outputs) then the backward
    pass (gradients appear, output to inputs); `expression` picks the expression. The node of the
    current step is outlined; the edges it uses are drawn thick (blue forward, orange backward).
    """
    from course_utils.widgets.explorer import Explorer

    if expression not in EXPRESSIONS:
        raise ValueError(f"make_backprop_stepper: expression must be one of {tuple(EXPRESSIONS)}, got {expression!r}")
    runs = {name: compute_backprop_steps(name) for name in EXPRESSIONS}
    # One scale for every expression: the axes span the largest graph, so boxes keep their size.
    extents = [layout.extent for layout, _ in runs.values()]
    xmin, xmax = min(e[0] for e in extents), max(e[1] for e in extents)
    ymin, ymax = min(e[2] for e in extents), max(e[3] for e in extents)
    height = (ymax - ymin) * _INCH_PER_UNIT + 0.5
    fig, ax = new_figure(width=(xmax - xmin) * _INCH_PER_UNIT + 0.3, height=height)
    # The frame never changes, so place the axes by hand: a layout engine would redo its work on every update.
    fig.set_layout_engine("none")
    ax.set_position([0.01, 0.01, 0.98, 1 - 0.45 / height])
    ax.set_anchor("S")
    # Every expression's graph is drawn once, then shown or hidden: a step then only rewrites texts and colours.
    drawings = {name: GraphDrawing(layout, ax) for name, (layout, _) in runs.items()}
    title = ax.set_title("", fontsize=11, loc="left")  # then set_text: set_title marks the whole axes changed
    shown = {"name": None}

    n_steps = len(runs[expression][1])
    step_slider = widgets.IntSlider(
        value=min(max(step, 0), n_steps - 1), min=0, max=n_steps - 1, description="step", continuous_update=True
    )
    menu = widgets.Dropdown(options=list(EXPRESSIONS), value=expression, description="expression")

    def fit_slider(change) -> None:
        # Each expression has its own number of steps; lowering max clamps the value for us.
        step_slider.max = len(runs[change["new"]][1]) - 1

    menu.observe(fit_slider, names="value")  # registered before the Explorer's, so it runs first

    def draw(step, expression):
        layout, steps = runs[expression]
        if shown["name"] != expression:  # another graph (a menu change): show it, and redraw everything
            for name, drawing in drawings.items():
                for artist in drawing.artists:
                    artist.set_visible(name == expression)
            gx0, gx1, gy0, gy1 = layout.extent  # centre a smaller graph in the common frame
            cx, cy = (gx0 + gx1) / 2, (gy0 + gy1) / 2
            ax.set_xlim(cx - (xmax - xmin) / 2, cx + (xmax - xmin) / 2)
            ax.set_ylim(cy - (ymax - ymin) / 2, cy + (ymax - ymin) / 2)
            shown["name"] = expression
        s = steps[min(step, len(steps) - 1)]
        forward = s.phase == "forward"
        drawings[expression].update(
            s.values,
            s.grads,
            _faces(s),
            highlight=[s.node],
            active_edges=s.edges,
            edge_color=PALETTE["blue"] if forward else PALETTE["orange"],
        )
        n_forward = sum(1 for t in steps if t.phase == "forward")
        where = (
            f"forward pass, node {s.node + 1} of {n_forward}"
            if forward
            else f"backward pass, step {step - n_forward + 1} of {len(steps) - n_forward}"
        )
        title.set_text(f"{EXPRESSIONS[expression][0]}    [{where}]")
        return f"<b>Step {step} of {len(steps) - 1}</b> ({where}): <code>{s.text}</code><br>{_LEGEND}"

    # dynamic: what a step changes (the op circles, their symbols and joints stay in the cached picture)
    dynamic = [title]
    for drawing in drawings.values():
        dynamic += [*drawing.boxes, *drawing.texts, *drawing.edge_arrows]
    controls = {"step": step_slider, "expression": menu}
    # background_key: each expression's graph is a static picture of its own, kept once drawn. Every
    # step of every expression (40 pictures, ~2 s) is drawn when the explorer is built and kept: a step
    # rewrites some 30 texts, most of an update's time, and a learner steps back and forth.
    settings = [{"expression": name, "step": i} for name, (_, steps) in runs.items() for i in range(len(steps))]
    return Explorer(
        "backprop-stepper",
        controls,
        fig,
        draw,
        dynamic=dynamic,
        background_key=lambda expression, **_: expression,
        keep_pictures=settings,
    )
