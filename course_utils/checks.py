"""Exercise checks: run a learner's answer on a few cases and explain the result in plain words.

A check never raises. It returns a `CheckResult` that a notebook shows as a coloured box:
- correct: confirmed, with how many cases were tried;
- not attempted: the stub still raises `NotImplementedError`;
- not yet: the first failing case, what was expected, what came back, and a hint.
Wrong types, shapes and exceptions inside the learner's code are explained the same way,
never shown as a raw traceback.

Each notebook's checks live in `course_utils/exercises/<topic>.py` and are built from
`check_function` (a function checked on cases against a reference) or `check_value`
(a single value the learner computed).
"""

from __future__ import annotations

import copy
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

CORRECT, NOT_ATTEMPTED, INCORRECT = "correct", "not attempted", "not yet"
_STYLE = {
    CORRECT: ("#009E73", "✅", "Correct"),
    NOT_ATTEMPTED: ("#E69F00", "⏳", "Not attempted yet"),
    INCORRECT: ("#D55E00", "❌", "Not yet"),
}


@dataclass
class CheckResult:
    """What a check found; shown as a coloured box in a notebook, as text elsewhere."""

    name: str
    status: str
    message: str
    details: list[str] = field(default_factory=list)
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == CORRECT

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        _, icon, title = _STYLE[self.status]
        lines = [f"{icon} {self.name}: {title}. {self.message}"]
        lines += [f"   {line}" for line in self.details]
        if self.hint and self.status != CORRECT:
            lines.append(f"   Hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        colour, icon, title = _STYLE[self.status]
        esc = html.escape
        body = f"<b>{icon} {esc(self.name)}: {title}.</b> {esc(self.message)}"
        if self.details:
            body += "<pre style='margin:4px 0;white-space:pre-wrap'>" + esc("\n".join(self.details)) + "</pre>"
        if self.hint and self.status != CORRECT:
            body += f"<details><summary>Hint</summary>{esc(self.hint)}</details>"
        return (
            f"<div class='cu-check' style='border-left:6px solid {colour};padding:6px 10px;"
            f"margin:4px 0;background:rgba(0,0,0,0.03)'>{body}</div>"
        )


@dataclass
class Case:
    """One input to try: positional and keyword arguments, and optionally the expected result."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    label: str = ""

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [_short(a) for a in self.args] + [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return f"({', '.join(parts)})"


def _short(value: Any, limit: int = 90) -> str:
    """A one-line, bounded description of a value for messages."""
    if isinstance(value, torch.Tensor):
        if value.numel() <= 6:
            text = f"tensor({[round(v, 4) for v in value.detach().double().flatten().tolist()]}"
            text += f", shape={tuple(value.shape)})" if value.dim() > 1 else ")"
        else:
            text = f"tensor of shape {tuple(value.shape)}, dtype {str(value.dtype).replace('torch.', '')}"
    elif isinstance(value, np.ndarray):
        text = f"numpy array of shape {value.shape}"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(expected: Any, got: Any, *, atol: float = 1e-6, rtol: float = 1e-5, where: str = "") -> str | None:
    """Explain how `got` differs from `expected`, or return None when they match.

    Tensors are compared by type, shape and values (with `atol`/`rtol`); numbers with the same
    tolerance; tuples, lists and dicts element by element; anything else with `==`.
    """
    at = f" at {where}" if where else ""
    if isinstance(expected, torch.Tensor):
        if isinstance(got, np.ndarray):
            return f"expected a torch.Tensor{at}, got a NumPy array; build the result with torch operations"
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor{at}, got {type(got).__name__} ({_short(got)})"
        if tuple(got.shape) != tuple(expected.shape):
            return f"expected shape {tuple(expected.shape)}{at}, got shape {tuple(got.shape)}"
        if expected.dtype == torch.bool or got.dtype == torch.bool:
            if not torch.equal(expected.bool(), got.bool()):
                return f"boolean values differ{at}: expected {_short(expected)}, got {_short(got)}"
            return None
        if expected.is_floating_point() and not (got.is_floating_point() or got.is_complex()):
            return f"expected a floating-point tensor{at}, got dtype {got.dtype}; integer division or casting lost precision"
        e, g = expected.detach().cpu().double(), got.detach().cpu().double()
        nan_mismatch = torch.isnan(e) != torch.isnan(g)
        close = torch.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True) & ~nan_mismatch
        if bool(close.all()):
            return None
        bad = (~close).nonzero()[0].tolist()
        index = tuple(bad) if len(bad) > 1 else (bad[0] if bad else ())
        diff = (g - e).abs()
        finite = torch.isfinite(diff)
        worst = f"{diff[finite].max().item():.3g}" if bool(finite.any()) else "inf/nan"
        return (
            f"values differ{at}: {int((~close).sum())} of {e.numel()} entries are off "
            f"(largest difference {worst}); first at index {index}: "
            f"expected {e[tuple(bad)].item():.6g}, got {g[tuple(bad)].item():.6g}"
        )
    if isinstance(expected, bool) or isinstance(expected, str) or expected is None:
        return None if got == expected else f"expected {_short(expected)}{at}, got {_short(got)}"
    if isinstance(expected, (int, float, np.floating, np.integer)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float, np.floating, np.integer)):
            return f"expected a number{at}, got {type(got).__name__} ({_short(got)})"
        if math.isnan(expected) and math.isnan(got):
            return None
        if math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return None
        return f"expected {float(expected):.6g}{at}, got {float(got):.6g}"
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {len(expected)} items{at}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items{at}, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare(e, g, atol=atol, rtol=rtol, where=f"{where}[{i}]" if where else f"item {i}")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict{at}, got {type(got).__name__}"
        missing = set(expected) - set(got)
        if missing:
            return f"missing key(s){at}: {sorted(map(str, missing))}"
        for key in expected:
            problem = compare(expected[key], got[key], atol=atol, rtol=rtol, where=f"key {key!r}")
            if problem:
                return problem
        return None
    return None if got == expected else f"expected {_short(expected)}{at}, got {_short(got)}"


def _copy_inputs(case: Case) -> tuple[tuple, dict]:
    def clone(v):
        if isinstance(v, torch.Tensor):
            return v.detach().clone().requires_grad_(v.requires_grad)
        try:
            return copy.deepcopy(v)
        except Exception:  # modules with hooks and the like: pass as is
            return v

    return tuple(clone(a) for a in case.args), {k: clone(v) for k, v in case.kwargs.items()}


def _not_attempted(name: str) -> CheckResult:
    return CheckResult(
        name,
        NOT_ATTEMPTED,
        "The exercise still raises NotImplementedError: replace that line with your code, "
        "run the cell, then run this check again.",
    )


def check_function(
    name: str,
    user_fn: Any,
    cases: Sequence[Case],
    *,
    reference: Callable | None = None,
    hint: str = "",
    atol: float = 1e-6,
    rtol: float = 1e-5,
    compare_fn: Callable[[Any, Any], str | None] | None = None,
    success: str = "",
) -> CheckResult:
    """Check a learner's function on `cases`.

    Args:
        name: what the learner is asked to write, e.g. "relu_derivative".
        user_fn: their function.
        cases: inputs to try; a case's expected value comes from `case.expected`, or from
            `reference(*args, **kwargs)` when `reference` is given.
        hint: shown (collapsed) when the answer is wrong.
        atol, rtol: tolerances for numbers and tensors.
        compare_fn: replaces `compare` for answers that need a custom test; returns an
            explanation of what is wrong, or None.
        success: extra words for the confirmation, e.g. "it matches torch.relu".
    """
    if not callable(user_fn):
        return CheckResult(
            name,
            INCORRECT,
            f"Expected a function, got {type(user_fn).__name__}.",
            hint=f"Pass the function itself, e.g. check_{name}({name}), without calling it.",
        )
    if not cases:
        raise ValueError("check_function: cases must not be empty")
    for i, case in enumerate(cases, start=1):
        args, kwargs = _copy_inputs(case)
        expected = case.expected if reference is None else reference(*_copy_inputs(case)[0], **_copy_inputs(case)[1])
        try:
            got = user_fn(*args, **kwargs)
        except NotImplementedError:
            return _not_attempted(name)
        except Exception as exc:  # explained, never a traceback
            return CheckResult(
                name,
                INCORRECT,
                f"Your function raised {type(exc).__name__} on case {i} of {len(cases)}.",
                [f"input:  {case.describe()}", f"error:  {exc}"],
                hint,
            )
        problem = compare_fn(expected, got) if compare_fn else compare(expected, got, atol=atol, rtol=rtol)
        if problem:
            return CheckResult(
                name,
                INCORRECT,
                f"Case {i} of {len(cases)} does not match.",
                [
                    f"input:    {case.describe()}",
                    f"problem:  {problem}",
                    f"expected: {_short(expected)}",
                    f"got:      {_short(got)}",
                ],
                hint,
            )
    extra = f" {success}" if success else ""
    return CheckResult(name, CORRECT, f"All {len(cases)} cases match.{extra}")


def check_value(
    name: str, got: Any, expected: Any, *, hint: str = "", atol: float = 1e-6, rtol: float = 1e-5, success: str = ""
) -> CheckResult:
    """Check a single value a learner computed (use `...` or NotImplementedError for "not attempted")."""
    if got is Ellipsis:
        return _not_attempted(name)
    problem = compare(expected, got, atol=atol, rtol=rtol)
    if problem:
        return CheckResult(name, INCORRECT, "The value does not match.", [f"problem: {problem}"], hint)
    return CheckResult(name, CORRECT, f"The value matches.{(' ' + success) if success else ''}")


def attempt(name: str, thunk: Callable[[], Any]) -> tuple[Any, CheckResult | None]:
    """Run `thunk()` for a check; return `(value, None)`, or `(None, result)` explaining why it failed.

    For checks that need to call the learner's code in custom ways (train a model, step an
    optimizer) and still never show a traceback.
    """
    try:
        return thunk(), None
    except NotImplementedError:
        return None, _not_attempted(name)
    except Exception as exc:
        return None, CheckResult(name, INCORRECT, f"Your code raised {type(exc).__name__}.", [f"error: {exc}"])
