"""Tests for course_utils.baselines: static word-vector baselines on the shipped model's embeddings."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch

from course_utils.baselines import STATIC_METHODS, StaticResult, bag_of_embeddings, fit_static, static_baseline
from course_utils.models import TinyGPT
from course_utils.pretraining import load_pretrained, world_config
from course_utils.text import WordTokenizer, make_coherence_task, make_sentiment_task


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer, _ = load_pretrained()
    return model, tokenizer


def test_bag_of_embeddings_is_the_mean_of_the_token_rows(shipped):
    model, tok = shipped
    texts = ["tom felt happy.", "the dog ran away, so she was sad."]
    x = bag_of_embeddings(texts, model, tok)
    assert x.shape == (2, model.config.n_embd) and x.dtype == torch.float32
    wte = model.transformer.wte.weight.detach()
    torch.testing.assert_close(x[1], wte[tok.encode(texts[1])].mean(0))
    # word order does not matter: it is a bag
    torch.testing.assert_close(bag_of_embeddings(["happy felt tom."], model, tok)[0], x[0])
    # None loads the shipped model and its tokenizer
    torch.testing.assert_close(bag_of_embeddings(texts), x)


def test_static_baselines_solve_sentiment_from_word_similarity(shipped):
    # the test stories use feeling words no labelled example contains: only the embeddings relate them
    model, tok = shipped
    task = make_sentiment_task(seed=0)
    result = static_baseline(task, "logistic", 128, model=model, tokenizer=tok)
    assert isinstance(result, StaticResult) and result.method == "logistic" and result.n_labels == 128
    assert result.test_accuracy >= 0.95
    assert result.extra_accuracy["test_seen"] >= 0.95 and result.val_accuracy >= 0.95
    # the same classifier on an untrained model's embeddings: the unseen words mean nothing to it
    torch.manual_seed(0)
    untrained = TinyGPT(world_config(tok))
    assert abs(static_baseline(task, "logistic", 128, model=untrained, tokenizer=tok).test_accuracy - 0.5) < 0.1


@pytest.mark.parametrize("method", STATIC_METHODS)
def test_static_baselines_stay_at_chance_on_coherence(shipped, method):
    # an XOR of two moods: a bag of word vectors cannot represent it (mean over 3 task seeds)
    model, tok = shipped
    accs = [
        static_baseline(make_coherence_task(seed=s), method, 128, model=model, tokenizer=tok).test_accuracy
        for s in range(3)
    ]
    assert abs(statistics.fmean(accs) - 0.5) < 0.05, accs


def test_fit_static_accepts_arrays_and_tensors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = (x[:, 0] > 0).astype(int)
    for method in STATIC_METHODS:
        for features in (x, torch.tensor(x, dtype=torch.float32), x.tolist()):
            clf = fit_static(features, y.tolist(), method)
            assert (clf.predict(x) == y).mean() > 0.8


def test_bad_input(shipped):
    model, tok = shipped
    task = make_sentiment_task(n_train=8, n_test=10, n_val=10)
    with pytest.raises(TypeError, match="texts"):
        bag_of_embeddings("tom felt happy.", model, tok)
    with pytest.raises(ValueError, match="empty"):
        bag_of_embeddings([], model, tok)
    with pytest.raises(TypeError, match="model"):
        bag_of_embeddings(["a"], torch.nn.Linear(2, 2), tok)
    with pytest.raises(ValueError, match="tokenizer"):
        bag_of_embeddings(["a"], model, None)
    with pytest.raises(ValueError, match="tokenizer"):
        bag_of_embeddings(["a"], model, WordTokenizer(["a", "b"]))
    with pytest.raises(TypeError, match="ClassificationTask"):
        static_baseline({"train_texts": []}, model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="method"):
        static_baseline(task, "svm", 8, model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="n_labels"):
        static_baseline(task, "logistic", 1, model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="n_labels"):
        static_baseline(task, "logistic", 9, model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="C"):
        fit_static(np.zeros((4, 2)), [0, 1, 0, 1], "logistic", C=0)
    with pytest.raises(ValueError, match="two classes"):
        fit_static(np.zeros((4, 2)), [1, 1, 1, 1])
    with pytest.raises(ValueError, match="2-D"):
        fit_static(np.zeros(4), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="one label per row"):
        fit_static(np.zeros((4, 2)), [0, 1, 0])
