"""Checkpoints of a TinyGPT, written atomically and read back with `torch.load(weights_only=True)`.

- `atomic_write`: write a file to a temporary name in the same folder, then `os.replace` it over
  the target, so a crash or a kill mid-write leaves the earlier file intact (used for checkpoints
  and for results.json).
- `save_checkpoint` / `load_checkpoint`: the model's weights, its `GPTConfig` as a plain dict, the
  step, and any plain `extra` data (a tokenizer, a history, a training state); a corrupt file or a
  different configuration is a clear error.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.validate import instance_of, nonnegative_int

CHECKPOINT_FORMAT = "course_utils.TinyGPT/1"


def atomic_write(path: str | Path, write: Callable, binary: bool = True) -> Path:
    """Call `write(file)` on a temporary file next to `path`, flush it to disk, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0600); give it normal permissions
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, data: dict) -> Path:
    """`data` as indented JSON at `path`, written atomically."""
    return atomic_write(path, lambda f: json.dump(data, f, indent=1), binary=False)


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model rebuilt from its config, and what was saved with it."""

    model: TinyGPT
    config: GPTConfig
    step: int
    extra: dict


def save_checkpoint(
    path: str | Path,
    model: TinyGPT,
    config: GPTConfig | None = None,
    step: int = 0,
    extra: dict | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a checkpoint atomically (see `atomic_write`).

    Args:
        path: where to write (parent folders are created).
        model: the TinyGPT whose `state_dict` is saved.
        config: its GPTConfig (None: `model.config`); stored as a plain dict.
        step: training step reached.
        extra: plain data to keep alongside (numbers, strings, lists, dicts, tensors), e.g. the
            tokenizer's `to_dict()` and a history; it must load under `weights_only=True`.
        dtype: store floating-point weights in this dtype (e.g. torch.float16 to halve the size);
            `load_checkpoint` converts them back to float32.

    Returns:
        The path written.
    """
    instance_of("save_checkpoint", "model", model, TinyGPT)
    config = instance_of("save_checkpoint", "config", model.config if config is None else config, GPTConfig)
    nonnegative_int("save_checkpoint", "step", step)
    instance_of("save_checkpoint", "extra", {} if extra is None else extra, dict)
    _check_plain(extra)
    if dtype is not None and dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ValueError(
            f"save_checkpoint: dtype must be None, torch.float16, torch.bfloat16 or torch.float32, got {dtype}"
        )
    state = {
        k: (v.detach().to("cpu", dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    state.pop("lm_head.weight", None)  # tied to transformer.wte.weight: store it once
    payload = {"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "model": state, "step": step}
    payload["extra"] = extra or {}
    return atomic_write(path, lambda f: torch.save(payload, f))


def _check_plain(value, where: str = "extra") -> None:
    """Refuse anything `torch.load(weights_only=True)` would not read back (before writing a byte)."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"save_checkpoint: {where} has a key of type {type(k).__name__}; use str or int keys")
            _check_plain(item, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"save_checkpoint: {where} is a {type(value).__name__}, which torch.load(weights_only=True) "
        "refuses; use plain numbers, strings, lists, dicts and tensors"
    )


def load_checkpoint(
    path: str | Path, expected_config: GPTConfig | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` and rebuild its TinyGPT (float32, eval mode).

    Args:
        path: the file.
        expected_config: if given, every field of the saved config must equal it.
        map_location: device for the loaded model.

    Returns:
        A `Checkpoint` (model, config, step, extra).

    Raises:
        FileNotFoundError: no file. ValueError: not a checkpoint (corrupt, truncated, another
        format), or its config differs from `expected_config` (the differing fields are named).
    """
    path = Path(path)
    if expected_config is not None:
        instance_of("load_checkpoint", "expected_config", expected_config, GPTConfig)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, a pickle weights_only refuses: all unreadable
        raise ValueError(
            f"load_checkpoint: {path.name} is not a readable checkpoint (corrupt, truncated, or not made by "
            f"this course; it is only ever loaded with weights_only=True) [{type(err).__name__}]"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {path.name} is not a {CHECKPOINT_FORMAT} checkpoint")
    missing = sorted({"config", "model", "step", "extra"} - set(payload))
    if missing or not isinstance(payload["config"], dict):
        raise ValueError(f"load_checkpoint: {path.name} is incomplete (missing {missing or ['a config dict']})")
    saved = payload["config"]
    if expected_config is not None:
        want = expected_config.to_dict()
        problems = [
            f"{k} is {saved.get(k)!r} in the checkpoint but {want[k]!r} expected"
            for k in want
            if saved.get(k) != want[k]
        ]
        if problems:
            raise ValueError(f"load_checkpoint: {path.name} does not match the expected config: " + "; ".join(problems))
    try:
        config = GPTConfig.from_dict(saved)
    except (TypeError, ValueError) as err:
        raise ValueError(f"load_checkpoint: {path.name} holds an invalid config: {err}") from None
    model = TinyGPT(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["model"].items()}
    state["lm_head.weight"] = state.get("transformer.wte.weight")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(
            f"load_checkpoint: {path.name}'s weights do not fit its config: {str(err).splitlines()[0]}"
        ) from None
    model.to(map_location).eval()
    return Checkpoint(model=model, config=config, step=int(payload["step"]), extra=payload["extra"])
