"""Reproducibility: one seed for every random source, one device choice, one environment report."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from collections.abc import Iterator

import numpy as np
import torch

_DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def set_seed(seed: int, *, deterministic: bool = False) -> int:
    """Seed Python's `random`, NumPy and PyTorch (CPU and every GPU) with one number.

    Args:
        seed: an integer in [0, 2**32 - 1].
        deterministic: also ask PyTorch for deterministic kernels (slower on a GPU).

    Returns:
        The seed, so a cell can print what it used.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_seed: seed must be an int in [0, 2**32 - 1], got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_seed: seed must be in [0, 2**32 - 1], got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: CUDA if present, then Apple's MPS, then the CPU.

    Args:
        prefer: None or "auto" to choose as above; "cpu", "cuda" or "mps" to insist on one
            (an error if it is not available); or a `torch.device`.

    Returns:
        A `torch.device`.
    """
    if isinstance(prefer, torch.device):
        prefer = prefer.type
    if prefer is None:
        prefer = "auto"
    if not isinstance(prefer, str):
        raise TypeError(f"get_device: prefer must be None or one of {_DEVICE_CHOICES}, got {type(prefer).__name__}")
    choice = prefer.lower()
    if choice.startswith("cuda:"):
        choice = "cuda"
    if choice not in _DEVICE_CHOICES:
        raise ValueError(f"get_device: prefer must be None or one of {_DEVICE_CHOICES}, got {prefer!r}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "get_device: prefer='cuda' but no CUDA GPU is visible to PyTorch; use prefer=None to fall back"
        )
    if choice == "mps" and not _mps_available():
        raise ValueError(
            "get_device: prefer='mps' but Apple's MPS backend is not available; use prefer=None to fall back"
        )
    return torch.device(prefer if prefer.startswith("cuda:") else choice)


def describe_device(device: torch.device) -> str:
    """A short human description of a device, e.g. 'cpu (2 threads)' or 'cuda (NVIDIA H100)'."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'' if n == 1 else 's'})"


def environment_report(device: torch.device | None = None) -> dict[str, str]:
    """Versions of what the course runs on, and the device it chose."""
    import ipywidgets
    import matplotlib

    device = get_device() if device is None else torch.device(device)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "ipywidgets": ipywidgets.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "device": describe_device(device),
        "in_colab": str("google.colab" in sys.modules),
    }


def environment_line(device: torch.device | None = None) -> str:
    """The environment report as the one line each setup cell prints."""
    r = environment_report(device)
    return (
        f"Python {r['python']} | torch {r['torch']} | numpy {r['numpy']} | "
        f"matplotlib {r['matplotlib']} | ipywidgets {r['ipywidgets']} | device: {r['device']}"
    )


MINIMUM_VERSIONS = {"python": "3.10", "torch": "2.11", "numpy": "1.24", "matplotlib": "3.7", "ipywidgets": "8.1"}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def environment_checks(device: torch.device | None = None) -> list[tuple[str, bool, str]]:
    """Everything the course needs, checked: `(what, ok, detail)` rows for notebook 00's room check.

    Versions against `MINIMUM_VERSIONS`, the device actually computing, and a small training step.
    """
    import time

    report = environment_report(device)
    rows = []
    for name, minimum in MINIMUM_VERSIONS.items():
        have = report[name]
        ok = _version_tuple(have) >= _version_tuple(minimum)
        rows.append((name, ok, f"{have} (need {minimum} or newer)"))
    device = get_device() if device is None else torch.device(device)
    try:
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(256, 64, generator=generator).to(device)
        w = torch.zeros(64, 1, device=device, requires_grad=True)
        target = x[:, :1].clone()
        for _ in range(50):  # fit w so x @ w copies the first column
            loss = ((x @ w - target) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= 0.2 * w.grad
                w.grad = None
        elapsed = time.perf_counter() - start
        ok = loss.item() < 0.05
        rows.append(
            ("training step", ok, f"50 steps on {device.type} in {elapsed * 1000:.0f} ms, final loss {loss.item():.4f}")
        )
    except Exception as exc:  # reported, so a room check names the broken machine
        rows.append(("training step", False, f"{type(exc).__name__}: {exc}"))
    return rows


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run PyTorch on one CPU thread inside the block, then restore the thread count.

    Also usable as a decorator. The course's models are tiny: a second thread gains nothing on a
    few thousand numbers, and on a busy machine the threads waiting on each other made small
    training loops 10 to 50 times slower in our measurements.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
