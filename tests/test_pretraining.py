"""Tests for notebook 08's pre-training (`pretrain` over the one loop), checkpoints, fine-tuning."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.checkpointing import load_checkpoint, save_checkpoint
from course_utils.finetuning import METHODS, FinetuneResult, finetune_classifier
from course_utils.layers import base_weight_changes
from course_utils.lm_training import PretrainConfig, evaluate_lm, lr_at
from course_utils.models import GPTConfig, TinyGPT
from course_utils.pretraining import load_pretrained, nearest_words, pretrain, world_config
from course_utils.repro import single_thread
from course_utils.text import (
    ANIMALS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    CausalLMDataset,
    CharTokenizer,
    ClassificationTask,
    MaskedLMDataset,
    WordTokenizer,
    load_text_file,
    make_corpus,
    make_sentiment_task,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on one thread: on a busy machine two threads made these loops several times slower."""
    with single_thread():
        yield


@pytest.fixture(scope="module")
def tok() -> WordTokenizer:
    return WordTokenizer.from_world()


@pytest.fixture(scope="module")
def tokens(tok) -> torch.Tensor:
    return torch.tensor(tok.encode(make_corpus(20_000, seed=0)))


@pytest.fixture(scope="module")
def task():
    return make_sentiment_task(n_train=32, n_test=100, seed=0)


def small_model(tok, **overrides) -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(world_config(tok, block_size=24, n_layer=1, n_embd=32, n_head=2, **overrides))


# --- learning-rate schedule -----------------------------------------------------------------


def test_lr_schedule_warmup_cosine_constant():
    assert lr_at(0, 1.0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_at(9, 1.0, 100, warmup=10) == pytest.approx(1.0)
    assert lr_at(10, 1.0, 100, warmup=10) == pytest.approx(1.0)
    assert lr_at(55, 1.0, 100, warmup=10, min_lr_ratio=0.0) == pytest.approx(0.5)  # halfway down the cosine
    assert lr_at(100, 1.0, 100, warmup=10, min_lr_ratio=0.1) == pytest.approx(0.1)
    assert lr_at(70, 1.0, 100, warmup=10, schedule="constant") == 1.0
    with pytest.raises(ValueError, match="schedule"):
        PretrainConfig(schedule="linear")


# --- the pre-training loop ------------------------------------------------------------------


def test_pretrain_lowers_the_loss_and_is_deterministic(tok, tokens):
    ds = CausalLMDataset(tokens, 16)
    runs = []
    for _ in range(2):
        model = small_model(tok)
        before = evaluate_lm(model, ds, n_batches=2, batch_size=16)
        seen = []
        history = pretrain(
            model,
            ds,
            steps=40,
            batch_size=16,
            lr=3e-3,
            warmup=5,
            eval_dataset=ds,
            eval_every=20,
            eval_batches=2,
            progress=False,
            on_step=lambda step, m, h, seen=seen: seen.append(step),
        )
        runs.append((model, history))
        assert history.eval_step == [0, 20, 40] and seen == [0, 10, 20, 30, 40]  # step 0 and the log points
        assert history.step == list(range(1, 41))
        assert history.eval_loss[-1] < before - 0.5
        assert history.tokens_seen == 40 * 16 * 16 and len(history.lr) == 40
    (m1, h1), (m2, h2) = runs
    assert h1.loss == h2.loss
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_resume_after_a_kill_matches_an_uninterrupted_run(tok, tokens, tmp_path):
    ds = CausalLMDataset(tokens, 16)
    settings = dict(steps=20, batch_size=8, lr=3e-3, warmup=3, seed=5, progress=False, checkpoint_every=4)
    straight = small_model(tok)
    whole = pretrain(straight, ds, eval_dataset=ds, eval_every=5, **settings)

    class Killed(Exception):
        pass

    def die_at_step_15(step, model, history):  # a log point (an evaluation) after the step-12 checkpoint
        if step == 15:
            raise Killed

    with pytest.raises(Killed):
        pretrain(
            small_model(tok), ds, eval_dataset=ds, eval_every=5, out_dir=tmp_path, on_step=die_at_step_15, **settings
        )
    assert load_checkpoint(tmp_path / "checkpoint.pt").step == 12
    fresh = small_model(tok)  # its weights come from the checkpoint, not from this init
    with torch.no_grad():
        fresh.transformer.wte.weight.zero_()
    history = pretrain(fresh, ds, eval_dataset=ds, eval_every=5, out_dir=tmp_path, resume=True, **settings)
    assert history.step == list(range(1, 21)) and history.loss == whole.loss and history.eval_loss == whole.eval_loss
    for (k, a), b in zip(straight.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_pretrain_masked_lm(tok, tokens):
    model = small_model(tok, causal=False)
    ds = MaskedLMDataset(tokens, 16, tok, seed=0)
    history = pretrain(model, ds, steps=30, batch_size=16, lr=3e-3, warmup=0, progress=False)
    assert history.loss[-1] < history.loss[0]


def test_character_level_pretraining_on_a_users_file(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("the owl and the pussy-cat went to sea in a beautiful pea-green boat.\n" * 40, encoding="utf-8")
    char_tok = CharTokenizer.from_file(path, block_size=24)
    ds = CausalLMDataset(char_tok.encode(load_text_file(path, block_size=24)), 24)
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=char_tok.vocab_size, block_size=24, n_layer=1, n_head=2, n_embd=32))
    history = pretrain(model, ds, steps=60, batch_size=16, lr=1e-2, warmup=5, progress=False)
    assert history.loss[-1] < 0.5 * history.loss[0]
    prompt = torch.tensor([char_tok.encode("the owl")])
    text = char_tok.decode(model.generate(prompt, 10, top_k=1)[0])
    assert text.startswith("the owl") and len(text) == 17


def test_pretrain_stops_on_non_finite_loss(tok, tokens):
    model = small_model(tok)
    with torch.no_grad():
        model.transformer.wpe.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="lr"):
        pretrain(model, CausalLMDataset(tokens, 16), steps=5, progress=False)


