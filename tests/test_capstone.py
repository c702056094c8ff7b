"""Tests for the capstone and its training loop: presets, the command line's contract, resume, faults, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from course_utils.capstone import CapstoneConfig, benchmark_throughput, finetuning_tasks, load_for_finetuning, main
from course_utils.checkpointing import load_checkpoint, save_checkpoint
from course_utils.finetuning import ALL_METHODS, TASKS
from course_utils.lm_training import TrainingError, model_flops_per_token, pretrain_from_config
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.repro import single_thread
from course_utils.results import gap_over_scratch, parameter_table, report_lines, summarize
from course_utils.text import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
# Tiny runs: a small corpus, a few steps (a few seconds each on one thread).
TINY = dict(n_chars=20_000, max_steps=8, batch_size=8, eval_every=4, eval_batches=2, checkpoint_every=4, log_every=2)
QUIET = dict(progress=False, log=lambda _m: None)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on one thread: on a busy machine two threads made these loops several times slower."""
    with single_thread():
        yield


def tiny_config(**overrides) -> CapstoneConfig:
    return CapstoneConfig.for_device("cpu", **{**TINY, **overrides})


# A pre-training run small enough for a test, on the CPU also where a GPU is present (the checks are the CPU's)
TINY_CPU_RUN = ("--preset", "cpu", "--device", "cpu", "--n-chars", "20000", "--max-steps", "6", "--batch-size", "8",
                "--quiet")  # fmt: skip


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course_utils.capstone", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """`main(argv)` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def weights(model: TinyGPT) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def test_cpu_preset_and_overrides():
    config = CapstoneConfig.for_device("cpu")
    assert (config.preset, config.device, config.threads) == ("cpu", "cpu", 1)
    assert 32 in config.labels and config.seeds >= 3 and set(config.methods) == set(ALL_METHODS)
    assert config.task == TASKS and "static" in config.methods
    assert not config.amp and not config.compile and "no GPU" in config.reason
    tuned = CapstoneConfig.for_device("cpu", max_steps=7, labels=[4, 32])
    assert (tuned.max_steps, tuned.labels, tuned.n_embd) == (7, (4, 32), config.n_embd)


def test_gpu_presets_are_larger_and_use_gpu_features():
    cpu = CapstoneConfig.for_device("cpu")
    cuda = CapstoneConfig.for_device("cpu", preset="cuda")  # the values, without needing a GPU
    mps = CapstoneConfig.for_device("cpu", preset="mps")
    assert cuda.preset == "cuda" and "explicitly" in cuda.reason
    assert cuda.amp and cuda.compile and cuda.tf32
    assert cuda.n_embd * cuda.n_layer > mps.n_embd * mps.n_layer > cpu.n_embd * cpu.n_layer
    assert cuda.batch_size > cpu.batch_size and cuda.n_chars > cpu.n_chars


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"preset": "tpu"}, "preset"),
        ({"labels": (1,)}, "labels"),
        ({"methods": ("prompting",)}, "methods"),
        ({"n_embd": 30, "n_head": 4}, "n_head"),
        ({"lr": float("nan")}, "lr"),
        ({"micro_batch_size": 0}, "micro_batch_size"),
        ({"schedule": "linear"}, "schedule"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides, name):
    with pytest.raises(ValueError, match=name) as info:
        CapstoneConfig(**overrides)
    assert info.value.name == name  # the command line names the flag from this, not from the message


def test_for_device_rejects_unknown_fields_and_presets():
    with pytest.raises(ValueError, match="unknown field"):
        CapstoneConfig.for_device("cpu", n_layers=3)
    with pytest.raises(ValueError, match="preset"):
        CapstoneConfig.for_device("cpu", preset="gpu")


def test_every_field_is_a_flag_with_its_comment_as_help():
    done = run_cli("all", "--help")
    assert done.returncode == 0
    flat = " ".join(done.stdout.split())
    for name in ("batch-size", "micro-batch-size", "n-layer", "peak-flops", "labels", "finetune-steps", "no-compile"):
        assert f"--{name}" in flat, name
    assert "global batch: windows per optimizer step" in flat  # PretrainConfig's comment on batch_size


