"""Tests for course_utils.capstone: presets, the command line's contract, resume, faults, data parallelism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import capstone
from course_utils.capstone import (
    CapstoneConfig,
    benchmark_throughput,
    dist_from_env,
    flops_per_token,
    gap_over_scratch,
    is_out_of_memory,
    main,
    mfu,
    model_flops_per_token,
    parameter_table,
    run_pretraining,
    run_with_oom_retry,
    summarize,
)
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.pretraining import METHODS, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
# Tiny runs: a small corpus, a few steps (a few seconds each on one thread).
TINY = dict(
    n_chars=20_000, max_steps=8, batch_size=8, eval_every=4, eval_batches=2, checkpoint_every=4, sample_tokens=4
)


def tiny_config(**overrides) -> CapstoneConfig:
    return CapstoneConfig.for_device("cpu", **{**TINY, **overrides})


# A pre-training run small enough for a test, on the CPU also where a GPU is present (the checks are the CPU's)
TINY_CPU_RUN = ("--preset", "cpu", "--device", "cpu", "--n-chars", "20000", "--max-steps", "6", "--batch-size", "8",
                "--quiet")


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
    assert 32 in config.labels and config.seeds >= 3 and set(config.methods) == set(METHODS)
    assert not config.amp and not config.compile and "no GPU" in config.reason
    tuned = CapstoneConfig.for_device("cpu", max_steps=7, labels=(4, 32))
    assert (tuned.max_steps, tuned.labels, tuned.n_embd) == (7, (4, 32), config.n_embd)


def test_gpu_presets_are_larger_and_use_gpu_features():
    cpu = CapstoneConfig.for_device("cpu")
    cuda = CapstoneConfig.for_device("cpu", preset="cuda")  # the values, without needing a GPU
    mps = CapstoneConfig.for_device("cpu", preset="mps")
    assert cuda.preset == "cuda" and "explicitly" in cuda.reason
    assert cuda.amp and cuda.compile and cuda.tf32
    assert cuda.n_embd * cuda.n_layer > mps.n_embd * mps.n_layer > cpu.n_embd * cpu.n_layer
    assert cuda.batch_size > cpu.batch_size and cuda.n_chars > cpu.n_chars
    assert max(cuda.labels) == 512


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="batch_size"):
        CapstoneConfig(batch_size=0)
    with pytest.raises(ValueError, match="preset"):
        CapstoneConfig(preset="tpu")
    with pytest.raises(ValueError, match="labels"):
        CapstoneConfig(labels=(1,))
    with pytest.raises(ValueError, match="methods"):
        CapstoneConfig(methods=("prompting",))
    with pytest.raises(ValueError, match="n_head"):
        CapstoneConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="unknown field"):
        CapstoneConfig.for_device("cpu", n_layers=3)
    with pytest.raises(ValueError, match="preset"):
        CapstoneConfig.for_device("cpu", preset="gpu")


def test_dist_from_env():
    assert dist_from_env({}) == capstone.DistInfo(0, 1, 0)
    info = dist_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert info.enabled and not info.is_main
    with pytest.raises(ValueError, match="RANK"):
        dist_from_env({"RANK": "2", "WORLD_SIZE": "2"})


# ---------------------------------------------------------------------------------------------
# FLOPs and MFU
# ---------------------------------------------------------------------------------------------


def test_flops_per_token_counts_the_models_parameters():
    config = GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=8)
    model = TinyGPT(config)
    n = sum(p.numel() for p in model.parameters()) - 16 * 8  # position embedding excluded
    assert model_flops_per_token(model) == 6 * n + 12 * 3 * 8 * 16
    assert flops_per_token(1000, 2, 4, 8) == 6000 + 12 * 2 * 4 * 8


def test_mfu_formula_and_unknown_peak():
    assert mfu(1e6, 6e9, 989e12) == pytest.approx(1e6 * 6e9 / 989e12)
    assert mfu(1e6, 6e9, None) is None
    assert capstone.peak_flops("cpu") is None
    with pytest.raises(ValueError, match="flops_token"):
        mfu(1.0, 0.0, 1e12)
    with pytest.raises(ValueError, match="n_layer"):
        flops_per_token(10, 0, 4, 8)


def test_h100_is_in_the_peak_table():
    table = dict(capstone.PEAK_FLOPS)
    assert table["H100"] == 989e12
    names = [name for name, _ in capstone.PEAK_FLOPS]
    assert names.index("H100 PCIe") < names.index("H100")  # the specific name must match first


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def test_oom_retry_halves_the_micro_batch():
    tried, messages = [], []

    def step(micro):
        tried.append(micro)
        if micro > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return 1.5

    assert run_with_oom_retry(step, 16, log=messages.append) == (1.5, 4)
    assert tried == [16, 8, 4]
    assert len(messages) == 2 and "micro-batch 8" in messages[0] and "gradient accumulation" in messages[0]


def test_oom_retry_gives_up_at_one_and_passes_other_errors():
    def always_oom(micro):
        raise RuntimeError("CUDA error: out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        run_with_oom_retry(always_oom, 2, log=lambda _m: None)

    def broken(micro):
        raise KeyError("not a memory problem")

    with pytest.raises(KeyError):
        run_with_oom_retry(broken, 8, log=lambda _m: None)
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x")) and not is_out_of_memory(ValueError("x"))


def test_injected_oom_during_pretraining_retries_with_same_result(tmp_path):
    messages = []

    def fault(step, micro):
        if step == 2 and micro > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")

    config = tiny_config(max_steps=4)
    retried = run_pretraining(config, None, progress=False, log=messages.append, fault=fault)
    assert retried.micro_batch_size == 2 and retried.steps == 4
    assert sum("out of memory" in m for m in messages) == 2  # 8 -> 4 -> 2
    # The same update as a run that used micro-batches of 2 from step 2 on: compare with micro 2 throughout
    # for the final steps' loss, up to summation order.
    plain = run_pretraining(tiny_config(max_steps=4, micro_batch_size=2), None, progress=False, log=lambda _m: None)
    for a, b in zip(retried.train_loss, plain.train_loss, strict=True):
        assert a == pytest.approx(b, rel=1e-5)


def test_nan_loss_stops_with_an_explanation(tmp_path, capsys):
    code, _, err = run_main(
        [
            "pretrain",
            "--out",
            str(tmp_path),
            "--n-chars",
            "20000",
            "--max-steps",
            "30",
            "--batch-size",
            "8",
            "--lr",
            "1e30",
            "--quiet",
        ],
        capsys,
    )
    assert code == 1
    assert "training stopped" in err and "learning rate" in err and "Traceback" not in err


def test_nan_raises_floating_point_error_in_the_api():
    with pytest.raises(FloatingPointError, match="learning rate"):
        run_pretraining(tiny_config(lr=1e30, max_steps=30), None, progress=False, log=lambda _m: None)


# ---------------------------------------------------------------------------------------------
# Checkpoints and resume
# ---------------------------------------------------------------------------------------------


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    whole = run_pretraining(tiny_config(), tmp_path / "whole", progress=False, log=lambda _m: None)

    def kill_at_step_6(step, micro):  # dies after the step-4 checkpoint, as a killed process would
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pretraining(tiny_config(), tmp_path / "split", progress=False, log=lambda _m: None, fault=kill_at_step_6)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt").step == 4
    resumed = run_pretraining(tiny_config(), tmp_path / "split", resume=True, progress=False, log=lambda _m: None)
    assert resumed.val_loss == whole.val_loss
    assert resumed.train_loss == whole.train_loss  # the history of steps 1..8, the first four from the checkpoint
    a, b = weights(whole.model), weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt").step == 8


def test_checkpoints_load_with_weights_only(tmp_path):
    run_pretraining(tiny_config(max_steps=4), tmp_path, progress=False, log=lambda _m: None)
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert payload["step"] == 4 and "optimizer" in payload["extra"]["train_state"]
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_resume_refuses_other_settings_and_other_shapes(tmp_path):
    run_pretraining(tiny_config(max_steps=4), tmp_path, progress=False, log=lambda _m: None)
    with pytest.raises(ValueError, match="lr"):
        run_pretraining(tiny_config(max_steps=8, lr=1e-3), tmp_path, resume=True, progress=False, log=lambda _m: None)
    with pytest.raises(ValueError, match="n_embd"):
        run_pretraining(tiny_config(max_steps=8, n_embd=32), tmp_path, resume=True, progress=False, log=lambda _m: None)


def test_resume_refuses_a_corrupt_checkpoint(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00not a checkpoint" * 10)
    code, _, err = run_main(
        ["pretrain", "--out", str(tmp_path), "--n-chars", "20000", "--max-steps", "4", "--resume", "--quiet"], capsys
    )
    assert code == 2 and "not a readable checkpoint" in err and "Traceback" not in err
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"\x00not a checkpoint" * 10


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def check_schema(results: dict, methods=METHODS) -> None:
    assert {"device", "preset", "pretrain", "finetune", "wall_s"} <= set(results)
    assert {"tokens_per_s", "val_loss", "steps"} <= set(results["pretrain"])
    for row in results["finetune"]:
        assert row["method"] in methods
        assert isinstance(row["labels"], int) and isinstance(row["seed"], int)
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert isinstance(row["trainable_params"], int) and row["trainable_params"] > 0
    assert results["wall_s"] > 0


def test_all_writes_results_json(tmp_path):
    done = run_cli(
        "all",
        "--out",
        str(tmp_path),
        *TINY_CPU_RUN,
        "--labels",
        "4,8",
        "--seeds",
        "1",
        "--finetune-steps",
        "3",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    check_schema(results)
    assert results["device"] == "cpu" and results["preset"] == "cpu"
    assert results["pretrain"]["steps"] == 6 and results["pretrain"]["tokens_per_s"] > 0
    assert {(r["method"], r["labels"]) for r in results["finetune"]} == {(m, n) for m in METHODS for n in (4, 8)}
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "accuracy_vs_labels.png").is_file()
    assert "MFU unknown" in done.stdout and "sample:" in done.stdout


def test_finetune_uses_the_shipped_checkpoint_and_updates_results(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"pretrain": {"tokens_per_s": 1.0, "val_loss": 2.0, "steps": 3}}))
    code, out, _ = run_main(
        ["finetune", "--out", str(tmp_path), "--labels", "4", "--seeds", "1", "--finetune-steps", "2", "--quiet"],
        capsys,
    )
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    check_schema(results)
    assert results["pretrain"]["steps"] == 3  # kept from before: finetune updates, never drops
    assert results["finetune_checkpoint"] == "tinygpt_world.pt" and "trainable parameters" in out
    assert len(results["finetune"]) == len(METHODS)


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (["pretrain", "--batch-size", "0"], "--batch-size"),
        (["pretrain", "--max-steps", "-3"], "--max-steps"),
        (["pretrain", "--corpus", "no_such_file.txt"], "--corpus"),
        (["finetune", "--labels", "32,x"], "--labels"),
        (["finetune", "--checkpoint", "CORRUPT"], "--checkpoint"),
        (["finetune", "--checkpoint", "MISSING.pt"], "--checkpoint"),
        (["pretrain", "--resume"], "--resume"),
        (["pretrain", "--seed", "-1"], "--seed"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_touch_nothing(tmp_path, capsys, args, argument):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.json").write_text('{"sentinel": true}')
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(os.urandom(256))
    args = [str(corrupt) if a == "CORRUPT" else str(tmp_path / a) if a == "MISSING.pt" else a for a in args]
    code, out, err = run_main([args[0], "--out", str(run_dir), *args[1:]], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and argument in lines[0] and "Traceback" not in err, err
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.json"]
    assert (run_dir / "results.json").read_text() == '{"sentinel": true}'


def test_bad_argument_in_a_real_process_exits_2(tmp_path):
    done = run_cli("pretrain", "--out", str(tmp_path), "--batch-size", "0")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--batch-size" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_help_lists_the_subcommands():
    done = run_cli("--help")
    assert done.returncode == 0
    assert all(word in done.stdout for word in ("pretrain", "finetune", "all"))


def test_user_corpus_is_character_level(tmp_path, capsys):
    corpus = tmp_path / "mine.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    code, out, err = run_main(
        [
            "pretrain",
            "--out",
            str(tmp_path / "run"),
            "--corpus",
            str(corpus),
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt.extra["tokenizer"]["kind"] == "char" and ckpt.config.block_size == 64


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
        capstone.load_for_finetuning(tmp_path / "bare.pt")


# ---------------------------------------------------------------------------------------------
# Two processes (gloo)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    common = ["pretrain", *TINY_CPU_RUN]
    one = run_cli(*common, "--out", str(tmp_path / "one"), "--micro-batch-size", "4")
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            "course_utils.capstone",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert two.returncode == 0, two.stderr[-2000:]
    r1 = json.loads((tmp_path / "one" / "results.json").read_text())["pretrain"]
    r2 = json.loads((tmp_path / "two" / "results.json").read_text())["pretrain"]
    assert r2["steps"] == 6
    state = load_checkpoint(tmp_path / "two" / "checkpoint.pt").extra["train_state"]
    assert state["eval_loss"][-1] < state["eval_loss"][0] - 0.1  # training progressed
    assert r2["val_loss"] == pytest.approx(r1["val_loss"], abs=1e-4)  # same global batch, same updates
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt").model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert two.stdout.count("pre-trained 6 steps") == 1  # only rank 0 reports (and writes)


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
    ref = compute_label_curves(reference_rows(), 8)
    assert ref["labels"] == [8, 32, 128] and ref["at"] == 8
    assert min(ref["gap"][m] for m in ("linear_probe", "adapter", "lora", "full")) > 0.2
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
            before = explorer.image.value
            control.value = value
            assert explorer.image.value != before, f"{key}={value!r} did not change the figure"
    explorer.set(method="scratch", labels=32)
    assert "scratch" in explorer.caption.value and "0.491" in explorer.caption.value


def reference_answers():
    from course_utils.exercises.capstone import reference_accumulation_plan, reference_mfu

    return reference_mfu, reference_accumulation_plan


def test_check_mfu():
    from course_utils.exercises.capstone import check_mfu

    good, _ = reference_answers()
    assert check_mfu(good).passed
    percent = check_mfu(lambda *a: 100 * good(*a))
    assert not percent.passed and "expected" in str(percent)
    no_attention = check_mfu(lambda t, n, layer, c, block, peak: t * 6 * n / peak)
    assert not no_attention.passed

    def stub(*args):
        raise NotImplementedError()

    assert check_mfu(stub).status == "not attempted"
    assert "ZeroDivisionError" in str(check_mfu(lambda *a: 1 / 0))


def test_check_accumulation_plan():
    from course_utils.exercises.capstone import check_accumulation_plan

    _, good = reference_answers()
    assert check_accumulation_plan(good).passed
    assert good(48, 2, 10) == (24, 3) and good(256, 8, 64) == (32, 1)
    floor_division = check_accumulation_plan(lambda g, w, m: (g // w, (g // w) // m))
    assert not floor_division.passed

    def stub(*args):
        raise NotImplementedError()

    assert check_accumulation_plan(stub).status == "not attempted"
    assert not check_accumulation_plan(lambda g, w, m: None).passed
