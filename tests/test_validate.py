"""course_utils.validate: one clear error naming the parameter, and the name kept for the command line."""

from __future__ import annotations

import pytest

from course_utils import validate as v


def test_accepted_values_come_back():
    assert v.positive_int("f", "n", 3) == 3 and v.positive_int("f", "n", None, optional=True) is None
    assert v.nonnegative_int("f", "n", 0) == 0 and v.positive_number("f", "x", 0.5) == 0.5
    assert v.ints_at_least("f", "labels", [4, 8], 2) == (4, 8) and v.subset_of("f", "m", ["a"], "ab") == ("a",)
    assert v.one_of("f", "s", "cosine", ("cosine", "constant")) == "cosine" and v.fraction("f", "r", 1) == 1


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (lambda x: v.positive_int("pretrain", "steps", x), 0),
        (lambda x: v.positive_int("pretrain", "steps", x), True),  # a bool is not a count
        (lambda x: v.positive_int("pretrain", "steps", x), 2.0),
        (lambda x: v.nonnegative_int("pretrain", "steps", x), -1),
        (lambda x: v.positive_number("pretrain", "steps", x), float("inf")),
        (lambda x: v.positive_number("pretrain", "steps", x), float("nan")),
        (lambda x: v.ints_at_least("pretrain", "steps", x, 2), (4, 1)),
        (lambda x: v.subset_of("pretrain", "steps", x, ("a", "b")), ()),
        (lambda x: v.fraction("pretrain", "steps", x), 1.5),
    ],
)
def test_rejected_values_name_the_parameter(check, value):
    with pytest.raises(ValueError, match=r"^pretrain: steps must be .*, got ") as info:
        check(value)
    assert info.value.name == "steps"


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="pretrain: model must be a int or str, got list"):
        v.instance_of("pretrain", "model", [], (int, str))
