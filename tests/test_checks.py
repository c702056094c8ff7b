import numpy as np
import pytest
import torch

from course_utils.checks import CORRECT, INCORRECT, NOT_ATTEMPTED, Case, attempt, check_function, check_value, compare


def square(x):
    return x**2


CASES = [Case((torch.tensor([1.0, -2.0, 3.0]),)), Case((torch.randn(3, 4),))]


def test_right_answer_is_confirmed():
    result = check_function("square", lambda x: x * x, CASES, reference=square)
    assert result.passed and result.status == CORRECT
    assert "All 2 cases match" in str(result)
    assert "#009E73" in result._repr_html_()


def test_not_implemented_reads_as_not_attempted():
    def stub(x):
        raise NotImplementedError()

    result = check_function("square", stub, CASES, reference=square)
    assert result.status == NOT_ATTEMPTED and not result
    assert "NotImplementedError" in result.message


def test_wrong_values_name_the_case_and_hint():
    result = check_function("square", lambda x: 2 * x, CASES, reference=square, hint="multiply x by itself")
    assert result.status == INCORRECT
    text = str(result)
    assert "Case 1 of 2" in text and "values differ" in text and "multiply x by itself" in text
    assert "Traceback" not in text


def test_exception_is_explained_not_raised():
    result = check_function("square", lambda x: x.nonexistent(), CASES, reference=square)
    assert result.status == INCORRECT
    assert "AttributeError" in result.message


def test_wrong_shape_and_type_are_explained():
    shape = check_function("square", lambda x: (x**2).T, [Case((torch.randn(2, 3),))], reference=square)
    assert "expected shape (2, 3)" in str(shape)
    kind = check_function("square", lambda x: (x**2).tolist(), CASES, reference=square)
    assert "expected a torch.Tensor" in str(kind)
    numpy = check_function("square", lambda x: x.numpy() ** 2, CASES, reference=square)
    assert "NumPy array" in str(numpy)


def test_passing_a_call_instead_of_a_function():
    result = check_function("square", 4.0, CASES, reference=square)
    assert result.status == INCORRECT and "Expected a function" in result.message


def test_inputs_are_copied_so_in_place_answers_do_not_corrupt_cases():
    x = torch.tensor([1.0, 2.0])

    def in_place(t):
        return t.mul_(t)

    assert check_function("square", in_place, [Case((x,))], reference=square).passed
    assert torch.equal(x, torch.tensor([1.0, 2.0]))


def test_compare_numbers_sequences_and_dicts():
    assert compare(1.0, 1.0 + 1e-9) is None
    assert "expected 1" in compare(1.0, 2.0)
    assert compare(3, torch.tensor(3.0)) is None
    assert "expected a number" in compare(1.0, "one")
    assert "expected 2 items" in compare((1, 2), (1,))
    assert "item 1" in compare([1.0, 2.0], [1.0, 5.0])
    assert "missing key" in compare({"a": 1}, {"b": 1})
    assert compare(np.float64(2.0), 2.0) is None
    assert "boolean values differ" in compare(torch.tensor([True]), torch.tensor([False]))
    assert "floating-point" in compare(torch.tensor([1.5]), torch.tensor([1]))


def test_check_value_and_attempt():
    assert check_value("answer", 42, 42).passed
    assert check_value("answer", ..., 42).status == NOT_ATTEMPTED
    assert "does not match" in check_value("answer", 41, 42).message
    value, problem = attempt("x", lambda: 3)
    assert value == 3 and problem is None
    _, problem = attempt("x", lambda: 1 / 0)
    assert problem.status == INCORRECT and "ZeroDivisionError" in problem.message


def test_empty_cases_is_a_programming_error():
    with pytest.raises(ValueError, match="cases must not be empty"):
        check_function("square", square, [])
