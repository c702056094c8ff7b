import random

import numpy as np
import pytest
import torch

from course_utils import get_device, set_seed
from course_utils.repro import environment_checks, environment_line, environment_report


def test_set_seed_makes_every_source_repeat():
    set_seed(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_seed(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_set_seed_returns_seed_and_accepts_numpy_int():
    assert set_seed(np.int64(7)) == 7


@pytest.mark.parametrize("bad", ["abc", 1.5, None, True])
def test_set_seed_rejects_non_int(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        set_seed(bad)


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_set_seed_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32 - 1\]"):
        set_seed(bad)


def test_get_device_auto_and_cpu():
    assert get_device().type in ("cpu", "cuda", "mps")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")
    assert get_device("auto") == get_device(None)


def test_get_device_rejects_unknown_names():
    with pytest.raises(ValueError, match="prefer must be None or one of"):
        get_device("tpu")
    with pytest.raises(TypeError, match="prefer"):
        get_device(3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_get_device_cuda_unavailable_is_explained():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        get_device("cuda")


def test_environment_report_and_line():
    report = environment_report(torch.device("cpu"))
    assert report["torch"] == torch.__version__
    assert report["device"].startswith("cpu")
    line = environment_line(torch.device("cpu"))
    assert "torch" in line and "device: cpu" in line


def test_environment_checks_pass_here():
    rows = environment_checks(torch.device("cpu"))
    names = [r[0] for r in rows]
    assert "torch" in names and "training step" in names
    assert all(ok for _, ok, _ in rows), rows