def test_pretrain_bad_input(tok, tokens):
    model = small_model(tok)
    ds = CausalLMDataset(tokens, 16)
    with pytest.raises(ValueError, match="steps"):
        pretrain(model, ds, steps=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        pretrain(model, ds, steps=1, lr=0, progress=False)
    with pytest.raises(ValueError, match="schedule"):
        pretrain(model, ds, steps=1, schedule="step", progress=False)
    with pytest.raises(ValueError, match="out_dir"):
        pretrain(model, ds, steps=5, resume=True, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        pretrain(model, ds, steps=5, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="bidirectional"):
        pretrain(model, MaskedLMDataset(tokens, 16, tok), steps=1, progress=False)
    with pytest.raises(ValueError, match="causal"):
        pretrain(small_model(tok, causal=False), ds, steps=1, progress=False)
    with pytest.raises(TypeError, match="TinyGPT"):
        pretrain(torch.nn.Linear(2, 2), ds, steps=1, progress=False)


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip(tok, tmp_path):
    model = small_model(tok, n_classes=2)
    path = save_checkpoint(
        tmp_path / "sub" / "ck.pt", model, step=7, extra={"tokenizer": tok.to_dict(), "loss": [1.0, 0.5], "note": "hi"}
    )
    ck = load_checkpoint(path, expected_config=model.config)
    assert ck.step == 7 and ck.config == model.config and ck.extra["note"] == "hi"
    assert ck.extra["tokenizer"]["vocab"] == tok.vocab
    assert ck.model.lm_head.weight is ck.model.transformer.wte.weight  # still tied after loading
    idx = torch.randint(1, tok.vocab_size, (2, 10))
    model.eval()
    torch.testing.assert_close(ck.model(idx)[0], model(idx)[0], rtol=0, atol=0)
    torch.testing.assert_close(ck.model.classify(idx), model.classify(idx), rtol=0, atol=0)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_half_precision_checkpoint_is_smaller_and_close(tok, tmp_path):
    model = small_model(tok)
    full = save_checkpoint(tmp_path / "full.pt", model)
    half = save_checkpoint(tmp_path / "half.pt", model, dtype=torch.float16)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    loaded = load_checkpoint(half).model
    assert loaded.transformer.wte.weight.dtype == torch.float32
    idx = torch.randint(1, tok.vocab_size, (2, 10))
    torch.testing.assert_close(loaded(idx)[0], model.eval()(idx)[0], rtol=1e-2, atol=1e-2)


def test_config_mismatch_names_the_field(tok, tmp_path):
    model = small_model(tok)
    path = save_checkpoint(tmp_path / "ck.pt", model)
    other = GPTConfig(**{**model.config.to_dict(), "n_embd": 64})
    with pytest.raises(ValueError, match=r"n_embd is 32 in the checkpoint but 64 expected"):
        load_checkpoint(path, expected_config=other)
    with pytest.raises(ValueError, match="causal"):
        load_checkpoint(path, expected_config=GPTConfig(**{**model.config.to_dict(), "causal": False}))


def test_corrupt_or_foreign_files_are_refused(tok, tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", small_model(tok))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path in (truncated, garbage):
        with pytest.raises(ValueError, match="not a readable checkpoint"):
            load_checkpoint(path)
    with pytest.raises(ValueError, match="not a course_utils"):
        load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_save_leaves_the_old_file_untouched(tok, tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pt", small_model(tok), step=1)
    original = path.read_bytes()

    class NotPlainData:
        pass

    with pytest.raises(TypeError, match=r"extra\['bad'\] is a NotPlainData"):
        save_checkpoint(path, small_model(tok), step=2, extra={"bad": NotPlainData()})
    assert path.read_bytes() == original

    def crash(*args, **kwargs):  # a kill in the middle of writing
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, small_model(tok), step=3)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary files left
    assert load_checkpoint(path).step == 1


def test_save_checkpoint_bad_input(tok, tmp_path):
    model = small_model(tok)
    with pytest.raises(TypeError, match="model"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="step"):
        save_checkpoint(tmp_path / "x.pt", model, step=-1)
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(tmp_path / "x.pt", model, extra=[1, 2])
    with pytest.raises(ValueError, match="dtype"):
        save_checkpoint(tmp_path / "x.pt", model, dtype=torch.int8)
    assert not list(tmp_path.iterdir())


# --- fine-tuning ----------------------------------------------------------------------------


def test_finetune_methods_train_the_right_parameters(tok, task):
    model = small_model(tok)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = 32 * 2 + 2
    expected_trainable = {
        "linear_probe": head,
        "adapter": head + 2 * (32 * 4 + 4 + 4 * 32 + 32),  # one block, two adapters of bottleneck 4
        "lora": head + (2 * 32 + 96 * 2) + (2 * 32 + 32 * 2),  # rank 2 on c_attn and attn.c_proj
    }
    for method in METHODS:
        result = finetune_classifier(
            model, task, method, n_labels=8, seed=0, tokenizer=tok, steps=3, bottleneck=4, rank=2
        )
        assert isinstance(result, FinetuneResult) and result.method == method and result.n_labels == 8
        assert 0.0 <= result.test_accuracy <= 1.0 and 0.0 <= result.test_seen_accuracy <= 1.0
        assert len(result.losses) == 3
        if method in expected_trainable:
            assert result.trainable_params == expected_trainable[method], method
        else:
            assert result.trainable_params == result.total_params
        changes = base_weight_changes(model, result.model)
        if method in ("linear_probe", "adapter", "lora"):  # the pre-trained weights provably unchanged
            assert max(changes.values()) == 0.0, method
        elif method == "full":
            assert max(changes.values()) > 0.0
    for k, v in model.state_dict().items():  # the model passed in is never changed
        assert torch.equal(v, before[k]), k


def test_finetune_scratch_needs_only_a_config_and_is_seeded(tok, task):
    config = small_model(tok).config
    a = finetune_classifier(None, task, "scratch", config=config, n_labels=8, seed=1, tokenizer=tok, steps=5)
    b = finetune_classifier(None, task, "scratch", config=config, n_labels=8, seed=1, tokenizer=tok, steps=5)
    assert a.losses == b.losses and a.test_accuracy == b.test_accuracy


def test_finetune_bad_input(tok, task):
    model = small_model(tok)
    with pytest.raises(ValueError, match="method"):
        finetune_classifier(model, task, "prompting", tokenizer=tok)
    with pytest.raises(ValueError, match="pre-trained model"):
        finetune_classifier(None, task, "linear_probe", tokenizer=tok)
    with pytest.raises(ValueError, match="n_labels"):
        finetune_classifier(model, task, "linear_probe", n_labels=0, tokenizer=tok)
    with pytest.raises(ValueError, match="steps"):
        finetune_classifier(model, task, "linear_probe", steps=0, tokenizer=tok)
    with pytest.raises(ValueError, match="vocab_size"):
        finetune_classifier(model, task, "linear_probe", tokenizer=WordTokenizer.from_text("a b c"))
    with pytest.raises(TypeError, match="ClassificationTask"):
        finetune_classifier(model, ["text"], "linear_probe", tokenizer=tok)


def test_finetune_accepts_any_classification_task(tok, task):
    """A task without seen-word test examples (the base ClassificationTask) works; that accuracy is None."""
    plain = ClassificationTask(
        task.train_texts, task.train_labels, task.val_texts, task.val_labels, task.test_texts, task.test_labels
    )
    result = finetune_classifier(small_model(tok), plain, "linear_probe", n_labels=8, tokenizer=tok, steps=3)
    assert result.test_seen_accuracy is None and 0.0 <= result.test_accuracy <= 1.0
    with_seen = finetune_classifier(small_model(tok), task, "linear_probe", n_labels=8, tokenizer=tok, steps=3)
    assert with_seen.test_accuracy == result.test_accuracy and with_seen.test_seen_accuracy is not None


def test_central_claim_on_the_shipped_checkpoint():
    """Pre-trained features transfer to feeling words the labelled examples never show; scratch cannot."""
    model, tokenizer, _ = load_pretrained()
    task = make_sentiment_task(n_train=32, n_test=200, seed=0)
    probe = [
        finetune_classifier(model, task, "linear_probe", seed=s, tokenizer=tokenizer).test_accuracy for s in range(2)
    ]
    scratch = [
        finetune_classifier(model, task, "scratch", seed=s, tokenizer=tokenizer, steps=60).test_accuracy
        for s in range(2)
    ]
    assert min(probe) > 0.9
    assert math.fsum(scratch) / 2 < 0.65  # near chance: the unseen words' embeddings were never trained
    assert math.fsum(probe) / 2 - math.fsum(scratch) / 2 >= 0.2


def test_pretrained_embeddings_group_words_that_behave_alike():
    model, tokenizer, _ = load_pretrained()
    for word, family in (("joyful", POSITIVE_WORDS), ("miserable", NEGATIVE_WORDS), ("dog", ANIMALS)):
        neighbours = [w for w, _ in nearest_words(model, tokenizer, word, k=5)]
        assert set(neighbours) <= set(family), (word, neighbours)
    with pytest.raises(ValueError, match="vocabulary"):
        nearest_words(model, tokenizer, "dragon")
