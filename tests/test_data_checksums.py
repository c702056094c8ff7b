"""data/README.md lists every data set with its SHA-256; the files and the generators must match it."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.pretraining import FINAL_CHECKPOINT, SNAPSHOT_STEPS, list_snapshots, load_checkpoint, world_config
from course_utils.text import NEGATIVE_WORDS, POSITIVE_WORDS, WordTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from make_checkpoints import HAND_WRITTEN, corpus_digest, task_digest, write_readme  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
README = DATA / "README.md"
ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<origin>.*) \| (?P<size>[^|]+) \| (?:`(?P<sha>[0-9a-f]{64})`|-) \|$")


def readme_rows() -> dict[str, dict]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            rows[m["name"]] = m.groupdict()
    return rows


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_readme_lists_every_file_and_data_set():
    rows = readme_rows()
    files = sorted(p.name for p in DATA.iterdir() if p.name != "README.md")
    assert files, "data/ holds no files: run python tools/make_checkpoints.py"
    missing = [f for f in files if f not in rows]
    assert not missing, f"files in data/ not listed in data/README.md: {missing}"
    for name in ("world-corpus", "sentiment-task", "digits", "toy-2d"):
        assert name in rows, f"data/README.md does not describe {name}"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.pt")))
def test_file_checksum_and_size(name):
    row = readme_rows()[name]
    data = (DATA / name).read_bytes()
    assert int(row["size"]) == len(data), f"{name}: size differs from data/README.md"
    assert sha256(data) == row["sha"], f"{name}: SHA-256 differs from data/README.md (re-run make checkpoints?)"


def test_checkpoints_total_at_most_5_mb():
    assert sum(p.stat().st_size for p in DATA.glob("*.pt")) <= 5_000_000


def test_final_checkpoint_loads_into_tinygpt_with_its_config():
    tokenizer = WordTokenizer.from_world()
    ck = load_checkpoint(DATA / FINAL_CHECKPOINT, expected_config=world_config(tokenizer))
    assert ck.extra["tokenizer"]["vocab"] == tokenizer.vocab
    assert ck.step == ck.extra["recipe"]["steps"]
    history = ck.extra["history"]
    assert history["eval_loss"][-1] < history["eval_loss"][0] - 2  # it did learn
    # it continues a prompt in the world's language: a feeling word comes after "felt"
    prompt = torch.tensor([tokenizer.encode("tom went to the park. he felt")])
    next_word = tokenizer.decode(ck.model.generate(prompt, 1, top_k=1)[0, -1:])
    assert next_word in POSITIVE_WORDS + NEGATIVE_WORDS + ("very",)


def test_snapshots_are_in_step_order_and_load():
    snaps = list_snapshots()
    steps = [s for s, _ in snaps]
    assert steps == sorted(steps) and set(SNAPSHOT_STEPS) <= set(steps)
    for step, path in snaps:
        assert load_checkpoint(path).step == step


def test_generated_data_sets_match_their_checksums():
    rows = readme_rows()
    # the same digests `make checkpoints` wrote into data/README.md, recomputed from the generators now
    assert corpus_digest(n_chars=1_000_000, seed=0)[1] == rows["world-corpus"]["sha"]
    assert task_digest(n_train=256, n_test=400, seed=0)[1] == rows["sentiment-task"]["sha"]


def test_bundled_digits_match_their_checksum():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = bunch.data.astype(np.uint8).tobytes() + bunch.target.astype(np.uint8).tobytes()
    assert sha256(data) == readme_rows()["digits"]["sha"]


def test_make_checkpoints_rewrites_the_generated_page_and_keeps_the_hand_written_sections(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# Data\nstale table\n\n{HAND_WRITTEN}\n\n## Measured by hand\n\nkeep me\n", encoding="utf-8")
    recipe = {"steps": 800, "n_chars": 1_000_000, "seed": 0, "batch_size": 32, "lr": 0.003}
    write_readme(page, [], recipe, [(0, 5.2, 0.5)], [])
    text = page.read_text(encoding="utf-8")
    assert "stale table" not in text and "## Files in data/" in text
    assert text.count(HAND_WRITTEN) == 1 and text.endswith("## Measured by hand\n\nkeep me\n")