# ---------------------------------------------------------------------------------------------
# Faults: NaN, out of memory, torch.compile
# ---------------------------------------------------------------------------------------------


def test_nan_loss_stops_with_an_explanation(tmp_path, capsys):
    args = ["pretrain", "--out", str(tmp_path), *TINY_CPU_RUN, "--max-steps", "30", "--lr", "1e30"]
    code, _, err = run_main(args, capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "training stopped" in err and "learning rate" in err and "Traceback" not in err


def test_nan_raises_floating_point_error_in_the_api():
    with pytest.raises(FloatingPointError, match="learning rate") as info:
        pretrain_from_config(tiny_config(lr=1e30, max_steps=30), None, **QUIET)
    assert "step" in str(info.value)


def test_a_nan_stops_before_the_next_checkpoint_and_keeps_the_last_one(tmp_path, monkeypatch):
    forward, calls = TinyGPT.forward, []

    def nan_from_step_3(self, idx, targets=None):
        logits, loss = forward(self, idx, targets)
        if self.training:
            calls.append(1)
            if len(calls) >= 3:  # the third training step on
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(TinyGPT, "forward", nan_from_step_3)
    with pytest.raises(FloatingPointError, match="at step 3"):
        pretrain_from_config(tiny_config(checkpoint_every=2, log_every=2), tmp_path, **QUIET)
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept.step == 2 and all(bool(torch.isfinite(p).all()) for p in kept.model.parameters())


def test_non_finite_weights_behind_a_finite_loss_are_never_saved(tmp_path, monkeypatch):
    from course_utils import lm_training

    step_once, calls = lm_training.clip_and_step, []

    def nan_weights_at_step_4(optimizer, params, grad_clip=1.0):
        step_once(optimizer, params, grad_clip)
        calls.append(1)
        if len(calls) == 4:  # the update of step 4 breaks the weights; step 4's loss was computed before it
            with torch.no_grad():
                params[0].fill_(float("nan"))

    monkeypatch.setattr(lm_training, "clip_and_step", nan_weights_at_step_4)
    with pytest.raises(FloatingPointError, match="non-finite weights after step 4"):
        pretrain_from_config(tiny_config(checkpoint_every=2, log_every=2), tmp_path, **QUIET)
    kept = load_checkpoint(tmp_path / "checkpoint.pt")
    assert kept.step == 2 and all(bool(torch.isfinite(p).all()) for p in kept.model.parameters())


def _oom_when_larger_than(limit: int, monkeypatch):
    forward = TinyGPT.forward

    def fake(self, idx, targets=None):
        if self.training and idx.shape[0] > limit:  # training steps only (evaluation batches are 8)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, idx, targets)

    monkeypatch.setattr(TinyGPT, "forward", fake)


def test_out_of_memory_names_the_micro_batch_to_try(monkeypatch):
    _oom_when_larger_than(2, monkeypatch)
    with pytest.raises(TrainingError, match="micro-batch-size 4") as info:
        pretrain_from_config(tiny_config(max_steps=2), None, **QUIET)
    assert "global batch of 8" in str(info.value)
    run = pretrain_from_config(tiny_config(max_steps=2, micro_batch_size=2), None, **QUIET)  # the advice works
    assert run.history.step == [1, 2]


def test_out_of_memory_on_the_command_line_is_one_line(tmp_path, capsys, monkeypatch):
    _oom_when_larger_than(2, monkeypatch)
    code, _, err = run_main(["pretrain", "--out", str(tmp_path), *TINY_CPU_RUN], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "out of memory" in err and "--micro-batch-size 4" in err and "Traceback" not in err


def test_micro_batches_give_the_update_of_the_whole_batch():
    whole = pretrain_from_config(tiny_config(max_steps=4), None, **QUIET)
    parts = pretrain_from_config(tiny_config(max_steps=4, micro_batch_size=3), None, **QUIET)  # 3 + 3 + 2
    for a, b in zip(whole.history.loss, parts.history.loss, strict=True):
        assert a == pytest.approx(b, rel=1e-5)
    a, b = weights(whole.model), weights(parts.model)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_a_compile_failure_stops_and_suggests_no_compile(tmp_path, capsys, monkeypatch):
    def broken_compile(module, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("inductor: no working C++ compiler found")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    # Windows never compiles (lm_training skips it there); act as Linux so the failure path runs on every system
    monkeypatch.setattr("course_utils.lm_training.platform.system", lambda: "Linux")
    with pytest.raises(TrainingError, match="--no-compile") as info:
        pretrain_from_config(tiny_config(max_steps=2, compile=True), None, **QUIET)
    assert isinstance(info.value.__cause__, RuntimeError)  # the real error is kept, not hidden
    code, _, err = run_main(["pretrain", "--out", str(tmp_path), *TINY_CPU_RUN, "--compile"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--no-compile" in err


def test_a_real_bug_is_not_relabelled_without_compile(monkeypatch):
    def buggy(self, idx, targets=None):
        raise KeyError("a bug in the model")

    monkeypatch.setattr(TinyGPT, "forward", buggy)
    with pytest.raises(KeyError):
        pretrain_from_config(tiny_config(max_steps=2), None, **QUIET)


# ---------------------------------------------------------------------------------------------
# Checkpoints and resume
# ---------------------------------------------------------------------------------------------


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    whole = pretrain_from_config(tiny_config(), tmp_path / "whole", **QUIET)

    def die_at_step_6(step, model, history):  # after the step-4 checkpoint, as a killed process would
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain_from_config(tiny_config(), tmp_path / "split", on_step=die_at_step_6, **QUIET)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt").step == 4
    resumed = pretrain_from_config(tiny_config(), tmp_path / "split", resume=True, **QUIET)
    assert resumed.history.eval_loss == whole.history.eval_loss
    assert resumed.history.loss == whole.history.loss  # steps 1..8, the first four from the checkpoint
    a, b = weights(whole.model), weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt").step == 8


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_validation_loss(tmp_path):
    run = ["pretrain", *TINY_CPU_RUN, "--max-steps", "60", "--checkpoint-every", "5", "--eval-every", "60"]
    whole = run_cli(*run, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    cmd = [sys.executable, "-m", "course_utils.capstone", *run, "--out", str(tmp_path / "killed")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.kill()  # SIGKILL on POSIX; TerminateProcess on Windows, which has no SIGKILL: no handler runs either way
    assert proc.wait() == (1 if sys.platform == "win32" else -signal.SIGKILL)
    step = load_checkpoint(checkpoint).step
    assert 0 < step < 60
    resumed = run_cli(*run, "--out", str(tmp_path / "killed"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    val = [
        json.loads((tmp_path / d / "results.json").read_text(encoding="utf-8"))["pretrain"]["val_loss"]
        for d in ("whole", "killed")
    ]
    assert val[0] == val[1]


def test_checkpoints_load_with_weights_only(tmp_path):
    pretrain_from_config(tiny_config(max_steps=4), tmp_path, **QUIET)
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert payload["step"] == 4 and "optimizer" in payload["extra"]["train_state"]
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_resume_refuses_other_settings_and_other_shapes(tmp_path):
    pretrain_from_config(tiny_config(max_steps=4), tmp_path, **QUIET)
    with pytest.raises(ValueError, match="lr"):
        pretrain_from_config(tiny_config(max_steps=8, lr=1e-3), tmp_path, resume=True, **QUIET)
    with pytest.raises(ValueError, match="n_embd"):
        pretrain_from_config(tiny_config(max_steps=8, n_embd=32), tmp_path, resume=True, **QUIET)
    with pytest.raises(ValueError, match="source"):  # another corpus
        pretrain_from_config(tiny_config(max_steps=8, n_chars=30_000), tmp_path, resume=True, **QUIET)


def test_resume_refuses_a_corrupt_checkpoint(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00not a checkpoint" * 10)
    code, _, err = run_main(["pretrain", "--out", str(tmp_path), *TINY_CPU_RUN, "--resume"], capsys)
    assert code == 2 and "not a readable checkpoint" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"\x00not a checkpoint" * 10


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def check_schema(results: dict, methods=ALL_METHODS) -> None:
    assert {"device", "preset", "pretrain", "finetune", "wall_s"} <= set(results)
    assert {"tokens_per_s", "val_loss", "steps"} <= set(results["pretrain"])
    for row in results["finetune"]:
        assert row["method"] in methods and row["task"] in TASKS
        assert isinstance(row["labels"], int) and isinstance(row["seed"], int)
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert isinstance(row["trainable_params"], int) and row["trainable_params"] > 0
    assert results["wall_s"] > 0


@pytest.mark.slow
def test_all_writes_results_json(tmp_path):
    done = run_cli(
        "all", "--out", str(tmp_path), *TINY_CPU_RUN, "--labels", "4,8", "--seeds", "1", "--finetune-steps", "3"
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    check_schema(results)
    assert results["device"] == "cpu" and results["preset"] == "cpu"
    assert results["pretrain"]["steps"] == 6 and results["pretrain"]["tokens_per_s"] > 0
    found = {(r["task"], r["method"], r["labels"]) for r in results["finetune"]}
    assert found == {(t, m, n) for t in TASKS for m in ALL_METHODS for n in (4, 8)}
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "accuracy_vs_labels.png").is_file()
    assert "MFU per device unknown" in done.stdout and "sample:" in done.stdout


def test_finetune_uses_the_shipped_checkpoint_and_updates_results(tmp_path, capsys):
    (tmp_path / "results.json").write_text(
        json.dumps({"pretrain": {"tokens_per_s": 1.0, "val_loss": 2.0, "steps": 3}}), encoding="utf-8"
    )
    code, out, _ = run_main(
        ["finetune", "--out", str(tmp_path), "--device", "cpu", "--labels", "4", "--seeds", "1", "--finetune-steps",
         "2", "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    check_schema(results)
    assert results["pretrain"]["steps"] == 3  # kept from before: finetune updates, never drops
    assert results["finetune_checkpoint"] == "tinygpt_world.pt" and "trainable parameters" in out
    assert len(results["finetune"]) == len(TASKS) * len(ALL_METHODS)
    assert "coherence:" in out and "sentiment:" in out


def test_finetune_on_one_task_chosen_by_flag(tmp_path, capsys):
    code, out, err = run_main(
        ["finetune", "--out", str(tmp_path), "--device", "cpu", "--task", "coherence", "--labels", "4", "--seeds",
         "1", "--finetune-steps", "2", "--methods", "static,linear_probe", "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["finetune"]
    assert [(r["task"], r["method"]) for r in rows] == [("coherence", "static"), ("coherence", "linear_probe")]
    assert all("test_seen_accuracy" not in r for r in rows) and "sentiment:" not in out


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (["pretrain", "--batch-size", "0"], "--batch-size"),
        (["pretrain", "--max-steps", "-3"], "--max-steps"),
        (["pretrain", "--batch-size", "eight"], "--batch-size"),
        (["pretrain", "--corpus", "no_such_file.txt"], "--corpus"),
        (["pretrain", "--lr", "nan"], "--lr"),
        (["pretrain", "--n-embd", "30"], "--n-head"),
        (["finetune", "--labels", "32,x"], "--labels"),
        (["finetune", "--methods", "full,prompting"], "--methods"),
        (["finetune", "--task", "coherence,negation"], "--task"),
        (["finetune", "--checkpoint", "CORRUPT"], "--checkpoint"),
        (["finetune", "--checkpoint", "MISSING.pt"], "--checkpoint"),
        (["pretrain", "--resume"], "--resume"),
        (["pretrain", "--seed", "-1"], "--seed"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_touch_nothing(tmp_path, capsys, args, argument):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text('{"sentinel": true}', encoding="utf-8")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(256))
    args = [str(corrupt) if a == "CORRUPT" else str(tmp_path / a) if a == "MISSING.pt" else a for a in args]
    code, out, err = run_main([args[0], "--out", str(run_dir), *args[1:]], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and argument in lines[0] and "Traceback" not in err, err
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.json"]
    assert (run_dir / "results.json").read_text(encoding="utf-8") == '{"sentinel": true}'


def test_bad_argument_in_a_real_process_exits_2(tmp_path):
    done = run_cli("pretrain", "--out", str(tmp_path), "--batch-size", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--batch-size" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_help_lists_the_subcommands():
    done = run_cli("--help")
    assert done.returncode == 0
    assert all(word in done.stdout for word in ("pretrain", "finetune", "all"))


def _user_corpus(tmp_path) -> Path:
    corpus = tmp_path / "mine.txt"
    # newline="\n": the same bytes on every system (the command line reads the file as bytes, \r and all)
    corpus.write_text(
        "the quick brown fox jumps over the lazy dog. tom felt glad.\n" * 40, encoding="utf-8", newline="\n"
    )
    return corpus


def test_user_corpus_is_character_level(tmp_path, capsys):
    args = ["pretrain", "--out", str(tmp_path / "run"), "--corpus", str(_user_corpus(tmp_path)), "--max-steps", "3"]
    # on the CPU like every run here: GitHub's macOS runners report an MPS device that cannot allocate memory
    code, out, err = run_main([*args, "--batch-size", "4", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt.extra["tokenizer"]["kind"] == "char" and ckpt.config.block_size == 64


@pytest.mark.slow
def test_all_with_a_corpus_refuses_before_pretraining_or_runs_what_fits(tmp_path, capsys):
    corpus = _user_corpus(tmp_path)
    common = ["all", "--corpus", str(corpus), "--max-steps", "3", "--batch-size", "4", "--labels", "4", "--seeds", "1"]
    common += ["--finetune-steps", "2", "--methods", "linear_probe,full", "--device", "cpu", "--quiet"]
    code, _, err = run_main([*common, "--out", str(tmp_path / "short")], capsys)
    assert code == 2 and "--block-size" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "short").exists()  # refused before pre-training
    tokenizer = CharTokenizer.from_text(corpus.read_text(encoding="utf-8"))
    texts = [t for task in finetuning_tasks(CapstoneConfig(labels=(4,))) for t in task.train_texts + task.val_texts
             + task.test_texts + getattr(task, "test_seen_texts", [])]  # fmt: skip
    longest = max(len(tokenizer.encode(t)) for t in texts)
    code, _, err = run_main([*common, "--out", str(tmp_path / "long"), "--block-size", str(longest)], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "long" / "results.json").read_text(encoding="utf-8"))
    assert len(results["finetune"]) == 2 * len(TASKS) and results["pretrain"]["steps"] == 3


# ---------------------------------------------------------------------------------------------
# Results helpers and the benchmark
# ---------------------------------------------------------------------------------------------


def fake_rows() -> list[dict]:
    rows = []
    for method, acc in (("scratch", 0.5), ("linear_probe", 0.9), ("full", 0.8)):
        for seed, shift in enumerate((-0.05, 0.0, 0.05)):
            rows.append(
                {
                    "method": method,
                    "labels": 32,
                    "seed": seed,
                    "test_accuracy": acc + shift,
                    "trainable_params": 10 if method == "linear_probe" else 100,
                    "total_params": 100,
                }
            )
    return rows


def test_summary_gap_and_parameter_table():
    table = summarize(fake_rows())
    assert table["full"][32]["mean"] == pytest.approx(0.8)
    assert table["full"][32]["min"] == pytest.approx(0.75) and table["full"][32]["n"] == 3
    assert gap_over_scratch(fake_rows(), 32) == pytest.approx({"linear_probe": 0.4, "full": 0.3})
    assert parameter_table(fake_rows())[1] == ("linear_probe", 10, 100, 0.1)
    assert any("linear_probe +40.0 points" in line for line in report_lines(fake_rows()))
    with pytest.raises(ValueError, match="scratch"):
        gap_over_scratch(fake_rows(), 64)


def test_benchmark_throughput_reports_a_dict():
    result = benchmark_throughput("cpu", steps=3, batch_size=4)
    assert {"device", "preset", "tokens_per_s", "mfu", "steps"} <= set(result)
    assert result["device"] == "cpu" and result["mfu"] is None and result["tokens_per_s"] > 0


def test_save_checkpoint_of_a_foreign_model_is_refused_for_finetuning(tmp_path):
    model = TinyGPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(tmp_path / "bare.pt", model)  # no tokenizer stored
    with pytest.raises(ValueError, match="tokenizer"):
        load_for_finetuning(tmp_path / "bare.pt")


# ---------------------------------------------------------------------------------------------
# Two processes (gloo)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    sys.platform == "win32",
    reason="torchrun does not start on Windows with PyTorch's official wheels: they are built without libuv, and "
    "torchrun's rendezvous asks for it, USE_LIBUV=0 or not (pytorch/pytorch#148283, fix pending in #196855); "
    "PyTorch does not test torch.distributed on Windows",
)
def test_two_processes_match_one_and_report_per_process_throughput(tmp_path):
    common = ["pretrain", *TINY_CPU_RUN, "--peak-flops", "1e12"]
    one = run_cli(*common, "--out", str(tmp_path / "one"), "--micro-batch-size", "4")
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if sys.platform == "darwin":  # gloo binds to the address of the host's name, which macOS runners cannot resolve
        env.setdefault("GLOO_SOCKET_IFNAME", "lo0")  # the loopback carries a one-machine run anyway
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m",
         "course_utils.capstone", *common, "--out", str(tmp_path / "two")],
        capture_output=True, text=True, cwd=ROOT, timeout=300, env=env,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    r1 = json.loads((tmp_path / "one" / "results.json").read_text(encoding="utf-8"))["pretrain"]
    r2 = json.loads((tmp_path / "two" / "results.json").read_text(encoding="utf-8"))["pretrain"]
    assert r2["steps"] == 6 and r2["processes"] == 2
    ckpt = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    history = ckpt.extra["train_state"]["history"]
    assert history["eval_loss"][-1] < history["eval_loss"][0] - 0.1  # training progressed
    assert r2["val_loss"] == pytest.approx(r1["val_loss"], abs=1e-4)  # same global batch, same updates
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt").model.state_dict()
    b = ckpt.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert two.stdout.count("pre-trained 6 steps") == 1  # only rank 0 reports (and writes)
    # Throughput per process: each process trained on 4 of the 8 windows per step (32 tokens each) ...
    assert r2["tokens_seen"] == 6 * 4 * 32 and r1["tokens_seen"] == 6 * 8 * 32
    # ... and MFU is that process's tokens/s over one device's peak, not the sum over processes.
    assert r2["mfu"] == pytest.approx(r2["tokens_per_s"] * model_flops_per_token(ckpt.model) / 1e12, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# Widget and exercises
# ---------------------------------------------------------------------------------------------


def test_compute_label_curves():
    from course_utils.widgets.capstone import compute_label_curves, reference_rows

    data = compute_label_curves(fake_rows())
    assert data["labels"] == [32] and data["at"] == 32
    assert data["methods"] == ["scratch", "linear_probe", "full"]
    assert data["at_mean"] == pytest.approx([0.5, 0.9, 0.8])
    assert data["gap"]["linear_probe"] == pytest.approx(0.4)
    assert len(data["seeds"]["full"]) == 3
    ref = compute_label_curves(reference_rows(), 64)
    assert ref["labels"] == [16, 32, 64, 128] and ref["at"] == 64 and "static" in ref["methods"]
    assert ref["gap"]["adapter"] > 0.3 and abs(ref["gap"]["static"]) < 0.06  # coherence: static at chance
    with pytest.raises(ValueError, match="labels"):
        compute_label_curves(fake_rows(), 64)
    with pytest.raises(ValueError, match="rows"):
        compute_label_curves([])


def test_label_explorer_controls_change_the_figure():
    from course_utils.widgets.capstone import make_label_explorer
    from course_utils.widgets.explorer import alternative_values

    explorer = make_label_explorer()
    for key, control in explorer.controls.items():
        for value in alternative_values(control, 2):
            before = explorer.png
            control.value = value
            assert explorer.png != before, f"{key}={value!r} did not change the figure"
    explorer.set(method="scratch", labels=32)
    assert "scratch" in explorer.caption.value and "0.486" in explorer.caption.value


def test_label_explorer_of_several_tasks_shows_the_one_asked_for():
    from course_utils.widgets.capstone import make_label_explorer, reference_rows

    rows = reference_rows() + [{**r, "task": "sentiment", "test_accuracy": 1.0} for r in reference_rows()]
    with pytest.raises(ValueError, match="several tasks"):
        make_label_explorer(rows)
    explorer = make_label_explorer(rows, task="sentiment")
    explorer.set(method="adapter", labels=32)
    assert "1.000" in explorer.caption.value
